"""Device noise and shots on the torch engine: the Heisenberg form with channels, and Z-basis sampling.

Noise (:class:`qrnn.backends.Noise`) is a channel after every gate. In the
Heisenberg picture a measured Pauli product is carried back through the
circuit, gate by gate and channel by channel, as real coefficients over the
``4^n`` Pauli strings (each gate and channel a Pauli transfer matrix on its
wires): the noisy circuit costs its operator build once per group, and a
time step costs the same product with the wires' Bloch vectors as the
noiseless Heisenberg form. The encoding's gates depend on the inputs, so
their channels act on each wire's Bloch vector at every step (the encoded
state stays a product state: every channel there is on one wire).

Shots sample, for each circuit and input, ``N`` outcomes of all wires from
the exact (noisy) distribution of the computational basis, and form every
feature from the same outcomes, as hardware measures. The distribution
comes from the expectation values of all ``2^n`` Z products (Heisenberg
form; a Walsh-Hadamard transform turns them into probabilities, and a
readout flip is a factor on each of them) or, for many noiseless wires,
from state vectors. Each call's draws come from a generator seeded by the
backend's seed and the call's weights and inputs, as ``AerBackend`` does.
"""
from __future__ import annotations

import hashlib
import math
import os

import numpy as np
import torch

from ...circuit import GATES, VQC
from .budget import MemoryBudgetError, _human
from .forms import _CompiledGroup, _Heisenberg, _z_signs
from .gates import _AXES, _FIXED_SO3, _FIXED_SU2, _axis_terms, _gate_matrix

_PAULI_2x2 = np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])
_TWO_WIRE = {"CNOT": np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex),
             "SWAP": np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)}


def _pauli_basis(k: int) -> np.ndarray:
    """``(4^k, 2^k, 2^k)``: the Pauli strings on ``k`` wires, the first wire most significant."""
    basis = _PAULI_2x2
    for _ in range(k - 1):
        basis = np.einsum("aij,bkl->abikjl", basis, _PAULI_2x2).reshape(
            basis.shape[0] * 4, basis.shape[1] * 2, basis.shape[2] * 2)
    return basis


def _ptm(u: torch.Tensor) -> torch.Tensor:
    """Pauli transfer matrices ``R[a, b] = Tr(P_a U P_b U^dagger) / d`` of unitaries ``(K, d, d)``: ``(K, d^2, d^2)``."""
    d = u.shape[-1]
    p = torch.as_tensor(_pauli_basis(int(math.log2(d))), dtype=u.dtype, device=u.device)
    left = torch.einsum("aij,kjl->kail", p, u)  # P_a U
    right = torch.einsum("blm,kim->kbli", p, u.conj())  # P_b U^dagger, indexed to close the trace
    return torch.einsum("kail,kbli->kab", left, right).real / d


def _two_wire_unitary(name: str, theta, K: int, cdtype, device) -> torch.Tensor:
    spec = GATES[name]
    if name in _TWO_WIRE:
        return torch.as_tensor(_TWO_WIRE[name], dtype=cdtype, device=device).expand(K, 4, 4)
    phases = torch.as_tensor(spec.phases, dtype=torch.float64, device=device)
    if spec.n_params == 0:  # fixed signs
        return torch.diag_embed(phases.to(cdtype)).expand(K, 4, 4)
    angles = theta[:, None] * phases.to(theta.dtype)
    return torch.diag_embed(torch.polar(torch.ones_like(angles), angles).to(cdtype))


def _is_rot_start(vqc: VQC, name: str, ref) -> bool:
    """In the paper's ansatz ``Rot = RZ RY RZ`` is one gate: no channel after its first two rotations."""
    return vqc.ansatz.name == "paper" and ref is not None and ref[0] == "w" and ref[1] % 3 != 2


