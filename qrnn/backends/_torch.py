"""The package's own exact state-vector engine, on torch (CPU or CUDA).

A reservoir's circuits are fixed, so :meth:`TorchBackend.compile` does the
expensive part once per call of a cell and each time step is cheap:

``"heisenberg"``
    Each measured ``Z_k`` is carried into the Heisenberg picture,
    ``O_k = U^dagger Z_k U``, and expanded in Pauli strings. The encoded state
    is a product state, so ``<O_k>`` is the Pauli coefficients dotted with the
    Kronecker product of the wires' Bloch 4-vectors ``(1, x, y, z)``: one real
    matrix product ``(K n, 4^n) @ (4^n, B)`` gives every output of every
    circuit sharing the input. Cost ``K n 4^n`` per sample; best for few wires.
``"unitary"``
    The variational block as a dense unitary per circuit, applied to the
    product state by one real matrix product ``(2 K 2^n, 2^(n+1)) @ (2^(n+1), B)``
    (real and imaginary parts stacked). Cost ``4 K 4^n`` real MACs per sample.
``"gates"``
    Batched gate-by-gate application: each CNOT block fused into one index
    permutation, each run of single-qubit gates fused into one 2x2 matrix per
    wire. Cost ``~ K L n 2^(n+1)`` per sample; the only choice for many wires.

``"auto"`` picks by qubit count (thresholds from ``benchmarks/RESULTS.md``).
Everything is made of differentiable torch operations, so gradients reach
both the inputs and the weights.

Tensors keep the batch last ("columns": ``(features, B)``), so that every
elementwise operation runs along contiguous memory.
"""
from __future__ import annotations

import abc
import ctypes
import functools
import math
import os
import sys

import numpy as np
import torch

from .._validation import check_choice, check_int
from ..circuit import GATES, VQC
from .base import Backend, check_circuit_inputs

METHODS = ("auto", "heisenberg", "unitary", "gates")  # the last three: _GROUPS below

_SQRT1_2 = 1.0 / math.sqrt(2.0)

# Bloch-sphere action of the single-qubit gates: fixed gates as 3x3 rotations,
# angle gates as R(theta) = P + cos(theta) Q + sin(theta) S about an axis.
_FIXED_SO3 = {"H": np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])}
_AXES = {"RX": np.array([1.0, 0.0, 0.0]), "RY": np.array([0.0, 1.0, 0.0]), "RZ": np.array([0.0, 0.0, 1.0])}
# Amplitude action: fixed gates as 2x2 unitaries, R(t) = cos(t/2) I - i sin(t/2) P.
_FIXED_SU2 = {"H": np.array([[1, 1], [1, -1]], dtype=complex) * _SQRT1_2}
_PAULI = {
    "RX": np.array([[0, 1], [1, 0]], dtype=complex),
    "RY": np.array([[0, -1j], [1j, 0]]),
    "RZ": np.array([[1, 0], [0, -1]], dtype=complex),
}

_ALLOCATOR_TUNED = False


def tune_allocator() -> bool:
    """Tune glibc's malloc for the torch engine on CPU; opt-in, process-wide, irreversible.

    glibc serves large allocations with ``mmap`` and unmaps them on free, so a
    method that builds a fresh state vector every time step (``"unitary"``,
    ``"gates"``) page-faults on new memory at every call. This sets glibc's
    mmap threshold to 32 MiB (its own dynamic ceiling) and its trim threshold
    to 128 MiB, so those temporaries are reused from the heap. Measured on a
    2-core EPYC VM (``python -m benchmarks.bench_throughput --allocator-ab``,
    see ``benchmarks/RESULTS.md``), one group of 6 circuits at B = 1024:
    ``"unitary"`` at 4 and 6 qubits 3.1 -> 2.0 ms and 14.5 -> 11.0 ms per
    call (about 900 and 3000 page faults per call -> 0), ``"gates"`` at 4
    qubits x1.1 to x1.8. No measurable gain for the Heisenberg form
    (``"auto"`` up to 5 qubits, so the default 4-qubit QLSTM), which
    allocates little, nor where one temporary exceeds 32 MiB (``"gates"`` at
    10 qubits).

    It changes the allocator of the whole process, including every other
    library in it, and cannot be undone; that is why qrnn never calls it by
    itself (not at import, not when compiling). Call it once, early, in
    scripts that run large batches on CPU. There is no environment variable
    for it.

    Returns
    -------
    bool
        True if both thresholds are set (Linux with glibc). False on other
        platforms or C libraries, where it does nothing, or if glibc refused
        a value; a later call then tries again.

    Examples
    --------
    >>> from qrnn.backends import tune_allocator
    >>> applied = tune_allocator()  # once, early in a script
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, 32 * 2**20) == 1  # M_MMAP_THRESHOLD
        ok = libc.mallopt(-1, 128 * 2**20) == 1 and ok  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        return False
    _ALLOCATOR_TUNED = ok
    return ok


class MemoryBudgetError(MemoryError):
    """A circuit group needs more memory than the torch engine's budget allows, even one sample at a time."""


