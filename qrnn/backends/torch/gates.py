"""The one-wire gates the torch engine knows, as actions on Bloch vectors and on amplitudes."""
from __future__ import annotations

import math

import numpy as np
import torch


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
