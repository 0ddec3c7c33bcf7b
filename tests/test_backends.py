"""Backends against each other and against the independent reference."""
import numpy as np
import pytest
import torch

import qrnn
from qrnn import VQC, init_weights
from qrnn.backends import BACKENDS, AerBackend, PennyLaneBackend, TorchBackend, get_backend
from tests.conftest import random_inputs
from tests.reference import vqc_expvals

#: Every registered backend that is built by name alone and exact (one of your own is covered once
#: registered), then the torch engine's forms and a second PennyLane device.
EXACT = {
    **{name: (lambda n: lambda: get_backend(n))(name) for name in BACKENDS
       if BACKENDS.entry(name).info["device"] != "required" and get_backend(name).exact},
    "torch-heisenberg": lambda: TorchBackend("heisenberg"),
    "torch-unitary": lambda: TorchBackend("unitary"),
    "torch-gates": lambda: TorchBackend("gates"),
    "pennylane-lightning": lambda: PennyLaneBackend("lightning.qubit"),
}


def evaluate(backend, vqc, w, x):
    return backend.compile(vqc, torch.as_tensor(w))(torch.as_tensor(x)).numpy()


@pytest.mark.parametrize("name", sorted(EXACT))
@pytest.mark.parametrize("n_qubits,n_inputs,n_layers", [(1, 1, 2), (3, 2, 1), (4, 4, 2), (5, 2, 3)])
@pytest.mark.parametrize("init", ["normal", "uniform"])
def test_exact_backends_match_reference(name, n_qubits, n_inputs, n_layers, init, rng):
    vqc = VQC(n_qubits, n_layers, n_inputs)
    w = init_weights(3, vqc, init, seed=int(rng.integers(1000)))
    x = random_inputs(rng, (6, n_inputs))
    out = evaluate(EXACT[name](), vqc, w, x)
    assert out.shape == (3, 6, n_qubits)
    ref = np.stack([[vqc_expvals(v, wk) for v in x] for wk in w])
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)


def test_torch_methods_agree_at_eight_qubits(rng):
    vqc = VQC(8, 2)
    w = init_weights(2, vqc, "uniform", seed=3)
    x = random_inputs(rng, (16, 8))
    outs = [evaluate(TorchBackend(m), vqc, w, x) for m in ("heisenberg", "unitary", "gates")]
    np.testing.assert_allclose(outs[0], outs[2], rtol=0, atol=1e-10)
    np.testing.assert_allclose(outs[1], outs[2], rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["heisenberg", "unitary", "gates"])
