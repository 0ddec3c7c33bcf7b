"""The compiled forms of a circuit group: Heisenberg picture, dense unitary, gate by gate, adjoint.

Each evaluates a batch in chunks that fit the torch engine's memory budget
(:mod:`~qrnn.backends.torch.budget`); see :mod:`qrnn.backends.torch` for when each is used.
"""
from __future__ import annotations

import abc
import functools
from typing import TYPE_CHECKING

import numpy as np
import torch

from ...circuit import VQC
from ..base import check_circuit_inputs
from .budget import _UNCHECKED_BYTES, MemoryBudgetError, _human
from .encoding import _encoding, _kron_columns
from .variational import _Variational, wants_derivative

if TYPE_CHECKING:  # for annotations only: the backend module imports this one
    from .backend import TorchBackend


@functools.lru_cache(maxsize=8)
def _z_signs(n: int, observables) -> np.ndarray:
    """``(n_obs, 2^n)``: entry ``[o, b]`` is the eigenvalue of the Z product ``o`` on basis state ``b``.

    Cached (trainable groups are compiled on every forward pass), hence read-only.
    """
    idx = np.arange(2**n)[None, :]
    z = 1.0 - 2.0 * ((idx >> (n - 1 - np.arange(n))[:, None]) & 1)  # (n, 2^n)
    signs = np.ascontiguousarray(np.stack([np.prod(z[list(wires)], axis=0) for wires in observables]))
    signs.flags.writeable = False
    return signs


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

    @functools.cached_property
    def zsigns(self) -> np.ndarray:
        """``(n_obs, 2^n)`` signs of the measured Z products, numpy; built on first use (the fused program
        never needs them: 160 MiB at 20 qubits)."""
        return _z_signs(self.vqc.n_qubits, self.vqc.observables())

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
        # against the free memory: reading it is a system call and a parse (its cost:
        # benchmarks/RESULTS.md, "One-time costs and small engine details"), and trainable
        # groups are compiled on every forward pass. An explicit chunk_bytes is always applied.
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

    def _bloch(self, v, bounded):
        """The wires' homogeneous Bloch vectors ``(n, 4, B)`` after the encoding (the noisy form adds channels)."""
        return self.encoding.bloch(v, bounded)

    def _columns(self, v, bounded):
        n, B, K, n_obs = self.vqc.n_qubits, v.shape[1], self.K, self.n_obs
        bloch = self._bloch(v, bounded)
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
    """Gate-by-gate state vectors; the method for many wires.

    Evaluations that need no gradient run the fused program
    (:mod:`qrnn.backends.torch.fused`: about four cache-blocked passes over
    each state for the paper's 2-layer circuit): in compiled kernels on the
    CPU in float64, in torch operations on other devices (CUDA). Otherwise,
    and for gates the program does not know, the fused torch form
    (:mod:`qrnn.backends.torch.variational`), which autograd differentiates
    and which runs on any device and dtype.
    """

    method = "gates"

    def _build(self, backend):
        from . import fused

        vqc = self.vqc
        self.kernels = self.device.type == "cpu" and self.rdtype == torch.float64
        self.fused = (vqc.n_qubits >= fused.MIN_QUBITS and fused.unsupported(vqc) is None
                      and (self.kernels or self.device.type != "cpu"))
        self._program = self._var = None

    @property
    def program(self):
        """The fused program, built on first use (trainable groups, compiled on every forward pass,
        never need it), or None where it does not apply."""
        if self._program is None and self.fused:
            from .fused import FusedProgram

            self._program = FusedProgram(self.vqc, self.weights)
        return self._program

    @property
    def var(self) -> _Variational:
        if self._var is None:  # built on first use: frozen groups never need it
            self._var = self._variational()
            self.zsigns_t = torch.tensor(self.zsigns, dtype=self.rdtype, device=self.device)  # (n_obs, D)
        return self._var

    def _fused_applies(self, v: torch.Tensor) -> bool:
        """No derivative is wanted: neither a backward pass nor forward-mode tangents (dual tensors)."""
        return self.fused and not wants_derivative(v, self.weights)

    def _sample_bytes(self):
        # the product state, and three complex (K, D) states at the peak of a gate block
        # (five, and a gather index, in the fused program's torch operations)
        D = 2**self.vqc.n_qubits
        if self.fused and not self.kernels:
            return 2 * self.itemsize * D * (1 + 5 * self.K) + 8 * D
        return 2 * self.itemsize * D * (1 + 3 * self.K)

    def columns(self, v, bounded=False):
        if not (self.kernels and self._fused_applies(v)):
            return super().columns(v, bounded)
        from numba import get_num_threads

        prog = self.program
        # samples in parallel with as many threads as their states fit, else one sample at a time
        plan = prog.choose(self.K * v.shape[1], get_num_threads(), self._fits)
        if plan is None:
            need = prog.scratch_bytes("tiles")
            raise MemoryBudgetError(
                f"the 'gates' form of {self.K} circuits on {self.vqc.n_qubits} qubits needs {_human(need)} for its "
                f"state vectors, above the torch engine's memory budget of {_human(self.budget)}; free memory, "
                "use fewer qubits, or raise TorchBackend(chunk_bytes=...)")
        amps = self.encoding.wire_amplitudes(v.detach(), bounded)  # (n, 2, B)
        return torch.from_numpy(prog.run(np.ascontiguousarray(amps.permute(2, 0, 1).numpy()), *plan))

    def _columns(self, v, bounded):
        if self._fused_applies(v):  # another device: the program in torch operations
            return self.program.run_torch(self.encoding.wire_amplitudes(v, bounded))
        psi = self.encoding.amplitudes(v, bounded)
        state = self.var.apply(psi.unsqueeze(0).expand(self.K, *psi.shape))
        return self.zsigns_t @ (state.real.square() + state.imag.square())


class _Adjoint(_CompiledGroup):
    """Trainable circuits as one autograd operation: state vectors and adjoint gradients in compiled code.

    Used for circuits whose weights are being trained (``gradient="auto"`` or
    ``"adjoint"``) on the CPU in float64; see ``qrnn.backends.torch.adjoint``.
    Nothing is precompiled from the weights, so a forward pass costs no
    operator build, and the backward pass is one call instead of autograd
    walking back the build of the operator.
    """

    method = "adjoint"

    def _build(self, backend):
        from .adjoint import program

        self.prog = program(self.vqc)

    def _operator_bytes(self):
        # the program (its index tables) and, per thread, the four state vectors of a backward pass
        from numba import get_num_threads

        from .adjoint import program

        return program(self.vqc).nbytes + get_num_threads() * 4 * 16 * 2**self.vqc.n_qubits

    def _sample_bytes(self):
        # outputs, per-sample weight gradients, and the sample's block matrices and their derivatives
        prog = self.prog
        blocks = prog.sub.shape[0] * (prog.sub.shape[1] + 1) * 4 * 16
        return self.itemsize * self.K * (self.n_obs + self.weights[0].numel()) + blocks

    def _columns(self, v, bounded):
        from .adjoint import AdjointCircuits

        cap = None if bounded else self.vqc.input_cap(v.dtype)
        # constant angles ride along as weights; autograd drops their gradient at the concatenation
        w = self.vqc.with_constants(self.weights.reshape(self.K, -1))
        return AdjointCircuits.apply(v, w, self.prog, cap)


_GROUPS = {cls.method: cls for cls in (_Heisenberg, _Unitary, _GateByGate)}