def free_memory(device) -> int:
    """Bytes free now on ``device``: ``MemAvailable`` of the host for the CPU, the free device memory for CUDA.

    Examples
    --------
    >>> free_memory("cpu") > 0
    True
    """
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no such sysconf: a conservative 1 GiB
        return 2**30


# Working sets this small are never checked against the free memory (see _CompiledGroup._fits).
_UNCHECKED_BYTES = 64 * 2**20


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
        n /= 1024


def _axis_terms(name: str):
    n = _AXES[name]
    cross = np.array([[0.0, -n[2], n[1]], [n[2], 0.0, -n[0]], [-n[1], n[0], 0.0]])
    proj = np.outer(n, n)
    return proj, np.eye(3) - proj, cross


def _gate_matrix(name: str, angle: torch.Tensor, cdtype) -> torch.Tensor:
    """2x2 matrix of a rotation gate; ``angle`` of shape ``S`` gives ``(*S, 2, 2)``."""
    half = angle.to(cdtype) / 2
    c, s = torch.cos(half), torch.sin(half)
    if name == "RX":
        rows = ((c, -1j * s), (-1j * s, c))
    elif name == "RY":
        rows = ((c, -s), (s, c))
    elif name == "RZ":
        e = torch.exp(-1j * half)
        z = torch.zeros_like(e)
        rows = ((e, z), (z, e.conj()))
    else:
        raise ValueError(f"the torch engine has no rotation gate {name!r}")
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def _cnot_perm(n: int, control: int, target: int) -> np.ndarray:
    idx = np.arange(2**n)
    cbit = (idx >> (n - 1 - control)) & 1
    return idx ^ (cbit << (n - 1 - target))


def _swap_perm(n: int, a: int, b: int) -> np.ndarray:
    idx = np.arange(2**n)
    ba, bb = (idx >> (n - 1 - a)) & 1, (idx >> (n - 1 - b)) & 1
    return idx ^ ((ba ^ bb) << (n - 1 - a)) ^ ((ba ^ bb) << (n - 1 - b))


def _pair_index(n: int, a: int, b: int) -> np.ndarray:
    """``(2^n,)``: ``2 bit_a + bit_b`` of every basis state (the row of a two-wire diagonal)."""
    idx = np.arange(2**n)
    return 2 * ((idx >> (n - 1 - a)) & 1) + ((idx >> (n - 1 - b)) & 1)


@functools.lru_cache(maxsize=64)
def _z_signs(n: int, observables) -> np.ndarray:
    """``(n_obs, 2^n)``: entry ``[o, b]`` is the eigenvalue of the Z product ``o`` on basis state ``b``.

    Cached (trainable groups are compiled on every forward pass), hence read-only.
    """
    idx = np.arange(2**n)[None, :]
    z = 1.0 - 2.0 * ((idx >> (n - 1 - np.arange(n))[:, None]) & 1)  # (n, 2^n)
    signs = np.ascontiguousarray(np.stack([np.prod(z[list(wires)], axis=0) for wires in observables]))
    signs.flags.writeable = False
    return signs


def _kron_columns(vectors: torch.Tensor) -> torch.Tensor:
    """Column-wise Kronecker product: ``(n, d, B) -> (d^n, B)``, factor 0 most significant."""
    out = vectors[-1]
    for w in range(vectors.shape[0] - 2, -1, -1):
        out = (vectors[w][:, None, :] * out[None, :, :]).reshape(-1, out.shape[-1])
    return out