def test_batches_above_the_memory_budget_give_the_same_numbers(method, rng):
    vqc = VQC(6, 2)
    w = torch.as_tensor(init_weights(3, vqc, "uniform", seed=4))
    x = torch.as_tensor(random_inputs(rng, (37, 6)))
    whole = TorchBackend(method, chunk_bytes=2**30).compile(vqc, w)(x)
    for per_chunk in (1, 2, 5):
        group = TorchBackend(method, chunk_bytes=2**30).compile(vqc, w)
        group.budget = per_chunk * group._sample_bytes()  # the evaluation's budget: per_chunk samples
        calls = []
        inner = group._columns
        group._columns = lambda v, bounded: calls.append(v.shape[1]) or inner(v, bounded)
        np.testing.assert_allclose(group(x).numpy(), whole.numpy(), rtol=0, atol=1e-14)
        assert calls == [per_chunk] * (37 // per_chunk) + ([37 % per_chunk] if 37 % per_chunk else [])


def test_small_groups_do_not_read_the_free_memory(monkeypatch):
    import qrnn.backends.torch.backend as engine

    monkeypatch.setattr(engine, "free_memory", lambda device: pytest.fail("free memory read"))
    vqc = VQC(4, 2)
    w = torch.as_tensor(init_weights(2, vqc, "uniform", seed=0))
    TorchBackend().compile(vqc, w)(torch.zeros(64, 4, dtype=torch.float64))


def test_memory_budget_errors_name_qubits_budget_and_need():
    from qrnn.backends import MemoryBudgetError, free_memory

    vqc = VQC(12, 1)
    w = torch.as_tensor(init_weights(2, vqc, "uniform", seed=0))
    group = TorchBackend("gates", chunk_bytes=100_000).compile(vqc, w)
    # the fused program (no gradient): two 64 KiB states at the least (one sample at a time), whatever the batch
    with pytest.raises(MemoryBudgetError, match=r"the 'gates' form of 2 circuits on 12 qubits needs "
                                                r"128 KiB for its state vectors, above the "
                                                r"torch engine's memory budget of 97.7 KiB"):
        group(torch.zeros(1, 12, dtype=torch.float64))
    # a budget for two states: it runs, samples in parallel on as many threads as fit
    fits = TorchBackend("gates", chunk_bytes=2 * 16 * 4096).compile(vqc, w)
    np.testing.assert_allclose(fits(torch.zeros(3, 12, dtype=torch.float64)).numpy(),
                               TorchBackend("gates").compile(vqc, w)(torch.zeros(3, 12, dtype=torch.float64)).numpy(),
                               rtol=0, atol=0)
    assert fits.program.choose(6, 8, fits._fits) == ("samples", 1)
    # the torch form (gradients): one sample takes 2 * 8 * 4096 * 7 bytes
    grad = TorchBackend("gates", chunk_bytes=100_000, gradient="autograd").compile(vqc, w.clone().requires_grad_())
    with pytest.raises(MemoryBudgetError, match=r"one sample of 2 circuits on 12 qubits \('gates' form\) "
                                                r"needs 448 KiB, above the torch engine's memory budget of 97.7 KiB"):
        grad(torch.zeros(1, 12, dtype=torch.float64))
    # a dense operator that cannot fit is refused before it is built
    with pytest.raises(MemoryBudgetError, match=r"the 'heisenberg' form of 2 circuits on 12 qubits needs 15 GiB for its operator"):
        TorchBackend("heisenberg", chunk_bytes=2**30).compile(vqc, w)
    # the default budget follows the memory free now
    assert 0 < TorchBackend().memory_budget("cpu") <= free_memory("cpu")
    assert TorchBackend(chunk_bytes=123).memory_budget("cpu") == 123


def test_complex64_close_to_complex128(rng):
    vqc = VQC(4, 2)
    w = init_weights(4, vqc, "uniform", seed=5)
    x = random_inputs(rng, (10, 4))
    for m in ("heisenberg", "unitary", "gates"):
        be = TorchBackend(m)
        lo = be.compile(vqc, torch.as_tensor(w, dtype=torch.float32))(torch.as_tensor(x, dtype=torch.float32))
        assert lo.dtype == torch.float32
        np.testing.assert_allclose(lo.numpy(), evaluate(be, vqc, w, x), rtol=0, atol=2e-5)


@pytest.mark.parametrize("method,gradient", [("heisenberg", "autograd"), ("unitary", "autograd"),
                                             ("gates", "autograd"), ("auto", "adjoint")])
def test_torch_gradients_match_finite_differences(method, gradient, rng):
    vqc = VQC(3, 2)
    w = torch.as_tensor(init_weights(2, vqc, "uniform", seed=6), dtype=torch.float64).requires_grad_()
    x = torch.as_tensor(random_inputs(rng, (4, 3)), dtype=torch.float64).requires_grad_()
    be = TorchBackend(method, gradient=gradient)
    assert torch.autograd.gradcheck(lambda w_, x_: be.compile(vqc, w_)(x_), (w, x), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("correlators", [False, True])
def test_shot_based_aer_within_five_standard_errors(correlators, rng):
    vqc = VQC(4, 2, correlators=correlators)
    w = init_weights(2, vqc, "uniform", seed=7)
    x = random_inputs(rng, (40, 4))
    shots = 4000
    exact = evaluate(TorchBackend(), vqc, w, x)
    est = evaluate(AerBackend(shots=shots, seed=11), vqc, w, x)
    se = np.sqrt(np.maximum(1 - exact**2, 1e-12) / shots)
    z = np.abs(est - exact) / se
    assert z.max() < 5, z.max()
    # and it is really sampling: not equal to the exact values
    assert np.abs(est - exact).max() > 1e-3
    # reproducible from its seed
    again = evaluate(AerBackend(shots=shots, seed=11), vqc, w, x)
    np.testing.assert_array_equal(est, again)


def test_get_backend_names_and_errors():
    assert isinstance(get_backend("torch"), TorchBackend)
    assert isinstance(get_backend("pennylane"), PennyLaneBackend)
    assert get_backend("pennylane:lightning.qubit").device == "lightning.qubit"
    assert get_backend("aer", shots=10).shots == 10
    be = TorchBackend("gates")
    assert get_backend(be) is be
    with pytest.raises(ValueError, match="unknown backend 'qulacs'"):
        get_backend("qulacs")
    with pytest.raises(ValueError, match="takes no shots"):
        get_backend("pennylane", shots=100)
    assert get_backend("torch", shots=100, seed=2).shots == 100
    with pytest.raises(ValueError, match="shots"):
        get_backend("aer", shots=0)
    with pytest.raises(TypeError, match="backend must be"):
        get_backend(3)
    with pytest.raises(ValueError, match="method must be one of"):
        TorchBackend("dense")


@pytest.mark.parametrize("make,module,extra", [
    (lambda: PennyLaneBackend(), "pennylane", "pennylane"),
    (lambda: get_backend("pennylane:lightning.qubit"), "pennylane", "pennylane"),
    (lambda: AerBackend(), "qiskit_aer", "qiskit"),
    (lambda: qrnn.QLSTM(1, 3, backend="aer"), "qiskit_aer", "qiskit"),
])
def test_missing_optional_package_names_the_extra_at_construction(make, module, extra, monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name.split(".")[0] == module:
            raise ImportError(f"No module named {module!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(qrnn.MissingExtraError, match=rf"needs the optional package '{module}'.*"
                                                     rf"pip install 'qrnn\[{extra}\]'"):
        make()


def test_non_torch_backends_refuse_gradients():
    vqc = VQC(2)
    w = torch.zeros(1, 2, 2, 3, dtype=torch.float64)
    run = AerBackend().compile(vqc, w)
    with pytest.raises(ValueError, match="not differentiable"):
        run(torch.zeros(2, 2, dtype=torch.float64, requires_grad=True))


@pytest.mark.gpu
class TestCuda:
    """The torch engine on CUDA gives the CPU numbers."""

    @pytest.mark.parametrize("method", ["heisenberg", "unitary", "gates"])
    def test_cuda_matches_cpu(self, method, rng):
        vqc = VQC(5, 2)
        w = init_weights(3, vqc, "uniform", seed=8)
        x = random_inputs(rng, (32, 5))
        be = TorchBackend(method)
        gpu = be.compile(vqc, torch.as_tensor(w, device="cuda"))(torch.as_tensor(x, device="cuda"))
        assert gpu.device.type == "cuda"
        np.testing.assert_allclose(gpu.cpu().numpy(), evaluate(be, vqc, w, x), rtol=0, atol=1e-10)

    @pytest.mark.parametrize("n", [10, 18])
    def test_fused_program_on_cuda_matches_cpu(self, n, rng):
        """Many qubits: the fused program in torch operations on the GPU, the compiled kernels on the CPU."""
        vqc = VQC(n, 2, correlators=True)
        w = init_weights(2, vqc, "uniform", seed=n)
        x = random_inputs(rng, (16, n))
        for dtype, atol in ((torch.float64, 1e-12), (torch.float32, 2e-5)):
            group = TorchBackend().compile(vqc, torch.as_tensor(w, device="cuda", dtype=dtype))
            assert group.program is not None
            with torch.no_grad():
                gpu = group(torch.as_tensor(x, device="cuda", dtype=dtype))
            np.testing.assert_allclose(gpu.cpu().double().numpy(), evaluate(TorchBackend(), vqc, w, x), rtol=0,
                                       atol=atol)

    def test_cell_on_cuda(self, rng):
        X = random_inputs(rng, (8, 5, 1))
        cpu = qrnn.QLSTM(1, 3, seed=1).transform(X)
        gpu_res = qrnn.QLSTM(1, 3, seed=1, device="cuda")
        np.testing.assert_allclose(gpu_res.transform(X), cpu, rtol=0, atol=1e-10)
        out = gpu_res(torch.as_tensor(X, device="cuda"))
        assert out.device.type == "cuda"


@pytest.mark.parametrize("name", sorted(EXACT))
@pytest.mark.parametrize("n_qubits,n_inputs", [(1, 1), (4, 4), (5, 2)])
def test_correlators_match_reference(name, n_qubits, n_inputs, rng):
    vqc = VQC(n_qubits, 2, n_inputs, correlators=True)
    assert vqc.n_outputs == n_qubits + n_qubits * (n_qubits - 1) // 2
    w = init_weights(2, vqc, "uniform", seed=int(rng.integers(1000)))
    x = random_inputs(rng, (5, n_inputs))
    out = evaluate(EXACT[name](), vqc, w, x)
    ref = np.stack([[vqc_expvals(v, wk, correlators=True) for v in x] for wk in w])
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["torch-heisenberg", "torch-gates", "pennylane", "aer"])
def test_compiled_groups_reject_bad_inputs(name):
    run = EXACT[name]().compile(VQC(3, 1), torch.zeros(1, 1, 3, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(B >= 1, n_inputs=3\)"):
        run(torch.zeros(4, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(B >= 1, n_inputs=3\)"):
        run(torch.zeros(0, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        run(torch.full((2, 3), float("nan"), dtype=torch.float64))
    with pytest.raises(TypeError, match="real floating-point"):
        run(np.zeros((2, 3)))


@pytest.mark.parametrize("name", ["torch-heisenberg", "torch-unitary", "torch-gates", "pennylane", "aer"])
def test_compiled_groups_refuse_another_dtype_or_device(name):
    """One rule on every backend: inputs of the weights' dtype and device, or an error naming both."""
    vqc = VQC(2, 1)
    for w_dtype, x_dtype in ((torch.float64, torch.float32), (torch.float32, torch.float64)):
        run = EXACT[name]().compile(vqc, torch.zeros(1, 1, 2, 3, dtype=w_dtype))
        with pytest.raises(TypeError, match=rf"x has dtype {x_dtype} but these circuits were compiled "
                                            rf"with {w_dtype} weights"):
            run(torch.zeros(3, 2, dtype=x_dtype))
        assert run(torch.zeros(3, 2, dtype=w_dtype)).dtype == w_dtype  # the matching dtype comes back
    run = EXACT[name]().compile(vqc, torch.zeros(1, 1, 2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="x is on device meta but these circuits were compiled on cpu"):
        run(torch.zeros(3, 2, dtype=torch.float64, device="meta"))


@pytest.mark.parametrize("name", sorted(EXACT))
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_every_backend_refuses_half_precision_weights(name, dtype):
    # The encoding's input cap (1e9 in float32) does not fit in half precision.
    with pytest.raises(TypeError, match=rf"weights must have a dtype in \[torch.float64, torch.float32\], "
                                        rf"got {dtype}"):
        EXACT[name]().compile(VQC(2, 1), torch.zeros(1, 1, 2, 3, dtype=dtype))


def test_gates_gradients_on_blocks_past_the_first_match_the_dense_forms(rng):
    # 6 wires: a 4-wire block, then a 2-wire block applied in place at offset 4
    vqc = VQC(6, 2)
    x0 = torch.as_tensor(random_inputs(rng, (5, 6)))
    grads = {}
    for method in ("unitary", "gates"):
        w = torch.as_tensor(init_weights(2, vqc, "uniform", seed=9)).requires_grad_(True)
        x = x0.clone().requires_grad_(True)
        out = TorchBackend(method, gradient="autograd").compile(vqc, w)(x)
        (out * torch.arange(out.numel(), dtype=out.dtype).reshape(out.shape).sin()).sum().backward()
        grads[method] = (w.grad, x.grad)
    for a, b in zip(grads["unitary"], grads["gates"]):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-10)