def transfer_steps(vqc: VQC, weights: torch.Tensor, noise) -> list:
    """The variational part as ``(wires, R)`` steps in circuit order, ``R (K, 4^k, 4^k)`` real: each gate's
    Pauli transfer matrix with the channel that follows it; one-wire runs are multiplied into one step."""
    K, n = weights.shape[0], vqc.n_qubits
    rdtype, device = weights.dtype, weights.device
    cdtype = torch.complex128 if rdtype == torch.float64 else torch.complex64
    flat = vqc.with_constants(weights.reshape(K, -1))
    one = [torch.as_tensor(m, dtype=rdtype, device=device) for m in noise.one_wire(n)] if noise else None
    steps, pending = [], {}

    def flush(wires):
        for q in wires:
            if q in pending:
                steps.append(((q,), pending.pop(q)))

    for name, wires, ref in vqc.variational_gates():
        spec = GATES[name]
        theta = None if ref is None else flat[:, vqc.slot(ref)]
        if spec.n_wires == 1:
            q = wires[0]
            if spec.kind == "fixed":
                u = torch.as_tensor(_FIXED_SU2[name], dtype=cdtype, device=device).expand(K, 2, 2)
            else:
                u = _gate_matrix(name, theta, cdtype)
            r = _ptm(u)
            if one is not None and not _is_rot_start(vqc, name, ref):
                r = one[q] @ r
            pending[q] = r if q not in pending else r @ pending[q]
            continue
        flush(wires)
        r = _ptm(_two_wire_unitary(name, theta, K, cdtype, device))
        if noise:
            r = torch.as_tensor(noise.two_wire(n, *wires), dtype=rdtype, device=device) @ r
        steps.append((tuple(wires), r))
    flush(sorted(pending))
    return steps


def heisenberg_coefficients(vqc: VQC, weights: torch.Tensor, noise, masks) -> torch.Tensor:
    """``(K, len(masks), 4^n)``: the Pauli coefficients of each Z product (a bit mask over the wires, wire 0
    the most significant bit) carried back through the noisy variational part, readout factors included."""
    K, n = weights.shape[0], vqc.n_qubits
    idx = []
    for m in masks:  # the Pauli index of Z on the mask's wires: digit 3 in base 4
        idx.append(sum(3 * 4 ** (n - 1 - w) for w in range(n) if m >> (n - 1 - w) & 1))
    c = torch.zeros(K, len(masks), 4**n, dtype=weights.dtype, device=weights.device)
    c[:, torch.arange(len(masks)), torch.as_tensor(idx)] = 1.0
    if noise:
        f = noise.readout_factors(n)
        scale = [float(np.prod([f[w] for w in range(n) if m >> (n - 1 - w) & 1])) for m in masks]
        c = c * torch.as_tensor(scale, dtype=c.dtype, device=c.device)[None, :, None]
    c = c.reshape((K, len(masks)) + (4,) * n)
    for wires, r in reversed(transfer_steps(vqc, weights, noise)):
        # Heisenberg picture: c -> c R on the step's wires (c_j = sum_i c_i R_ij)
        axes = [2 + w for w in wires]
        last = list(range(c.ndim - len(wires), c.ndim))
        moved = c.movedim(axes, last)
        out = moved.reshape(K, -1, 4 ** len(wires)) @ r
        c = out.reshape(moved.shape).movedim(last, axes)
    return c.reshape(K, len(masks), 4**n)


