"""Long runs, excluded from the default suite: ``pytest -m slow``.

The fast suite already covers every path here at smaller sizes (the gate-by-
gate engine at 6-8 qubits, the dense forms against it); these check the sizes
the issue names.
"""
import numpy as np
import pytest
import torch

from qrnn import VQC, init_weights
from qrnn.backends import PennyLaneBackend, TorchBackend
from tests.conftest import random_inputs

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("n_qubits", [16, 20])
def test_gate_engine_matches_lightning_at_many_qubits(n_qubits, rng):
    vqc = VQC(n_qubits, 1, n_inputs=4)
    w = torch.as_tensor(init_weights(1, vqc, "uniform", seed=n_qubits))
    x = torch.as_tensor(random_inputs(rng, (2, 4)))
    ours = TorchBackend("gates").compile(vqc, w)(x).numpy()
    ref = PennyLaneBackend("lightning.qubit").compile(vqc, w)(x).numpy()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_all_torch_methods_agree_at_twelve_qubits(rng):
    vqc = VQC(12, 2)
    w = torch.as_tensor(init_weights(2, vqc, "uniform", seed=12))
    x = torch.as_tensor(random_inputs(rng, (4, 12)))
    outs = [TorchBackend(m).compile(vqc, w)(x).numpy() for m in ("unitary", "gates")]
    np.testing.assert_allclose(outs[0], outs[1], rtol=0, atol=1e-10)
