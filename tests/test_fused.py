"""The fused many-qubit program (``qrnn.backends.torch.fused``): against a plain state-vector simulation
written here, against the engine's torch form, on both kernels and several row splits, bit for bit
across thread counts."""
import numpy as np
import pytest
import torch

from qrnn.backends import TorchBackend
from qrnn.backends.torch import fused
from qrnn.backends.torch.encoding import _encoding
from qrnn.circuit import VQC, Ansatz, Encoding, Weight, init_weights
from tests.conftest import random_inputs

_H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)


def _one_wire(name, t):
    if name == "H":
        return _H
    c, s = np.cos(t / 2), np.sin(t / 2)
    return { "RX": np.array([[c, -1j * s], [-1j * s, c]]), "RY": np.array([[c, -s], [s, c]]),
            "RZ": np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])}[name]


def statevector(vqc: VQC, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Z products of ``vqc`` on one input ``v``, weights ``w`` (flat), gate by gate on a ``(2,) * n`` tensor."""
    n = vqc.n_qubits
    psi = np.zeros((2,) * n, dtype=complex)
    psi[(0,) * n] = 1.0
    x = vqc.input_angles(v[None])[0]
    angles = vqc.with_constants(w)
    for name, wires, ref in vqc.gates():
        t = None if ref is None else (x[ref[1]] if ref[0] == "x" else angles[vqc.slot(ref)])
        if len(wires) == 1:
            psi = np.moveaxis(np.tensordot(_one_wire(name, t), psi, axes=([1], [wires[0]])), 0, wires[0])
            continue
        a, b = wires
        new = psi.copy()
        sel = [slice(None)] * n
        if name == "CNOT":
            sel[a] = 1
            new[tuple(sel)] = np.flip(psi[tuple(sel)], axis=b - (b > a))
        else:  # SWAP
            new = np.swapaxes(psi, a, b)
        psi = new
    p = np.abs(psi.reshape(-1)) ** 2
    bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))) & 1
    z = 1.0 - 2.0 * bits
    return np.array([p @ np.prod(z[:, list(o)], axis=1) for o in vqc.observables()])


def mixed_ansatz(n: int, seed: int) -> Ansatz:
    """Random one-wire gates (H, RX, RY, RZ, with weights and constants) between CNOT and SWAP runs."""
    rng = np.random.default_rng(seed)
    gates, k = [], 0
    for _ in range(3):
        for q in rng.permutation(n)[: n - 1]:
            name = ["H", "RX", "RY", "RZ"][rng.integers(4)]
            if name == "H":
                gates.append(("H", int(q)))
            elif rng.random() < 0.8:
                gates.append((name, int(q), Weight(k)))
                k += 1
            else:
                gates.append((name, int(q), float(rng.normal())))
        for _ in range(n // 2):
            a, b = rng.choice(n, 2, replace=False)
            gates.append(("CNOT" if rng.random() < 0.7 else "SWAP", (int(a), int(b))))
    return Ansatz(n, gates)


def fused_values(vqc, w, x):
    """``(K, B, n_obs)`` from the fused program directly."""
    prog = fused.FusedProgram(vqc, w)
    amps = _encoding(vqc, torch.float64, torch.device("cpu")).wire_amplitudes(x.T.contiguous())
    return prog.run(np.ascontiguousarray(amps.permute(2, 0, 1).numpy())).transpose(0, 2, 1)


def torch_form(vqc, w, x):
    """The engine's torch form of the same group: what autograd differentiates (gradients wanted)."""
    group = TorchBackend("gates", gradient="autograd").compile(vqc, w.clone().requires_grad_())
    with torch.enable_grad():
        out = group._columns(x.T.contiguous(), False)
    assert out.requires_grad  # not the fused program
    return out.detach().numpy().transpose(0, 2, 1)


CIRCUITS = {
    "paper": lambda n: VQC(n, 2),
    "paper, correlators": lambda n: VQC(n, 2, correlators=True),
    "paper, 3 layers, angle encoding": lambda n: VQC(n, 3, encoding=Encoding("angle", 0.7)),
    "mixed gates": lambda n: VQC(n, ansatz=mixed_ansatz(n, n)),
}
# (qubits, low bits per row, samples in parallel up to, columns per group or None for the default):
# each kernel, rows split or whole, one column group or several (13 and 14 qubits), 4 columns
SPLITS = [(5, 11, 16, None), (5, 2, 0, None), (9, 4, 0, None), (9, 11, 16, None), (10, 3, 16, None),
          (12, 5, 0, None), (13, 11, 16, None), (14, 6, 0, None), (11, 5, 16, 4)]


@pytest.mark.parametrize("name", list(CIRCUITS))
@pytest.mark.parametrize("n,row_bits,parallel_max,columns", SPLITS)
def test_fused_program_matches_a_plain_simulation_and_the_torch_form(name, n, row_bits, parallel_max, columns, rng,
                                                                    monkeypatch):
    monkeypatch.setattr(fused, "ROW_BITS", row_bits)
    monkeypatch.setattr(fused, "_split", lambda m: min(m, row_bits))
    monkeypatch.setattr(fused, "SAMPLE_PARALLEL_MAX_QUBITS", parallel_max)
    if columns is not None:
        monkeypatch.setattr(fused, "_group_columns", lambda l, h: min(columns, 2**l))
    vqc = CIRCUITS[name](n)
    w = torch.as_tensor(init_weights(2, vqc, "uniform", seed=n))
    x = torch.as_tensor(random_inputs(rng, (5, vqc.n_inputs)))
    prog = fused.FusedProgram(vqc, w)
    assert prog.C == (columns or prog.C) and (n < 13 or columns or 2**prog.l // prog.C > 1)
    got = fused_values(vqc, w, x)
    np.testing.assert_allclose(got, torch_form(vqc, w, x), rtol=0, atol=1e-12)
    flat = w.reshape(2, -1).numpy()
    for b in (0, 3):
        for k in range(2):
            np.testing.assert_allclose(got[k, b], statevector(vqc, x[b].numpy(), flat[k]), rtol=0, atol=1e-12)


def test_both_kernels_and_any_thread_count_give_the_same_bits(rng, monkeypatch):
    import numba

    vqc = VQC(13, 2, correlators=True)
    w = torch.as_tensor(init_weights(3, vqc, "uniform", seed=1))
    x = torch.as_tensor(random_inputs(rng, (4, 13)))
    runs = []
    threads = numba.get_num_threads()
    for parallel_max in (16, 0):
        monkeypatch.setattr(fused, "SAMPLE_PARALLEL_MAX_QUBITS", parallel_max)
        for t in sorted({1, threads}):
            numba.set_num_threads(t)
            try:
                runs.append(fused_values(vqc, w, x))
            finally:
                numba.set_num_threads(threads)
    for r in runs[1:]:
        np.testing.assert_array_equal(r, runs[0])


def test_zyz_rebuilds_every_one_wire_unitary():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2, 2)) + 1j * rng.normal(size=(200, 2, 2))
    u = np.linalg.qr(z)[0]
    # degenerate ones: diagonal, anti-diagonal, and entries near zero
    u[0] = np.diag(np.exp(1j * rng.normal(size=2)))
    u[1] = np.array([[0, 1j], [np.exp(0.3j), 0]])
    u[2] = _one_wire("RY", 1e-9) @ _one_wire("RZ", 0.4)
    u[3] = _one_wire("RX", np.pi - 1e-9)
    u[4] = _H
    q, c, s, p = fused._zyz(u)
    r = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    rebuilt = q[..., :, None] * r * p[..., None, :]
    phase = np.sum(rebuilt.conj() * u, axis=(1, 2)) / 2  # the global phase e^{ia}
    np.testing.assert_allclose(np.abs(phase), 1, atol=1e-14)
    np.testing.assert_allclose(rebuilt * phase[:, None, None], u, rtol=0, atol=1e-14)
    assert (c >= 0).all() and (s >= 0).all()


