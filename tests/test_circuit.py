"""The circuit description, the weight draws, and hand-computed small cases."""
import numpy as np
import pytest
import torch

from qrnn import VQC, init_weights
from qrnn.backends import AerBackend, PennyLaneBackend, TorchBackend

ALL_BACKENDS = [
    TorchBackend("heisenberg"), TorchBackend("unitary"), TorchBackend("gates"),
    PennyLaneBackend(), AerBackend(),
]


def run(backend, vqc, weights, x):
    w = torch.as_tensor(weights, dtype=torch.float64)
    return backend.compile(vqc, w)(torch.as_tensor(x, dtype=torch.float64)).numpy()


def test_op_order_matches_spec():
    vqc = VQC(4, n_layers=1)
    gates = list(vqc.gates())
    enc = gates[:12]
    assert [g[0] for g in enc] == ["H"] * 4 + ["RY"] * 4 + ["RZ"] * 4
    assert [g[2] for g in enc[4:8]] == [("x", 0), ("x", 2), ("x", 4), ("x", 6)]
    cnots = [g[1] for g in gates[12:20]]
    assert cnots == [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (1, 3), (2, 0), (3, 1)]
    rot = gates[20:]
    # RZ(a) on all wires, then RY(b), then RZ(c): Rot(a, b, c) = RZ(c) RY(b) RZ(a)
    assert [g[0] for g in rot] == ["RZ"] * 4 + ["RY"] * 4 + ["RZ"] * 4
    assert [g[2][1] for g in rot[:4]] == [0, 3, 6, 9]
    assert [g[2][1] for g in rot[8:]] == [2, 5, 8, 11]


def test_small_rings_skip_self_pairs():
    assert [g[1] for g in VQC(2, 1).gates() if g[0] == "CNOT"] == [(0, 1), (1, 0)]
    assert [g[0] for g in VQC(1, 1).gates()].count("CNOT") == 0


def test_input_angles_numpy_and_torch_agree(rng):
    vqc = VQC(3)
    x = rng.normal(size=(5, 3)) * 4
    a = vqc.input_angles(x)
    np.testing.assert_allclose(a[:, 0::2], np.arctan(x), rtol=0, atol=0)
    np.testing.assert_allclose(a[:, 1::2], np.arctan(x**2), rtol=0, atol=0)
    np.testing.assert_allclose(vqc.input_angles(torch.as_tensor(x)).numpy(), a, rtol=0, atol=1e-15)


def test_init_weights_distributions_and_seeds():
    vqc = VQC(4, 2)
    w = init_weights(2000, vqc, "normal", seed=1)
    assert w.shape == (2000, 2, 4, 3)
    assert abs(w.std() - 0.01) < 2e-4 and abs(w.mean()) < 2e-4
    u = init_weights(2000, vqc, "uniform", seed=1)
    assert u.min() >= 0 and u.max() < 2 * np.pi and abs(u.mean() - np.pi) < 0.02
    np.testing.assert_array_equal(init_weights(3, vqc, "normal", seed=7), init_weights(3, vqc, "normal", seed=7))
    assert not np.array_equal(init_weights(3, vqc, "normal", seed=7), init_weights(3, vqc, "normal", seed=8))


@pytest.mark.parametrize("backend", ALL_BACKENDS, ids=repr)
def test_one_qubit_closed_form(backend, rng):
    # |0> -H-> RY(t) RZ(p) then Rot(a, b, c): <Z> = -cos t cos(p + a) sin b - sin t cos b
    vqc = VQC(1, n_layers=1)
    w = rng.uniform(0, 2 * np.pi, size=(1, 1, 1, 3))
    x = rng.normal(size=(7, 1)) * 3
    t, p = np.arctan(x[:, 0]), np.arctan(x[:, 0] ** 2)
    a, b, _ = w[0, 0, 0]
    expected = -np.cos(t) * np.cos(p + a) * np.sin(b) - np.sin(t) * np.cos(b)
    np.testing.assert_allclose(run(backend, vqc, w, x)[0, :, 0], expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("backend", ALL_BACKENDS, ids=repr)
def test_two_qubit_closed_form(backend, rng):
    # One layer on 2 wires: CNOT(0,1), CNOT(1,0), then RY(b_q) only. In the
    # Heisenberg picture Z0 -> Z1, Z1 -> Z0 Z1, X0 -> X0 X1, X1 -> X0, and the
    # encoded wires have <X> = cos t cos p, <Z> = -sin t.
    vqc = VQC(2, n_layers=1)
    w = np.zeros((1, 1, 2, 3))
    w[0, 0, :, 1] = rng.uniform(0, 2 * np.pi, size=2)
    x = rng.normal(size=(9, 2)) * 3
    t, p = np.arctan(x), np.arctan(x**2)
    ex, ez = np.cos(t) * np.cos(p), -np.sin(t)
    b0, b1 = w[0, 0, 0, 1], w[0, 0, 1, 1]
    z0 = np.cos(b0) * ez[:, 1] - np.sin(b0) * ex[:, 0] * ex[:, 1]
    z1 = np.cos(b1) * ez[:, 0] * ez[:, 1] - np.sin(b1) * ex[:, 0]
    out = run(backend, vqc, w, x)[0]
    np.testing.assert_allclose(out, np.stack([z0, z1], axis=1), rtol=0, atol=1e-12)