class _Encoding:
    """The input-dependent prefix: single-qubit gates on ``|0...0>``, hence a product state.

    Each wire's state is multilinear in the half-angle functions
    ``(cos t_j/2, sin t_j/2)`` of its angles (amplitudes), and its Bloch vector
    in ``(1, cos t_j, sin t_j)``. The constant maps are built once here, so a
    step costs a few elementwise operations and one small batched product.
    """

    def __init__(self, vqc: VQC, rdtype, device):
        self.vqc, self.n = vqc, vqc.n_qubits
        per_wire = [[] for _ in range(self.n)]
        for op in vqc.encoding_ops():
            if op.name == "CNOT":
                raise ValueError("the torch engine needs an encoding of single-qubit gates only")
            for i, q in enumerate(op.wires):
                ref = None if op.params is None else op.params[i]
                if ref is not None and ref[0] != "x":
                    raise ValueError("encoding gates may only take input angles")
                if ref is None and op.name not in _FIXED_SU2 or ref is not None and op.name not in _PAULI:
                    raise ValueError(f"the torch engine cannot encode with gate {op.name!r}")
                per_wire[q].append((op.name, ref))
        self.m = max(sum(r is not None for _, r in gates) for gates in per_wire)
        pad = vqc.n_angles  # index of an extra angle fixed at 0
        index, bloch, amps = [], [], []
        for gates in per_wire:
            slots = [r[1] for _, r in gates if r is not None]
            index.extend(slots + [pad] * (self.m - len(slots)))
            bloch.append(self._bloch_map(gates))
            amps.append(self._amplitude_map(gates))
        # The paper's layout reads the angles in order: no gather needed then.
        self.identity_layout = index == list(range(vqc.n_angles))
        self.angle_index = torch.as_tensor(index, dtype=torch.long, device=device)
        self.bloch_maps = torch.as_tensor(np.stack(bloch), dtype=rdtype, device=device)
        # Complex (2, 2^m) maps stored as real (4, 2^m): rows re0, im0, re1, im1.
        amps = np.stack(amps)
        real = np.stack([amps[:, 0].real, amps[:, 0].imag, amps[:, 1].real, amps[:, 1].imag], axis=1)
        self.amp_maps = torch.as_tensor(real, dtype=rdtype, device=device)

    def _bloch_map(self, gates) -> np.ndarray:
        v = np.array([[0.0], [0.0], [1.0]])
        for name, ref in gates:
            if ref is None:
                v = _FIXED_SO3[name] @ v
            else:
                p, q, s = _axis_terms(name)
                v = np.stack([p @ v, q @ v, s @ v], axis=-1).reshape(3, -1)
        while v.shape[1] < 3**self.m:  # unused slots: the identity, on the constant term
            v = np.stack([v, 0 * v, 0 * v], axis=-1).reshape(3, -1)
        hom = np.zeros((4, v.shape[1]))
        hom[0, 0] = 1.0
        hom[1:] = v
        return hom

    def _amplitude_map(self, gates) -> np.ndarray:
        v = np.array([[1.0], [0.0]], dtype=complex)
        for name, ref in gates:
            if ref is None:
                v = _FIXED_SU2[name] @ v
            else:
                v = np.stack([v, -1j * (_PAULI[name] @ v)], axis=-1).reshape(2, -1)
        while v.shape[1] < 2**self.m:  # unused slots get angle 0: cos 0 = 1, sin 0 = 0
            v = np.stack([v, 0 * v], axis=-1).reshape(2, -1)
        return v

    def _slot_trig(self, c: torch.Tensor, s: torch.Tensor):
        """Per-angle cosines and sines ``(A, B)`` -> per wire and slot ``(n, m, B)``."""
        B = c.shape[1]
        if not self.identity_layout:
            c = torch.cat((c, c.new_ones(1, B))).index_select(0, self.angle_index)
            s = torch.cat((s, s.new_zeros(1, B))).index_select(0, self.angle_index)
        return c.view(self.n, self.m, B), s.view(self.n, self.m, B)

    @staticmethod
    def _slot_products(trig: torch.Tensor) -> torch.Tensor:
        """``(n, m, d, B) -> (n, d^m, B)``: Kronecker product over the slots of each wire."""
        feats = trig[:, 0]
        for j in range(1, trig.shape[1]):
            feats = (feats[:, :, None, :] * trig[:, j, None, :, :]).flatten(1, 2)
        return feats

    def bloch(self, x: torch.Tensor, bounded: bool = False) -> torch.Tensor:
        """Inputs ``(n_inputs, B)`` -> homogeneous Bloch vectors ``(n, 4, B)``."""
        B = x.shape[1]
        if self.m == 0:
            return self.bloch_maps[:, :, :1].expand(self.n, 4, B)
        c, s = self._slot_trig(*self.vqc.input_angle_trig(x, bounded))
        trig = torch.stack((torch.ones_like(c), c, s), dim=2)
        return torch.bmm(self.bloch_maps, self._slot_products(trig))

    def amplitudes(self, x: torch.Tensor, bounded: bool = False) -> torch.Tensor:
        """Inputs ``(n_inputs, B)`` -> complex product-state amplitudes ``(2^n, B)``."""
        B = x.shape[1]
        if self.m == 0:
            amp = self.amp_maps[:, :, :1].expand(self.n, 4, B)
        else:
            c, s = self._slot_trig(*self.vqc.input_half_angle_trig(x, bounded))
            amp = torch.bmm(self.amp_maps, self._slot_products(torch.stack((c, s), dim=2)))
        return _kron_columns(torch.complex(amp[:, 0::2], amp[:, 1::2]))