class _NoisyEncoding:
    """Each wire's Bloch vector after the encoding's gates, each followed by its channel (one-wire: a product state)."""

    def __init__(self, vqc: VQC, noise, rdtype, device):
        self.vqc, self.n = vqc, vqc.n_qubits
        as_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=rdtype, device=device)  # noqa: E731
        channels = noise.one_wire(self.n) if noise else [np.eye(4)] * self.n
        self.ops = []
        for op in vqc.encoding_ops():
            wires = list(op.wires)
            chan = as_t(np.stack([channels[q] for q in wires]))  # (w, 4, 4)
            if op.params is None:
                rot = np.eye(4)
                rot[1:, 1:] = _FIXED_SO3[op.name]
                self.ops.append((wires, None, as_t(rot), chan))
            else:
                if op.name not in _AXES or any(r[0] != "x" for r in op.params):
                    raise ValueError(f"the torch engine's noisy form cannot encode with gate {op.name!r}")
                terms = tuple(as_t(t) for t in _axis_terms(op.name))
                self.ops.append((wires, [r[1] for r in op.params], terms, chan))
        self.start = as_t([1.0, 0.0, 0.0, 1.0])

    def bloch(self, v: torch.Tensor) -> torch.Tensor:
        """Inputs ``(n_inputs, B)`` -> homogeneous Bloch vectors ``(n, 4, B)``."""
        B = v.shape[1]
        r = [self.start[:, None].expand(4, B)] * self.n
        angles = self.vqc.input_angles(v.transpose(0, 1)).transpose(0, 1) if self.ops else None  # (A, B)
        for wires, cols, terms, chan in self.ops:
            x = torch.stack([r[q] for q in wires])  # (w, 4, B)
            if cols is None:
                x = terms @ x
            else:
                t = angles[cols][:, None, :]  # (w, 1, B)
                p, q, s = terms
                xyz = x[:, 1:]
                xyz = p @ xyz + torch.cos(t) * (q @ xyz) + torch.sin(t) * (s @ xyz)
                x = torch.cat((x[:, :1], xyz), dim=1)
            x = chan @ x
            for i, q in enumerate(wires):
                r[q] = x[i]
        return torch.stack(r)


def _masks(observables, n: int) -> list[int]:
    return [sum(1 << (n - 1 - w) for w in wires) for wires in observables]


class _NoisyHeisenberg(_Heisenberg):
    """Exact expectation values of the noisy circuit (module docstring); autograd reaches the weights."""

    method = "noisy"

    def __init__(self, backend, vqc, weights, masks=None):
        self.noise = backend.noise
        self.masks = _masks(vqc.observables(), vqc.n_qubits) if masks is None else masks
        super().__init__(backend, vqc, weights)

    def _build(self, backend):
        n = self.vqc.n_qubits
        if self.noise:
            self.noise.check_wires(n)
        self.n_obs = len(self.masks)
        coeffs = heisenberg_coefficients(self.vqc, self.weights, self.noise, self.masks)
        self.coeffs = coeffs.reshape(self.K * self.n_obs * 4, 4 ** (n - 1))
        self.noisy_encoding = _NoisyEncoding(self.vqc, self.noise, self.rdtype, self.device)

    def _operator_bytes(self):
        # the coefficients and a moved copy of them at each step of the propagation
        return 3 * self.K * len(self.masks) * 4**self.vqc.n_qubits * self.itemsize

    def _bloch(self, v, bounded):
        return self.noisy_encoding.bloch(v)


def call_rng(seed, weights: torch.Tensor, v: torch.Tensor) -> np.random.Generator:
    """The generator of one call: from an int seed and the call's weights and inputs (reproducible whatever ran
    before), a Generator's next draw, or fresh entropy for None (as ``AerBackend`` seeds its sampler)."""
    if seed is None:
        return np.random.default_rng(int.from_bytes(os.urandom(16), "little"))
    if isinstance(seed, np.random.Generator):
        return np.random.default_rng(seed.integers(2**63 - 1, size=2))
    digest = hashlib.sha256(str(seed).encode())
    digest.update(np.ascontiguousarray(weights.detach().cpu().numpy()).tobytes())
    digest.update(np.ascontiguousarray(v.detach().cpu().numpy()).tobytes())
    return np.random.default_rng(np.frombuffer(digest.digest()[:16], dtype=np.uint32))


