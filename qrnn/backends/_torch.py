"""The package's own exact state-vector engine, on torch (CPU or CUDA).

A reservoir's circuits are fixed, so :meth:`TorchBackend.compile` does the
expensive part once per call of a cell and each time step is cheap:

``"heisenberg"``
    Each measured ``Z_k`` is carried into the Heisenberg picture,
    ``O_k = U^dagger Z_k U``, and expanded in Pauli strings. The encoded state
    is a product state, so ``<O_k>`` is the Pauli coefficients dotted with the
    Kronecker product of the wires' Bloch 4-vectors ``(1, x, y, z)``: one real
    matrix product ``(B, 4^n) @ (4^n, K n)`` gives every output of every
    circuit sharing the input. Cost ``K n 4^n`` per sample; best for few wires.
``"unitary"``
    The variational block as a dense unitary per circuit: one complex product
    ``(B, 2^n) @ (2^n, K 2^n)``. Cost ``K 4^n`` per sample.
``"gates"``
    Batched gate-by-gate application: each CNOT block fused into one index
    permutation, each run of single-qubit gates fused into one 2x2 matrix per
    wire. Cost ``~ K L n 2^(n+1)`` per sample; the only choice for many wires.

``"auto"`` picks by qubit count (thresholds from ``benchmarks/RESULTS.md``).
Everything is made of differentiable torch operations, so gradients reach
both the inputs and the weights.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import check_choice, check_int
from ..circuit import VQC, Op
from .base import Backend

METHODS = ("auto", "heisenberg", "unitary", "gates")

_SQRT1_2 = 1.0 / math.sqrt(2.0)

# Bloch-sphere action of the single-qubit gates: fixed gates as 3x3 rotations,
# angle gates as R(theta) = P + cos(theta) Q + sin(theta) S about an axis.
_FIXED_SO3 = {"H": np.array([[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]])}
_AXES = {"RX": np.array([1.0, 0.0, 0.0]), "RY": np.array([0.0, 1.0, 0.0]), "RZ": np.array([0.0, 0.0, 1.0])}


def _axis_terms(name: str):
    n = _AXES[name]
    cross = np.array([[0.0, -n[2], n[1]], [n[2], 0.0, -n[0]], [-n[1], n[0], 0.0]])
    proj = np.outer(n, n)
    return proj, np.eye(3) - proj, cross


def _gate_matrix(name: str, angle: torch.Tensor | None, cdtype, device) -> torch.Tensor:
    """2x2 matrix of a single-qubit gate; ``angle`` of any shape gives ``(*shape, 2, 2)``."""
    if name == "H":
        return torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=cdtype, device=device) * _SQRT1_2
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
        raise ValueError(f"unknown single-qubit gate {name!r}")
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def _cnot_perm(n: int, control: int, target: int) -> np.ndarray:
    idx = np.arange(2**n)
    cbit = (idx >> (n - 1 - control)) & 1
    return idx ^ (cbit << (n - 1 - target))


def _z_signs(n: int, dtype, device) -> torch.Tensor:
    """``(2^n, n)``: entry ``[b, k]`` is the eigenvalue of ``Z_k`` on basis state ``b``."""
    idx = np.arange(2**n)[:, None]
    bits = (idx >> (n - 1 - np.arange(n))[None, :]) & 1
    return torch.as_tensor(1.0 - 2.0 * bits, dtype=dtype, device=device)


def _kron_rows(vectors: torch.Tensor) -> torch.Tensor:
    """Row-wise Kronecker product over axis 1: ``(B, n, d) -> (B, d^n)``, axis 0 most significant."""
    B, n = vectors.shape[:2]
    out = vectors[:, n - 1]
    # Built from the last factor so that the long, contiguous axis is innermost
    # in every broadcast product (twice as fast as the other order on CPU).
    for w in range(n - 2, -1, -1):
        out = (vectors[:, w, :, None] * out[:, None, :]).reshape(B, -1)
    return out


_PAULI = {
    "I": np.eye(2, dtype=complex),
    "RX": np.array([[0, 1], [1, 0]], dtype=complex),
    "RY": np.array([[0, -1j], [1j, 0]]),
    "RZ": np.array([[1, 0], [0, -1]], dtype=complex),
}
_FIXED_SU2 = {"H": np.array([[1, 1], [1, -1]], dtype=complex) * _SQRT1_2}


class _Encoding:
    """The input-dependent prefix: single-qubit gates on ``|0...0>``, hence a product state.

    Each wire's state is multilinear in the trigonometric functions of its
    angles ``t_j``: its Bloch vector in ``(1, cos t_j, sin t_j)``, its
    amplitudes in ``(cos t_j/2, sin t_j/2)``. The constant maps are built once
    here, so a step costs a few elementwise operations and one small einsum.
    """

    def __init__(self, vqc: VQC, rdtype, cdtype, device):
        self.n = vqc.n_qubits
        per_wire = [[] for _ in range(self.n)]
        for op in vqc.encoding_ops():
            if op.name == "CNOT":
                raise ValueError("the torch engine needs an encoding of single-qubit gates only")
            for i, q in enumerate(op.wires):
                ref = None if op.params is None else op.params[i]
                if ref is not None and ref[0] != "x":
                    raise ValueError("encoding gates may only take input angles")
                per_wire[q].append((op.name, ref))
        self.m = max(sum(r is not None for _, r in gates) for gates in per_wire)
        pad = vqc.n_angles  # index of a zero column appended to the angles
        index, bloch, amps = [], [], []
        for gates in per_wire:
            slots = [r[1] for _, r in gates if r is not None]
            index.extend(slots + [pad] * (self.m - len(slots)))
            bloch.append(self._bloch_map(gates))
            amps.append(self._amplitude_map(gates))
        self.angle_index = torch.as_tensor(index, dtype=torch.long, device=device)
        # The paper's layout reads the angles in order: no gather needed then.
        self.identity_layout = index == list(range(vqc.n_angles))
        self.bloch_maps = torch.as_tensor(np.stack(bloch), dtype=rdtype, device=device)
        amps = np.stack(amps).transpose(0, 2, 1)  # (n, 2^m, 2) complex
        # Stored as real (n, 2^m, 4) = (re0, im0, re1, im1): one real einsum per step.
        self.amp_maps = torch.as_tensor(
            np.ascontiguousarray(amps).view(np.float64), dtype=rdtype, device=device)
        self.cdtype = cdtype

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
            else:  # R(t) = cos(t/2) I - i sin(t/2) P
                v = np.stack([v, -1j * (_PAULI[name] @ v)], axis=-1).reshape(2, -1)
        while v.shape[1] < 2**self.m:  # unused slots get angle 0: cos 0 = 1
            v = np.stack([v, 0 * v], axis=-1).reshape(2, -1)
        return v

    def _slot_angles(self, angles: torch.Tensor) -> torch.Tensor:
        B = angles.shape[0]
        if self.identity_layout:
            return angles.view(B, self.n, self.m)
        padded = torch.cat((angles, angles.new_zeros(B, 1)), dim=1)
        return padded.index_select(1, self.angle_index).view(B, self.n, self.m)

    @staticmethod
    def _slot_products(trig: torch.Tensor) -> torch.Tensor:
        """``(B, n, m, d) -> (B, n, d^m)``: Kronecker product over the slots of each wire."""
        feats = trig[:, :, 0]
        for j in range(1, trig.shape[2]):
            feats = (feats[..., :, None] * trig[:, :, j, None, :]).flatten(-2)
        return feats

    def bloch(self, angles: torch.Tensor) -> torch.Tensor:
        """``(B, A)`` angles -> ``(B, n, 4)`` homogeneous Bloch vectors ``(1, x, y, z)``."""
        B = angles.shape[0]
        if self.m == 0:
            return self.bloch_maps[:, :, 0].expand(B, self.n, 4)
        t = self._slot_angles(angles)
        trig = torch.stack((torch.ones_like(t), torch.cos(t), torch.sin(t)), dim=-1)
        return torch.einsum("bwj,wij->bwi", self._slot_products(trig), self.bloch_maps)

    def amplitudes(self, angles: torch.Tensor) -> torch.Tensor:
        """``(B, A)`` angles -> ``(B, 2^n)`` product-state amplitudes."""
        B = angles.shape[0]
        if self.m == 0:
            amp = self.amp_maps[:, 0].expand(B, self.n, 4)
        else:
            half = self._slot_angles(angles) * 0.5
            trig = torch.stack((torch.cos(half), torch.sin(half)), dim=-1)
            amp = torch.einsum("bwj,wji->bwi", self._slot_products(trig), self.amp_maps)
        return _kron_rows(torch.view_as_complex(amp.reshape(B, self.n, 2, 2)))


class _Variational:
    """The weight-only suffix, fused: CNOT blocks to permutations, local runs to 2x2s."""

    def __init__(self, vqc: VQC, weights: torch.Tensor, cdtype):
        self.n = vqc.n_qubits
        self.K = K = weights.shape[0]
        flat = weights.reshape(K, -1)
        device = weights.device
        steps: list = []
        pending: dict[int, torch.Tensor] = {}
        perm = None

        def flush_local():
            if pending:
                wires = sorted(pending)
                steps.append(("local", wires, torch.stack([pending[q] for q in wires], dim=1)))
                pending.clear()

        def flush_perm():
            nonlocal perm
            if perm is not None:
                steps.append(("perm", torch.as_tensor(perm, device=device)))
                perm = None

        for op in vqc.variational_ops():
            if op.name == "CNOT":
                flush_local()
                for c, t in op.wires:
                    p = _cnot_perm(self.n, c, t)
                    perm = p if perm is None else perm[p]
            else:
                flush_perm()
                for i, q in enumerate(op.wires):
                    ref = op.params[i]
                    if ref[0] != "w":
                        raise ValueError("variational gates may only take weights")
                    g = _gate_matrix(op.name, flat[:, ref[1]], cdtype, device)
                    pending[q] = g if q not in pending else g @ pending[q]
        flush_local()
        flush_perm()
        self.steps = steps

    def apply(self, state: torch.Tensor) -> torch.Tensor:
        """Apply to ``(K, B, 2^n)`` states (amplitude index last)."""
        K, B, D = state.shape
        n = self.n
        for step in self.steps:
            if step[0] == "perm":
                state = state.index_select(-1, step[1])
                continue
            _, wires, mats = step
            for i, q in enumerate(wires):
                s = state.reshape(K, B, 2**q, 2, 2 ** (n - q - 1))
                state = torch.einsum("kij,kbajc->kbaic", mats[:, i], s).reshape(K, B, D)
        return state

    def unitaries(self, cdtype, device) -> torch.Tensor:
        """``(K, 2^n, 2^n)`` unitaries, built by applying the block to every basis state."""
        K, D = self.K, 2**self.n
        eye = torch.eye(D, dtype=cdtype, device=device).expand(K, D, D)
        return self.apply(eye).transpose(-1, -2)


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


class _Compiled:
    """Callable ``(B, n_inputs) -> (K, B, n)`` for one group of circuits."""

    def __init__(self, backend: "TorchBackend", vqc: VQC, weights: torch.Tensor):
        self.vqc = vqc
        self.K = weights.shape[0]
        rdtype = weights.dtype
        cdtype = torch.complex128 if rdtype == torch.float64 else torch.complex64
        self.rdtype, self.cdtype = rdtype, cdtype
        device = weights.device
        self.method = backend.resolve_method(vqc.n_qubits)
        self.chunk_bytes = backend.chunk_bytes
        self.encoding = _Encoding(vqc, rdtype, cdtype, device)
        var = _Variational(vqc, weights, cdtype)
        n = vqc.n_qubits
        if self.method == "gates":
            self.var = var
            self.zsigns = _z_signs(n, rdtype, device)
            return
        U = var.unitaries(cdtype, device)
        if self.method == "unitary":
            self.u_all_t = U.reshape(self.K * 2**n, 2**n).transpose(0, 1).contiguous()
            # |a|^2 z = (re^2 + im^2) z: sign rows repeated for the (re, im) pairs
            self.zsigns2 = _z_signs(n, rdtype, device).repeat_interleave(2, dim=0)
            return
        z = _z_signs(n, rdtype, device).to(cdtype)  # (D, n)
        # O[k, j] = U_k^dagger diag(z_j) U_k for every circuit k and measured wire j
        heis = torch.einsum("kai,aj,kab->kjib", U.conj(), z, U)
        coeffs = _pauli_coefficients(heis.reshape(self.K * n, 2**n, 2**n), n)
        self.coeffs_t = coeffs.transpose(0, 1).contiguous()  # (4^n, K n)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        B, n = x.shape[0], self.vqc.n_qubits
        angles = self.vqc.input_angles(x.to(self.rdtype))
        if self.method == "heisenberg":
            feats = _kron_rows(self.encoding.bloch(angles))
            return (feats @ self.coeffs_t).view(B, self.K, n).transpose(0, 1)
        psi = self.encoding.amplitudes(angles)
        if self.method == "unitary":
            sq = torch.view_as_real(psi @ self.u_all_t).square()
            return (sq.view(B, self.K, 2 ** (n + 1)) @ self.zsigns2).transpose(0, 1)
        # Bound the (K, chunk, 2^n) working set; many wires make it large.
        per_sample = self.K * 2**n * 16 * 3
        chunk = max(1, min(B, self.chunk_bytes // per_sample))
        outs = []
        for start in range(0, B, chunk):
            p = psi[start : start + chunk]
            state = self.var.apply(p.unsqueeze(0).expand(self.K, *p.shape))
            probs = state.real.square() + state.imag.square()
            outs.append(probs @ self.zsigns)
        return torch.cat(outs, dim=1)


class TorchBackend(Backend):
    """Exact state-vector engine on torch, batched over samples and circuits.

    Parameters
    ----------
    method : {"auto", "heisenberg", "unitary", "gates"}, default "auto"
        How a circuit group is compiled (see the module docstring).
    heisenberg_max_qubits, unitary_max_qubits : int
        ``"auto"`` uses the Heisenberg form up to the first, the dense unitary
        up to the second, and gate-by-gate beyond.
    chunk_bytes : int, default 512 MiB
        Working-set bound for gate-by-gate evaluation; batches are split to fit.

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

    def __init__(self, method: str = "auto", heisenberg_max_qubits: int = 3,
                 unitary_max_qubits: int = 10, chunk_bytes: int = 512 * 2**20):
        self.method = check_choice(method, "method", METHODS)
        self.heisenberg_max_qubits = check_int(heisenberg_max_qubits, "heisenberg_max_qubits", minimum=0)
        self.unitary_max_qubits = check_int(unitary_max_qubits, "unitary_max_qubits", minimum=0)
        self.chunk_bytes = check_int(chunk_bytes, "chunk_bytes", minimum=1)

    def __repr__(self) -> str:
        return f"TorchBackend(method={self.method!r})"

    def resolve_method(self, n_qubits: int) -> str:
        if self.method != "auto":
            return self.method
        if n_qubits <= self.heisenberg_max_qubits:
            return "heisenberg"
        if n_qubits <= self.unitary_max_qubits:
            return "unitary"
        return "gates"

    def compile(self, vqc: VQC, weights: torch.Tensor):
        self.check_weights(vqc, weights)
        return _Compiled(self, vqc, weights)
