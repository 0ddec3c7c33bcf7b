"""The adjoint kernels that train quantum circuits: exact values and gradients, when they are used, bad input."""
import numpy as np
import pytest
import torch

from qrnn import QGRU, QLSTM, QRNN, VQC, TrainedRegressor, init_weights, load
from qrnn.backends import GRADIENTS, TorchBackend, backend_from_config, warm_up
from qrnn.backends.torch.adjoint import Program
from tests.conftest import random_inputs


def value_and_grads(backend, vqc, w0, x0):
    w, x = w0.clone().requires_grad_(True), x0.clone().requires_grad_(True)
    group = backend.compile(vqc, w)
    out = group(x)
    coef = torch.linspace(-1.0, 1.3, out.numel(), dtype=out.dtype).reshape(out.shape)
    (out * coef).sum().backward()
    x_grad = x.grad if x.grad is not None else torch.zeros_like(x)
    return type(group).__name__, out.detach(), w.grad, x_grad


@pytest.mark.parametrize("n,layers,n_inputs,correlators", [
    (1, 1, 1, False), (2, 2, 1, False), (3, 1, 3, True), (4, 2, 4, False), (4, 3, 2, True),
    (5, 2, 0, False), (7, 2, 7, True)])
def test_values_and_gradients_match_autograd_through_every_form(n, layers, n_inputs, correlators, rng):
    vqc = VQC(n, layers, n_inputs, correlators=correlators)
    w0 = torch.as_tensor(init_weights(3, vqc, "uniform", seed=n + layers))
    x0 = torch.as_tensor(random_inputs(rng, (5, n_inputs)))
    kind, *ours = value_and_grads(TorchBackend(), vqc, w0, x0)
    assert kind == "_Adjoint"
    for method in ("heisenberg", "unitary", "gates"):
        kind, *ref = value_and_grads(TorchBackend(method, gradient="autograd"), vqc, w0, x0)
        assert kind != "_Adjoint"
        for a, b, what in zip(ours, ref, ("values", "weight gradients", "input gradients")):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-12, err_msg=f"{what} vs {method}")
        assert ref[1].abs().max() > 1e-3


def test_gradients_match_central_finite_differences(rng):
    vqc = VQC(4, 2, correlators=True)
    w0 = torch.as_tensor(init_weights(2, vqc, "uniform", seed=3))
    x0 = torch.as_tensor(random_inputs(rng, (4, 4)))
    be = TorchBackend(gradient="adjoint")
    _, _, gw, gx = value_and_grads(be, vqc, w0, x0)

    def f(w, x):
        with torch.no_grad():
            out = be.compile(vqc, w)(x)
        return float((out * torch.linspace(-1.0, 1.3, out.numel(), dtype=out.dtype).reshape(out.shape)).sum())

    h = 1e-6
    for idx in [(0, 0, 0, 0), (1, 1, 3, 2), (0, 1, 2, 1), (1, 0, 1, 1)]:
        wp, wm = w0.clone(), w0.clone()
        wp[idx] += h
        wm[idx] -= h
        assert abs((f(wp, x0) - f(wm, x0)) / (2 * h) - float(gw[idx])) < 1e-7
    for idx in [(0, 0), (3, 2)]:
        xp, xm = x0.clone(), x0.clone()
        xp[idx] += h
        xm[idx] -= h
        assert abs((f(w0, xp) - f(w0, xm)) / (2 * h) - float(gx[idx])) < 1e-7


def test_program_fuses_one_wire_runs_and_cnot_rings():
    prog = Program(VQC(4, 2))
    # 4 encoding blocks, then per layer one permutation (both rings) and 4 Rot blocks
    assert prog.kinds.tolist() == [0] * 4 + ([1] + [0] * 4) * 2
    assert prog.first == 5  # the encoding and first CNOT rings are shared by every circuit of a group
    # a Rot block: RZ(a), RY(b), RZ(c) of weights 3q .. 3q+2
    assert prog.sub[5].tolist() == [[3, 2, 0], [2, 2, 1], [3, 2, 2]]
    # the CNOT rings' index map and its inverse, read from their row and column tables
    i = np.arange(16, dtype=np.uint64)
    mask = np.uint64(2**prog.l - 1)

    def f(t_lo, t_hi, x):
        return t_hi[x >> np.uint64(prog.l)] ^ t_lo[x & mask]

    assert sorted(f(prog.tlo[0], prog.thi[0], i).tolist()) == list(range(16))
    assert (f(prog.ilo[0], prog.ihi[0], f(prog.tlo[0], prog.thi[0], i)) == i).all()


def test_chunked_batches_give_the_same_values_and_gradients(rng):
    vqc = VQC(4, 2)
    w0 = torch.as_tensor(init_weights(2, vqc, "uniform", seed=1))
    x0 = torch.as_tensor(random_inputs(rng, (9, 4)))
    whole = value_and_grads(TorchBackend(), vqc, w0, x0)
    group = TorchBackend().compile(vqc, w0.clone().requires_grad_(True))
    budget = group._sample_bytes() * 2  # two samples per chunk
    assert group._operator_bytes() <= budget
    split = value_and_grads(TorchBackend(chunk_bytes=budget), vqc, w0, x0)
    for a, b in zip(whole[1:], split[1:]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-15)