@functools.lru_cache(maxsize=64)
def _encoding(vqc: VQC, rdtype, device) -> _Encoding:
    # The encoding's maps depend on the circuit's layout only, not on its
    # weights: trainable groups, compiled on every forward pass, share them.
    return _Encoding(vqc, rdtype, device)


def _batched_kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(K, p, p)`` and ``(K, q, q)`` -> ``(K, p q, p q)``, ``a`` on the more significant index."""
    K, p, q = a.shape[0], a.shape[1], b.shape[1]
    return (a[:, :, None, :, None] * b[:, None, :, None, :]).reshape(K, p * q, p * q)


class _Variational:
    """The weight-only suffix, fused.

    Each block of permutation gates (CNOT, SWAP) becomes one index
    permutation, each run of diagonal gates (CZ, CRZ, RZZ) one diagonal. The
    single-qubit gates between them become one 2x2 per wire, then Kronecker
    blocks over up to ``fuse`` consecutive wires (16x16 for 4). One block is
    one batched matrix product over the state, so a layer takes ``n / fuse``
    passes over memory instead of ``n``; the state is memory-bound at many
    wires.
    """

    def __init__(self, vqc: VQC, weights: torch.Tensor, cdtype, fuse: int = 4):
        self.n = n = vqc.n_qubits
        self.K = K = weights.shape[0]
        flat = vqc.with_constants(weights.reshape(K, -1))
        device = weights.device
        steps: list = []
        pending: dict[int, torch.Tensor] = {}
        perm = None
        diag = None

        def flush_local():
            wires = sorted(pending)
            while wires:
                # a run of consecutive wires, at most `fuse` long
                run = [wires.pop(0)]
                while wires and wires[0] == run[-1] + 1 and len(run) < fuse:
                    run.append(wires.pop(0))
                block = pending[run[0]]
                for q in run[1:]:
                    block = _batched_kron(block, pending[q])
                steps.append(("block", run[0], len(run), block))
            pending.clear()

        def flush_perm():
            nonlocal perm
            if perm is not None:
                steps.append(("perm", torch.as_tensor(perm, device=device)))
                perm = None

        def flush_diag():
            nonlocal diag
            if diag is not None:
                steps.append(("diag", diag.unsqueeze(-1)))
                diag = None

        for op in vqc.variational_ops():
            spec = GATES[op.name]
            if spec.kind == "permutation":
                flush_local()
                flush_diag()
                for a, b in op.wires:
                    p = _cnot_perm(n, a, b) if op.name == "CNOT" else _swap_perm(n, a, b)
                    perm = p if perm is None else perm[p]
            elif spec.kind == "diagonal":
                flush_local()
                flush_perm()
                for i, (a, b) in enumerate(op.wires):
                    local = _pair_index(n, a, b)  # (2^n,) in 0..3
                    coef = torch.as_tensor(np.asarray(spec.phases)[local], dtype=flat.dtype, device=device)
                    if spec.n_params == 0:
                        d = coef.to(cdtype).expand(K, -1)
                    else:
                        theta = flat[:, vqc.slot(op.params[i])]
                        d = torch.polar(torch.ones_like(coef).expand(K, -1), theta[:, None] * coef).to(cdtype)
                    diag = d if diag is None else diag * d
            else:
                flush_perm()
                flush_diag()
                if spec.kind == "fixed":
                    gates = torch.as_tensor(_FIXED_SU2[op.name], dtype=cdtype, device=device).expand(
                        K, len(op.wires), 2, 2)
                else:
                    if any(ref[0] not in ("w", "c") for ref in op.params):
                        raise ValueError("variational gates may only take weights and constants")
                    # every wire's matrix at once: a trainable group rebuilds these on each forward pass
                    gates = _gate_matrix(op.name, flat[:, [vqc.slot(ref) for ref in op.params]], cdtype)
                new = [q for q in op.wires if q not in pending]
                old = [i for i, q in enumerate(op.wires) if q in pending]
                if old:
                    prods = gates[:, old] @ torch.stack([pending[op.wires[i]] for i in old], dim=1)
                    pending.update({op.wires[i]: prods[:, j] for j, i in enumerate(old)})
                pending.update({q: gates[:, op.wires.index(q)] for q in new})
        flush_local()
        flush_perm()
        flush_diag()
        self.steps = steps

    def apply(self, state: torch.Tensor) -> torch.Tensor:
        """Apply to states ``(K, 2^n, B)`` (amplitude index, then batch)."""
        K, D, B = state.shape
        n = self.n
        for step in self.steps:
            if step[0] == "perm":
                state = state.index_select(1, step[1])
                continue
            if step[0] == "diag":
                state = state * step[1]
                continue
            _, q0, k, mat = step
            a, d, c = 2**q0, 2**k, 2 ** (n - q0 - k) * B
            if a == 1:
                state = torch.bmm(mat, state.reshape(K, d, c)).reshape(K, D, B)
                continue
            # A (d, d) matrix against a (a, d, c) batch of (d, c) slices, in place
            # in memory order: no transposed copies of the state (2x faster than
            # bringing the block's axis forward at 20 qubits, same numbers).
            view = state.reshape(K, a, d, c)
            if torch.is_grad_enabled() and (view.requires_grad or mat.requires_grad):
                state = torch.stack([torch.matmul(mat[k], view[k]) for k in range(K)]).reshape(K, D, B)
            else:
                out = torch.empty_like(view)
                for k in range(K):
                    torch.matmul(mat[k], view[k], out=out[k])
                state = out.reshape(K, D, B)
        return state

    def unitaries(self, cdtype, device) -> torch.Tensor:
        """``(K, 2^n, 2^n)``: the block applied to every basis state is its unitary."""
        D = 2**self.n
        return self.apply(torch.eye(D, dtype=cdtype, device=device).expand(self.K, D, D))


def _pauli_coefficients(ops: torch.Tensor, n: int) -> torch.Tensor:
    """Real Pauli expansion ``c[P] = Tr(O P) / 2^n`` of Hermitian ``(N, 2^n, 2^n)`` -> ``(N, 4^n)``.

    Pauli index per wire: 0=I, 1=X, 2=Y, 3=Z; wire 0 most significant.
    """
    N = ops.shape[0]
    x = ops.reshape((N,) + (2,) * (2 * n))
    order = [0] + [a for w in range(n) for a in (1 + w, 1 + n + w)]
    x = x.permute(order).reshape((N,) + (4,) * n)
    sig = torch.tensor(
        [[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]],
        dtype=ops.dtype, device=ops.device,
    )
    # t[a, 2 i + j] = sigma_a[j, i] / 2, so that sum_ij O[i, j] sigma_a[j, i] = Tr(O sigma_a).
    t = sig.transpose(1, 2).reshape(4, 4) / 2
    for _ in range(n):
        x = torch.tensordot(x, t, dims=([1], [1]))
    return x.reshape(N, 4**n).real


class _CompiledGroup(abc.ABC):
    """One group of circuits sharing an input, compiled by one method.

    ``columns(v)``: inputs ``(n_inputs, B)`` -> ``(K, n_outputs, B)``, the
    layout the cells use; calling the object takes ``(B, n_inputs)`` and gives
    ``(K, B, n_outputs)``. Subclasses build their operator in ``_build`` and
    evaluate it in ``columns``.
    """

    method: str

    def __init__(self, backend: "TorchBackend", vqc: VQC, weights: torch.Tensor):
        self.vqc = vqc
        self.weights = weights  # its dtype and device are the inputs'
        self.K = weights.shape[0]
        self.n_obs = vqc.n_outputs
        self.rdtype, self.device = weights.dtype, weights.device
        self.cdtype = torch.complex128 if self.rdtype == torch.float64 else torch.complex64
        self.encoding = _encoding(vqc, self.rdtype, self.device)
        self.zsigns = _z_signs(vqc.n_qubits, vqc.observables())  # (n_obs, 2^n), numpy
        self._chunk_bytes, self._budget_of = backend.chunk_bytes, backend.memory_budget
        self.itemsize = weights.element_size()
        need = self._operator_bytes()
        if not self._fits(need):  # before building it
            raise MemoryBudgetError(
                f"the {self.method!r} form of {self.K} circuits on {vqc.n_qubits} qubits needs "
                f"{_human(need)} for its operator, above the torch engine's memory budget of "
                f"{_human(self.budget)}; use method='gates' (or 'auto'), fewer qubits, or a larger "
                "TorchBackend(chunk_bytes=...)")
        self._build(backend)

    @abc.abstractmethod
    def _build(self, backend: "TorchBackend") -> None:
        """Precompute what a step needs from the weights."""

    def _variational(self) -> _Variational:
        return _Variational(self.vqc, self.weights, self.cdtype)

    def _operator_bytes(self) -> int:
        """Memory of what ``_build`` keeps, and of its largest temporary."""
        return 0

    @functools.cached_property
    def budget(self) -> int:
        """The memory budget in bytes (read when first needed: see :meth:`_fits`)."""
        return self._budget_of(self.device)

    def _fits(self, nbytes: int) -> bool:
        # Under the default budget, amounts below _UNCHECKED_BYTES are not checked
        # against the free memory: reading it costs ~50 us, and trainable groups
        # are compiled on every forward pass. An explicit chunk_bytes is always applied.
        if self._chunk_bytes is None and nbytes <= _UNCHECKED_BYTES:
            return True
        return nbytes <= self.budget

    @abc.abstractmethod
    def _sample_bytes(self) -> int:
        """Working memory of one sample in ``_columns`` (its temporaries at their peak)."""

    @abc.abstractmethod
    def _columns(self, v: torch.Tensor, bounded: bool) -> torch.Tensor:
        """``columns`` for a batch that fits the budget."""

    def columns(self, v: torch.Tensor, bounded: bool = False) -> torch.Tensor:
        """``(n_inputs, B) -> (K, n_outputs, B)``; ``bounded=True``: the caller guarantees
        ``|v| <= VQC.input_cap(dtype)`` (the cells cap their inputs once per sequence).

        Batches are evaluated in chunks that fit the memory budget; every
        sample is computed by the same operations either way."""
        per_sample, B = self._sample_bytes(), v.shape[1]
        if self._fits(per_sample * B):
            return self._columns(v, bounded)
        if per_sample > self.budget:
            raise MemoryBudgetError(
                f"one sample of {self.K} circuits on {self.vqc.n_qubits} qubits ({self.method!r} form) needs "
                f"{_human(per_sample)}, above the torch engine's memory budget of {_human(self.budget)}; "
                "free memory, use fewer qubits, or raise TorchBackend(chunk_bytes=...)")
        chunk = self.budget // per_sample
        return torch.cat([self._columns(v[:, i:i + chunk], bounded) for i in range(0, B, chunk)], dim=2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.columns(check_circuit_inputs(self.vqc, x, self.weights).transpose(0, 1)).transpose(1, 2)


class _Heisenberg(_CompiledGroup):
    """Measured Z products in the Heisenberg picture, read off product-state Bloch vectors."""

    method = "heisenberg"

    def _build(self, backend):
        K, n_obs, n = self.K, self.n_obs, self.vqc.n_qubits
        D = 2**n
        U = self._variational().unitaries(self.cdtype, self.device)  # (K, D, D)
        z = torch.tensor(self.zsigns.T, dtype=self.cdtype, device=self.device)  # (D, n_obs)
        # O[k, j] = U_k^dagger diag(z_j) U_k for every circuit k and observable j
        heis = torch.einsum("kai,aj,kab->kjib", U.conj(), z, U)
        coeffs = _pauli_coefficients(heis.reshape(K * n_obs, D, D), n)  # (K n_obs, 4^n)
        # Rows (output, Pauli index of wire 0), columns: the other wires. A step
        # contracts wires 1.. with one matrix product and wire 0 with a
        # multiply-and-sum, never building the 4^n-row Kronecker product.
        self.coeffs = coeffs.reshape(K * n_obs * 4, 4 ** (n - 1))

    def _operator_bytes(self):
        # the Pauli coefficients (K n_obs, 4^n) and the Heisenberg operators (K n_obs, D, D) complex
        D = 2**self.vqc.n_qubits
        return self.K * self.n_obs * D * D * (self.itemsize + 2 * 2 * self.itemsize)

    def _sample_bytes(self):
        n = self.vqc.n_qubits
        return self.itemsize * (2 * 4 ** (n - 1) + 2 * 4 * self.K * self.n_obs + 4 * n * 10)

    def _columns(self, v, bounded):
        n, B, K, n_obs = self.vqc.n_qubits, v.shape[1], self.K, self.n_obs
        bloch = self.encoding.bloch(v, bounded)
        rest = self.coeffs @ _kron_columns(bloch[1:]) if n > 1 else self.coeffs.expand(-1, B)
        return (rest.view(K * n_obs, 4, B) * bloch[0]).sum(1).view(K, n_obs, B)


class _Unitary(_CompiledGroup):
    """The variational block as a dense unitary, applied by one real matrix product."""

    method = "unitary"

    def _build(self, backend):
        K, D = self.K, 2**self.vqc.n_qubits
        U = self._variational().unitaries(self.cdtype, self.device)  # (K, D, D)
        # Real form of psi -> U psi with rows grouped per circuit:
        # [[Re U, -Im U], [Im U, Re U]] @ [Re psi; Im psi] = [Re U psi; Im U psi].
        top = torch.cat((U.real, -U.imag), dim=2)
        bottom = torch.cat((U.imag, U.real), dim=2)
        self.u_real = torch.cat((top, bottom), dim=1).reshape(K * 2 * D, 2 * D)
        # <Z_k> = sum_b z_k(b) (re_b^2 + im_b^2): signs repeated for both halves.
        self.zsigns2 = torch.as_tensor(np.concatenate((self.zsigns, self.zsigns), axis=1),
                                       dtype=self.rdtype, device=self.device)

    def _operator_bytes(self):
        # the real form (K 2D, 2D) and the complex unitaries it is built from
        D = 2**self.vqc.n_qubits
        return self.K * 4 * D * D * self.itemsize * 2

    def _sample_bytes(self):
        D = 2**self.vqc.n_qubits
        return self.itemsize * (6 * D + 2 * 2 * self.K * 2 * D)

    def _columns(self, v, bounded):
        psi = self.encoding.amplitudes(v, bounded)
        phi = self.u_real @ torch.cat((psi.real, psi.imag))
        return self.zsigns2 @ (phi * phi).view(self.K, -1, v.shape[1])


class _GateByGate(_CompiledGroup):
    """Fused gate-by-gate application on batched state vectors; the method for many wires."""

    method = "gates"

    def _build(self, backend):
        self.var = self._variational()
        self.zsigns_t = torch.tensor(self.zsigns, dtype=self.rdtype, device=self.device)  # (n_obs, D)

    def _sample_bytes(self):
        # the product state, and three complex (K, D) states at the peak of a gate block
        D = 2**self.vqc.n_qubits
        return 2 * self.itemsize * D * (1 + 3 * self.K)

    def _columns(self, v, bounded):
        psi = self.encoding.amplitudes(v, bounded)
        state = self.var.apply(psi.unsqueeze(0).expand(self.K, *psi.shape))
        return self.zsigns_t @ (state.real.square() + state.imag.square())


class _Adjoint(_CompiledGroup):
    """Trainable circuits as one autograd operation: state vectors and adjoint gradients in compiled code.

    Used for circuits whose weights are being trained (``gradient="auto"`` or
    ``"adjoint"``) on the CPU in float64; see ``qrnn.backends._adjoint``.
    Nothing is precompiled from the weights, so a forward pass costs no
    operator build, and the backward pass is one call instead of autograd
    walking back the build of the operator.
    """

    method = "adjoint"

    def _build(self, backend):
        from ._adjoint import program

        self.prog = program(self.vqc)
        self.zsigns_c = self.zsigns  # float64, C-contiguous

    def _operator_bytes(self):
        # the program (its permutations) and, per thread, the four state vectors of a backward pass
        from numba import get_num_threads

        from ._adjoint import program

        return program(self.vqc).nbytes + get_num_threads() * 4 * 16 * 2**self.vqc.n_qubits

    def _sample_bytes(self):
        # outputs, per-sample weight gradients, and the sample's block matrices and their derivatives
        prog = self.prog
        blocks = prog.sub.shape[0] * (prog.sub.shape[1] + 1) * 4 * 16
        return self.itemsize * self.K * (self.n_obs + self.weights[0].numel()) + blocks

    def _columns(self, v, bounded):
        from ._adjoint import AdjointCircuits

        cap = None if bounded else self.vqc.input_cap(v.dtype)
        # constant angles ride along as weights; autograd drops their gradient at the concatenation
        w = self.vqc.with_constants(self.weights.reshape(self.K, -1))
        return AdjointCircuits.apply(v, w, self.prog, self.zsigns_c, cap)


_GROUPS = {cls.method: cls for cls in (_Heisenberg, _Unitary, _GateByGate)}
GRADIENTS = ("auto", "adjoint", "autograd")


class TorchBackend(Backend):
    """Exact state-vector engine on torch, batched over samples and circuits.

    Parameters
    ----------
    method : {"auto", "heisenberg", "unitary", "gates"}, default "auto"
        How a circuit group is compiled (see the module docstring).
    heisenberg_max_qubits, unitary_max_qubits : int
        ``"auto"`` uses the Heisenberg form up to the first, the dense unitary
        up to the second, and gate-by-gate beyond.
    chunk_bytes : int, optional
        The memory budget, in bytes, of one circuit group's evaluation: every
        method splits its batches into chunks that fit it (results do not
        depend on the split), and a group whose operator, or whose single
        sample, does not fit raises :class:`MemoryBudgetError` naming the
        qubits, the budget and the need. Default: half the memory free on
        the group's device, read when a group's operator or batch first
        needs more than 64 MiB (:func:`free_memory`); smaller ones are not
        checked against it.
    stream_max_batch : int or None, default None
        A frozen float64 reservoir on the CPU whose circuits take the
        Heisenberg form (up to ``heisenberg_max_qubits``) runs its whole
        recurrence in a compiled kernel (``qrnn.backends._stream``, numba,
        parallel over sequences) instead of step by step in torch, for
        batches up to this size (None: any size; 0: never). Measured
        (``benchmarks/bench_stream.py``, QLSTM, 4 qubits, 2-core CPU), the
        kernel is ahead at every batch size tried: 146x the torch path at
        B = 1 (T = 100), 7x to 13x at 64, 1.5x to 2x from 1024 to 4096.
        It takes precedence over ``use_torch_compile``.
    gradient : {"auto", "adjoint", "autograd"}, default "auto"
        How gradients of circuits with trainable weights are computed (in
        training). ``"adjoint"``: each circuit group is one operation whose
        forward pass simulates the state vectors and whose backward pass is
        the adjoint method, both compiled (numba; CPU and float64 only).
        ``"autograd"``: torch differentiates through the compiled form that
        ``method`` picks (any device and dtype, and higher derivatives).
        ``"auto"`` takes ``"adjoint"`` where it applies and ``"autograd"``
        elsewhere. So ``method`` chooses how circuits are evaluated without
        gradients (frozen reservoirs, predictions); with the default
        ``gradient``, training on the CPU in float64 does not use it. Both give
        the same gradients to rounding (``tests/test_adjoint.py``); the
        adjoint path trains the paper's 4-qubit QLSTM several times faster
        (``benchmarks/bench_training.py``).

    Examples
    --------
    >>> import torch
    >>> from qrnn.circuit import VQC
    >>> vqc = VQC(3)
    >>> run = TorchBackend().compile(vqc, torch.zeros(2, 2, 3, 3, dtype=torch.float64))
    >>> tuple(run(torch.zeros(5, 3, dtype=torch.float64)).shape)
    (2, 5, 3)
    """

    name = "torch"
    exact = True
    differentiable = True

    def __init__(self, method: str = "auto", heisenberg_max_qubits: int = 5,
                 unitary_max_qubits: int = 7, chunk_bytes=None, stream_max_batch=None, gradient: str = "auto"):
        self.method = check_choice(method, "method", METHODS)
        self.heisenberg_max_qubits = check_int(heisenberg_max_qubits, "heisenberg_max_qubits", minimum=0)
        self.unitary_max_qubits = check_int(unitary_max_qubits, "unitary_max_qubits", minimum=0)
        self.chunk_bytes = None if chunk_bytes is None else check_int(chunk_bytes, "chunk_bytes", minimum=1)
        self.stream_max_batch = (None if stream_max_batch is None
                                 else check_int(stream_max_batch, "stream_max_batch", minimum=0))
        self.gradient = check_choice(gradient, "gradient", GRADIENTS)

    def __repr__(self) -> str:
        extra = "" if self.gradient == "auto" else f", gradient={self.gradient!r}"
        return f"TorchBackend(method={self.method!r}{extra})"

    def to_config(self) -> dict:
        return {"kind": "torch", "method": self.method, "heisenberg_max_qubits": self.heisenberg_max_qubits,
                "unitary_max_qubits": self.unitary_max_qubits, "chunk_bytes": self.chunk_bytes,
                "stream_max_batch": self.stream_max_batch, "gradient": self.gradient}

    def memory_budget(self, device) -> int:
        """Bytes one group's evaluation may use on ``device`` (``chunk_bytes``, or half the free memory)."""
        return self.chunk_bytes if self.chunk_bytes is not None else free_memory(device) // 2

    def resolve_method(self, n_qubits: int) -> str:
        if self.method != "auto":
            return self.method
        if n_qubits <= self.heisenberg_max_qubits:
            return "heisenberg"
        if n_qubits <= self.unitary_max_qubits:
            return "unitary"
        return "gates"

    def run_recurrence(self, cell, xs, state):
        """A frozen float64 reservoir of a built-in cell on the CPU in the Heisenberg form runs its whole
        recurrence in one compiled kernel (``qrnn.backends._stream``); anything else returns None."""
        from . import _stream

        return _stream.run(self, cell, xs, state)

    def compile(self, vqc: VQC, weights: torch.Tensor):
        self.check_weights(vqc, weights)
        if self.gradient != "autograd" and weights.requires_grad and torch.is_grad_enabled():
            from ._adjoint import unsupported

            why = unsupported(vqc)
            if weights.device.type != "cpu" or weights.dtype != torch.float64:
                why = f"weights on {weights.device.type!r} in {weights.dtype} (it runs on the CPU in float64)"
            if why is None:
                return _Adjoint(self, vqc, weights)
            if self.gradient == "adjoint":
                raise ValueError(f"gradient='adjoint' cannot run this circuit group: {why}; use gradient='auto' "
                                 "(which falls back to autograd) or 'autograd'")
        return _GROUPS[self.resolve_method(vqc.n_qubits)](self, vqc, weights)