def test_the_engine_uses_it_only_where_it_applies(rng):
    x = torch.as_tensor(random_inputs(rng, (3, 10)))
    paper = VQC(10, 2)
    w = torch.as_tensor(init_weights(2, paper, "uniform", seed=0))
    group = TorchBackend().compile(paper, w)
    assert group.program is not None and group._var is None
    with torch.no_grad():
        group(x)
    assert group._var is None  # the torch form is never built for a frozen group
    # two-wire diagonals: the torch form
    cz = VQC(10, ansatz=Ansatz(10, [("RX", q, Weight(q)) for q in range(10)] + [("CZ", (0, 1))]))
    assert fused.unsupported(cz) == "gates ['CZ']"
    assert TorchBackend().compile(cz, torch.zeros(1, 10, dtype=torch.float64)).program is None
    # float32, and below MIN_QUBITS: the torch form
    assert TorchBackend().compile(paper, w.float()).program is None
    small = VQC(fused.MIN_QUBITS - 1, 2)
    assert TorchBackend("gates").compile(small, torch.zeros(1, *small.weight_shape, dtype=torch.float64)).program is None


def test_gradients_go_through_the_torch_form(rng):
    vqc = VQC(10, 2)
    w0 = torch.as_tensor(init_weights(1, vqc, "uniform", seed=0))
    x = torch.as_tensor(random_inputs(rng, (2, 10)))
    w = w0.clone().requires_grad_()
    out = TorchBackend(gradient="autograd").compile(vqc, w)(x)
    assert out.requires_grad
    out.sum().backward()
    assert w.grad is not None and torch.isfinite(w.grad).all()
    with torch.no_grad():
        frozen = TorchBackend().compile(vqc, w0)(x)
    np.testing.assert_allclose(out.detach().numpy(), frozen.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n,row_bits", [(5, 11), (9, 4), (12, 5)])
def test_the_torch_form_of_the_program_matches_the_kernels(n, row_bits, rng, monkeypatch):
    """The CUDA path runs the same program in torch operations; here it runs on the CPU."""
    monkeypatch.setattr(fused, "_split", lambda m: min(m, row_bits))
    for name in CIRCUITS:
        vqc = CIRCUITS[name](n)
        w = torch.as_tensor(init_weights(2, vqc, "uniform", seed=n))
        x = torch.as_tensor(random_inputs(rng, (4, vqc.n_inputs)))
        prog = fused.FusedProgram(vqc, w)
        amps = _encoding(vqc, torch.float64, torch.device("cpu")).wire_amplitudes(x.T.contiguous())
        want = fused_values(vqc, w, x)
        np.testing.assert_allclose(prog.run_torch(amps).numpy().transpose(0, 2, 1), want, rtol=0, atol=1e-12,
                                   err_msg=name)
        if n >= fused.MIN_QUBITS:
            # the engine takes that path where the kernels do not apply (forced here: no GPU needed)
            group = TorchBackend("gates").compile(vqc, w)
            group.kernels = False
            calls = []
            group.program.run_torch = lambda a, run=group.program.run_torch: calls.append(1) or run(a)
            with torch.no_grad():
                np.testing.assert_allclose(group(x).numpy(), want.transpose(0, 1, 2), rtol=0, atol=1e-12,
                                           err_msg=name)
            assert calls, name


def test_weights_on_another_device_build_their_tables_on_the_cpu():
    """The program's tables are numpy: weights that live elsewhere are brought to the CPU first."""
    vqc = VQC(9, 2)
    w = torch.as_tensor(init_weights(1, vqc, "uniform", seed=0))

    class Elsewhere(torch.Tensor):
        """Stands in for a CUDA tensor: ``.numpy()`` refuses until ``.to("cpu", ...)`` brings it back."""

        def numpy(self, *args, **kwargs):
            raise TypeError("can't convert this device's tensor to numpy")

        def to(self, *args, **kwargs):
            out = super().to(*args, **kwargs)
            return out.as_subclass(torch.Tensor) if "cpu" in args or kwargs.get("device") == "cpu" else out

    prog = fused.FusedProgram(vqc, w.as_subclass(Elsewhere))
    np.testing.assert_array_equal(prog.ryc, fused.FusedProgram(vqc, w).ryc)


def test_forward_mode_tangents_take_the_torch_form(rng):
    from torch.autograd import forward_ad

    vqc = VQC(9, 2)
    w = torch.as_tensor(init_weights(1, vqc, "uniform", seed=0))
    x = torch.as_tensor(random_inputs(rng, (2, 9)))
    group = TorchBackend("gates").compile(vqc, w)
    with forward_ad.dual_level():
        dual = forward_ad.make_dual(x, torch.ones_like(x))
        out = group(dual)
        assert forward_ad.unpack_dual(out).tangent is not None