def test_used_only_where_it_applies():
    vqc = VQC(3, 1)
    w = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    assert type(TorchBackend().compile(vqc, w)).__name__ == "_Heisenberg"  # no gradient wanted
    wg = w.clone().requires_grad_(True)
    with torch.no_grad():
        assert type(TorchBackend().compile(vqc, wg)).__name__ == "_Heisenberg"
    assert type(TorchBackend().compile(vqc, wg)).__name__ == "_Adjoint"
    assert type(TorchBackend(gradient="autograd").compile(vqc, wg)).__name__ == "_Heisenberg"
    w32 = w.float().requires_grad_(True)
    assert type(TorchBackend().compile(vqc, w32)).__name__ == "_Heisenberg"  # auto: float32 -> autograd
    with pytest.raises(ValueError, match=r"gradient='adjoint' cannot run this circuit group: weights on "
                                         r"'cpu' in torch.float32 \(it runs on the CPU in float64\)"):
        TorchBackend(gradient="adjoint").compile(vqc, w32)


def test_bad_gradient_name_and_config_round_trip():
    with pytest.raises(ValueError, match=r"gradient must be one of \['adjoint', 'auto', 'autograd'\], got 'adjoin'"):
        TorchBackend(gradient="adjoin")
    assert GRADIENTS == ("auto", "adjoint", "autograd")
    be = backend_from_config(TorchBackend(gradient="autograd").to_config())
    assert be.gradient == "autograd"
    old = TorchBackend().to_config()
    del old["gradient"]  # a file saved before the option existed
    assert backend_from_config(old).gradient == "auto"


def test_second_derivatives_are_refused_with_a_pointer():
    vqc = VQC(2, 1)
    w = torch.as_tensor(init_weights(1, vqc, "uniform", seed=0)).requires_grad_(True)
    out = TorchBackend().compile(vqc, w)(torch.full((1, 2), 0.3, dtype=torch.float64)).sum()
    with pytest.raises(RuntimeError, match=r"first derivatives only; for higher ones build the circuits with "
                                           r"TorchBackend\(gradient='autograd'\)"):
        torch.autograd.grad(out, w, create_graph=True)
    (g,) = torch.autograd.grad(out, w)
    assert g.abs().max() > 1e-3


@pytest.mark.parametrize("cell", [QRNN, QLSTM, QGRU])
def test_training_is_the_same_with_either_gradient(cell, tmp_path):
    warm_up()
    rng = np.random.default_rng(0)
    X, y = rng.uniform(-1, 1, size=(30, 4, 1)), rng.uniform(-1, 1, size=30)
    fits = [TrainedRegressor(cell(1, 3, seed=2, init="uniform", trainable=True,
                                  backend=TorchBackend(gradient=g)),
                             epochs=3, batch_size=10, random_state=1, progress=False).fit(X, y)
            for g in ("adjoint", "autograd")]
    losses = [[h["train_loss"] for h in f.history_] for f in fits]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-10)
    np.testing.assert_allclose(fits[0].predict(X), fits[1].predict(X), rtol=0, atol=1e-10)
    path = tmp_path / "m.qrnn"
    fits[1].save(path)
    assert load(path).model_._backend.gradient == "autograd"


def test_index_maps_split_into_rows_give_the_same_values_and_gradients(monkeypatch, rng):
    """CNOT and SWAP runs are gathers through row and column tables: any split gives the same numbers,
    here against the autograd path, with SWAPs and correlators."""
    from qrnn.backends.torch import adjoint, fused
    from qrnn.circuit import Ansatz, Weight

    gates = [("RY", q, Weight(q)) for q in range(6)] + [("CNOT", (0, 3)), ("SWAP", (1, 5)), ("CNOT", (5, 2))]
    gates += [("RX", q, Weight(6 + q)) for q in range(6)] + [("SWAP", (0, 4))] + [("RZ", 2, Weight(12))]
    vqc = VQC(6, ansatz=Ansatz(6, gates), n_inputs=3, correlators=True)
    w0 = torch.as_tensor(init_weights(2, vqc, "uniform", seed=8))
    x0 = torch.as_tensor(random_inputs(rng, (4, 3)))
    ref = value_and_grads(TorchBackend(gradient="autograd"), vqc, w0, x0)
    for row_bits in (6, 4, 1):
        monkeypatch.setattr(fused, "_split", lambda n, row_bits=row_bits: min(n, row_bits))
        adjoint.program.cache_clear()
        try:
            assert adjoint.program(vqc).l == row_bits
            got = value_and_grads(TorchBackend(gradient="adjoint"), vqc, w0, x0)
        finally:
            adjoint.program.cache_clear()
        assert got[0] == "_Adjoint"
        for a, b in zip(ref[1:], got[1:]):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-12, err_msg=f"row bits {row_bits}")