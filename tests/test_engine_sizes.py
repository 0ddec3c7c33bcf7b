"""Every torch-engine method against PennyLane and against the others at 6, 12, 18 and 20 qubits,
values and gradients (autograd through each form, and the adjoint kernels the fully trained models use),
and values without gradients (where the gates form runs the fused program)."""
import numpy as np
import pytest
import torch

from qrnn import VQC, init_weights
from qrnn.backends import PennyLaneBackend, TorchBackend
from tests.conftest import random_inputs

# the methods whose compiled operator fits at each size (Heisenberg: 4^n coefficients, unitary: 4^n entries)
SIZES = [pytest.param(6, ("heisenberg", "unitary", "gates"), id="6 qubits"),
         # 12 qubits: the dense unitary's autograd build takes about 40 s here
         pytest.param(12, ("unitary", "gates"), id="12 qubits", marks=pytest.mark.slow),
         pytest.param(18, ("gates",), id="18 qubits", marks=pytest.mark.slow),
         pytest.param(20, ("gates",), id="20 qubits", marks=pytest.mark.slow)]


def functional(out: torch.Tensor) -> torch.Tensor:
    """A fixed random-looking linear functional of the outputs, so every output's gradient counts."""
    return (out * torch.arange(1, out.numel() + 1, dtype=out.dtype).reshape(out.shape).cos()).sum()


@pytest.mark.parametrize("n,methods", SIZES)
def test_methods_agree_with_lightning_and_each_other_values_and_gradients(n, methods, rng):
    vqc = VQC(n, 2)
    w0 = torch.as_tensor(init_weights(2, vqc, "uniform", seed=n))
    x0 = torch.as_tensor(random_inputs(rng, (3, n)))
    ref = PennyLaneBackend("lightning.qubit").compile(vqc, w0)(x0).numpy()
    for method in methods:  # frozen: no gradient wanted (the fused program, for gates on the CPU)
        with torch.no_grad():
            out = TorchBackend(method).compile(vqc, w0)(x0).numpy()
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12, err_msg=f"{method}, no gradient")
    grads = {}
    methods = methods + ("adjoint",)  # training's compiled adjoint kernels, beside autograd through each form
    for method in methods:
        w, x = w0.clone().requires_grad_(True), x0.clone().requires_grad_(True)
        be = TorchBackend(gradient="adjoint") if method == "adjoint" else TorchBackend(method, gradient="autograd")
        out = be.compile(vqc, w)(x)
        np.testing.assert_allclose(out.detach().numpy(), ref, rtol=0, atol=1e-10, err_msg=method)
        functional(out).backward()
        grads[method] = (w.grad.clone(), x.grad.clone())
    first = methods[0]
    for method in methods[1:]:
        for a, b in zip(grads[first], grads[method]):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10, err_msg=f"{method} vs {first}")
    # central finite differences on a few weights and inputs, with the cheapest method
    be = TorchBackend(methods[-2])
    h = 1e-5
    picks = [tuple(int(rng.integers(0, s)) for s in w0.shape) for _ in range(3)]
    for idx in picks:
        wp, wm = w0.clone(), w0.clone()
        wp[idx] += h
        wm[idx] -= h
        fd = (functional(be.compile(vqc, wp)(x0)) - functional(be.compile(vqc, wm)(x0))).item() / (2 * h)
        assert abs(fd - grads[first][0][idx].item()) < 1e-6, (idx, fd, grads[first][0][idx].item())
    b, q = int(rng.integers(0, 3)), int(rng.integers(0, n))
    xp, xm = x0.clone(), x0.clone()
    xp[b, q] += h
    xm[b, q] -= h
    g = be.compile(vqc, w0)
    fd = (functional(g(xp)) - functional(g(xm))).item() / (2 * h)
    assert abs(fd - grads[first][1][b, q].item()) < 1e-6
