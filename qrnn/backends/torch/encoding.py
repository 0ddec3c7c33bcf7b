"""The input-dependent prefix of a circuit (its encoding), as a product state."""
from __future__ import annotations

import functools

import numpy as np
import torch

from ...circuit import VQC
from .gates import _FIXED_SO3, _FIXED_SU2, _PAULI, _axis_terms


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

    def wire_amplitudes(self, x: torch.Tensor, bounded: bool = False) -> torch.Tensor:
        """Inputs ``(n_inputs, B)`` -> each wire's complex amplitudes ``(n, 2, B)``."""
        B = x.shape[1]
        if self.m == 0:
            amp = self.amp_maps[:, :, :1].expand(self.n, 4, B)
        else:
            c, s = self._slot_trig(*self.vqc.input_half_angle_trig(x, bounded))
            amp = torch.bmm(self.amp_maps, self._slot_products(torch.stack((c, s), dim=2)))
        return torch.complex(amp[:, 0::2], amp[:, 1::2])

    def amplitudes(self, x: torch.Tensor, bounded: bool = False) -> torch.Tensor:
        """Inputs ``(n_inputs, B)`` -> complex product-state amplitudes ``(2^n, B)``."""
        return _kron_columns(self.wire_amplitudes(x, bounded))


@functools.lru_cache(maxsize=64)
def _encoding(vqc: VQC, rdtype, device) -> _Encoding:
    # The encoding's maps depend on the circuit's layout only, not on its
    # weights: trainable groups, compiled on every forward pass, share them.
    return _Encoding(vqc, rdtype, device)
