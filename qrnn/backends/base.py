"""The backend contract: K circuits on B encoded inputs -> expectation values (K, B, n)."""
from __future__ import annotations

import abc

import numpy as np
import torch

from .._validation import check_real_tensor
from ..circuit import COMPUTE_DTYPES, VQC


class Backend(abc.ABC):
    """Evaluates groups of circuits that share one input.

    A backend's :meth:`compile` takes a circuit description and the weights of
    ``K`` circuits, shape ``(K, L, n, 3)``, and returns a callable mapping
    inputs ``(B, n_inputs)`` to ``<Z_k>`` on every wire, ``(K, B, n)``; its
    ``columns`` method does the same batch-last, ``(n_inputs, B) -> (K, n, B)``,
    which is what the cells call once per time step (they compile once per
    sequence).

    Attributes
    ----------
    name : str
    exact : bool
        False for shot-based estimates.
    differentiable : bool
        Whether gradients flow through the results (only the torch engine).
    """

    name = "base"
    exact = True
    differentiable = False

    @abc.abstractmethod
    def compile(self, vqc: VQC, weights: torch.Tensor):
        """The callable for ``K`` circuits with these weights (see the class docstring)."""

    @abc.abstractmethod
    def to_config(self) -> dict:
        """JSON-serialisable constructor arguments, with ``"kind"``, for saving models."""

    def run_recurrence(self, cell, xs: torch.Tensor, state):
        """The whole recurrence of ``cell`` in one go, or ``None`` to let the cell step through it.

        A backend may offer a faster way to run a cell over a sequence than
        one circuit call per step (the torch engine compiles whole
        recurrences of the built-in cells). ``xs`` is ``(B, T, input_size)``
        (scaled, and capped where the encoding caps; read it, never write to
        it), ``state`` the cell's state tuple, batch last; the
        result is ``(features (B, T, n_features), state)``. The default, and
        the answer for any cell or setting a backend has no kernel for, is
        ``None``: the cell then runs its own step, the general path.
        """
        return None

    def lockstep_key(self):
        """``None``, or an object whose ``run_lockstep(fns)`` runs several reservoirs' transforms together.

        An :class:`~qrnn.Ensemble` runs members whose backends return the same
        object through it, so that a backend that pays per call (IBM devices)
        can carry every member's circuits of a round in one call.
        """
        return None

    @staticmethod
    def check_weights(vqc: VQC, weights: torch.Tensor) -> None:
        if not isinstance(weights, torch.Tensor) or not weights.is_floating_point():
            raise TypeError("weights must be a real floating-point torch.Tensor")
        if weights.dtype not in COMPUTE_DTYPES:  # half precision cannot hold the input cap
            raise TypeError(f"weights must have a dtype in {list(COMPUTE_DTYPES)}, got {weights.dtype}")
        if weights.ndim != 1 + len(vqc.weight_shape) or tuple(weights.shape[1:]) != vqc.weight_shape:
            raise ValueError(
                f"weights must have shape (K, {', '.join(map(str, vqc.weight_shape))}), "
                f"got {tuple(weights.shape)}"
            )


def check_circuit_inputs(vqc: VQC, x, weights: torch.Tensor) -> torch.Tensor:
    """Validate inputs ``(B, n_inputs)`` given to a compiled circuit group directly.

    One rule on every backend: ``x`` has the dtype and device of the weights
    the group was compiled with, or it is refused with a message naming both
    (never a silent cast, and never a result in another precision).
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a real floating-point torch.Tensor, got {type(x).__name__} "
                        f"{getattr(x, 'dtype', '')}".rstrip())
    if x.dtype != weights.dtype:
        raise TypeError(f"x has dtype {x.dtype} but these circuits were compiled with {weights.dtype} weights; "
                        f"convert one of them")
    if x.device != weights.device:
        raise ValueError(f"x is on device {x.device} but these circuits were compiled on {weights.device}")
    if x.ndim != 2 or x.shape[1] != vqc.n_inputs or x.shape[0] == 0:
        raise ValueError(f"x must have shape (B >= 1, n_inputs={vqc.n_inputs}), got {tuple(x.shape)}")
    return check_real_tensor(x, "x")


class NumpyCompiled:
    """Adapter for backends that compute in numpy: tensors in, tensors out, no gradients."""

    def __init__(self, backend: Backend, fn, weights: torch.Tensor, vqc: VQC):
        self.backend, self.fn, self.vqc = backend, fn, vqc
        self.weights = weights.detach()  # for the dtype and device of its inputs
        if weights.requires_grad:
            raise ValueError(
                f"backend {backend.name!r} is not differentiable; trainable circuits need "
                "backend='torch'"
            )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(check_circuit_inputs(self.vqc, x, self.weights))

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if x.requires_grad:
            raise ValueError(
                f"backend {self.backend.name!r} is not differentiable; use backend='torch' "
                "for gradients"
            )
        out = self.fn(x.detach().cpu().numpy().astype(np.float64, copy=False))
        return torch.as_tensor(out, dtype=x.dtype, device=x.device)

    def columns(self, v: torch.Tensor, bounded: bool = False) -> torch.Tensor:
        """Batch-last form used by the cells: ``(n_inputs, B) -> (K, n, B)``."""
        return self._run(v.transpose(0, 1)).transpose(1, 2)
