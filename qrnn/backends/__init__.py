"""Backends: where circuits run. See :class:`Backend` for the contract.

Names accepted by :func:`get_backend`:

- ``"torch"``: the package's exact state-vector engine (CPU/CUDA, differentiable);
- ``"pennylane"`` or ``"pennylane:<device>"`` (e.g. ``"pennylane:lightning.qubit"``);
- ``"aer"``: Qiskit Aer, exact, or shot-based with ``shots=``.
"""
from __future__ import annotations

from .._validation import check_int
from ._aer import AerBackend
from ._pennylane import PennyLaneBackend
from ._torch import TorchBackend
from .base import Backend

BACKEND_NAMES = ("torch", "pennylane", "pennylane:<device>", "aer")


def get_backend(backend="torch", *, shots=None, seed=None) -> Backend:
    """Resolve a backend name or object.

    Parameters
    ----------
    backend : str or Backend
        A name from :data:`BACKEND_NAMES` or a configured backend object.
    shots : int, optional
        Shot count for shot-based backends (only ``"aer"`` by name).
    seed : int, optional
        Seed for shot sampling.

    Examples
    --------
    >>> get_backend("torch")
    TorchBackend(method='auto')
    >>> get_backend("aer", shots=1000, seed=1)
    AerBackend(shots=1000, seed=1, method='statevector')
    """
    if isinstance(backend, Backend):
        if shots is not None:
            raise ValueError("shots must be set on the backend object itself, not passed beside it")
        return backend
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name or a Backend object, got {type(backend).__name__}")
    if shots is not None:
        check_int(shots, "shots", minimum=1)
    if backend == "aer":
        return AerBackend(shots=shots, seed=seed)
    if shots is not None:
        raise ValueError(f"backend {backend!r} is exact and takes no shots; use backend='aer' for shots")
    if backend == "torch":
        return TorchBackend()
    if backend == "pennylane":
        return PennyLaneBackend()
    if backend.startswith("pennylane:") and len(backend) > len("pennylane:"):
        return PennyLaneBackend(backend.split(":", 1)[1])
    raise ValueError(f"unknown backend {backend!r}; expected one of {list(BACKEND_NAMES)} or a Backend object")


def backend_from_config(config: dict) -> Backend:
    """Rebuild a backend from :meth:`Backend.to_config` output (used when loading models)."""
    if not isinstance(config, dict) or "kind" not in config:
        raise ValueError(f"not a backend configuration: {config!r}")
    kinds = {"torch": TorchBackend, "pennylane": PennyLaneBackend, "aer": AerBackend}
    cfg = dict(config)
    kind = cfg.pop("kind")
    if kind not in kinds:
        raise ValueError(f"unknown backend kind {kind!r} in configuration")
    return kinds[kind](**cfg)


__all__ = ["backend_from_config", "Backend", "TorchBackend", "PennyLaneBackend", "AerBackend", "get_backend", "BACKEND_NAMES"]