class _Sampled(_CompiledGroup):
    """Shot estimates: ``N`` Z-basis outcomes per circuit and input from the (noisy) distribution (module docstring)."""

    method = "shots"

    def __init__(self, backend, vqc, weights):
        self.shots, self.seed, self.noise = backend.shots, backend.seed, backend.noise
        n = vqc.n_qubits
        self.via_heisenberg = bool(self.noise) or backend.resolve_method(n) == "heisenberg"
        self.D = 2**n
        super().__init__(backend, vqc, weights)

    def _build(self, backend):
        n = self.vqc.n_qubits
        self.signs = np.ascontiguousarray(_z_signs(n, self.vqc.observables()).T)  # (2^n, n_obs)
        if self.via_heisenberg:
            # every Z product but the identity (whose value is 1): their values give the distribution
            self.products = _NoisyHeisenberg(backend, self.vqc, self.weights, masks=list(range(1, self.D)))
            idx = np.arange(self.D)
            parity = np.array([bin(i).count("1") & 1 for i in range(self.D)])
            walsh = 1.0 - 2.0 * parity[idx[:, None] & idx[None, :]]  # (-1)^{popcount(b & S)}
            self.walsh = torch.as_tensor(walsh / self.D, dtype=self.rdtype, device=self.device)
        else:
            from .variational import _Variational

            self.var = _Variational(self.vqc, self.weights, self.cdtype)

    def _operator_bytes(self):
        if not self.via_heisenberg:
            return 0
        return 3 * self.K * self.D * 4**self.vqc.n_qubits * self.itemsize

    def _sample_bytes(self):
        # the probabilities, their float64 copy and the int64 counts: 2^n per circuit (a chunk is sampled and
        # reduced to its features before the next is computed)
        outcomes = self.K * self.D * (self.itemsize + 16)
        if self.via_heisenberg:
            n = self.vqc.n_qubits
            return outcomes + self.itemsize * (2 * 4 ** (n - 1) + 2 * 4 * self.K * self.D + 2 * self.K * self.D)
        return outcomes + 2 * self.itemsize * self.D * (1 + 3 * self.K)

    def _columns(self, v, bounded):
        """``(K, 2^n, B)`` basis-state probabilities."""
        if self.via_heisenberg:
            values = self.products._columns(v, bounded)  # (K, 2^n - 1, B)
            values = torch.cat((values.new_ones(self.K, 1, v.shape[1]), values), dim=1)
            return self.walsh @ values
        psi = self.encoding.amplitudes(v, bounded)
        state = self.var.apply(psi.unsqueeze(0).expand(self.K, *psi.shape))
        return state.real.square() + state.imag.square()

    def _sample(self, probs: torch.Tensor, rng) -> torch.Tensor:
        """``(K, 2^n, b)`` probabilities -> ``(K, n_obs, b)`` shot estimates, drawn sample by sample (sample-major:
        the draws of a sample do not depend on how the batch was split to fit the memory budget)."""
        K, b = self.K, probs.shape[2]
        p = probs.permute(2, 0, 1).reshape(b * K, self.D).cpu().numpy().astype(np.float64)
        np.clip(p, 0.0, None, out=p)  # rounding leaves -1e-17 where a probability is 0
        p /= p.sum(axis=1, keepdims=True)
        counts = rng.multinomial(self.shots, p)  # (b K, 2^n)
        feats = (counts @ self.signs) / self.shots  # every feature from the same shots
        return torch.as_tensor(feats.reshape(b, K, -1), dtype=self.rdtype, device=self.device).permute(1, 2, 0)

    def columns(self, v, bounded=False):
        rng = call_rng(self.seed, self.weights, v)
        B = v.shape[1]
        per_sample = self._sample_bytes()
        chunk = B if self._fits(per_sample * B) else self.budget // per_sample
        if chunk < 1:
            raise MemoryBudgetError(
                f"one sample of {self.K} circuits on {self.vqc.n_qubits} qubits with shots needs {_human(per_sample)} "
                f"for its outcome probabilities, above the torch engine's memory budget of {_human(self.budget)}; "
                "free memory, use fewer qubits, or raise TorchBackend(chunk_bytes=...)")
        with torch.no_grad():  # compile refuses trainable weights in grad mode: these are estimates
            parts = [self._sample(self._columns(v[:, i:i + chunk], bounded), rng) for i in range(0, B, chunk)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)
