"""Backends: where circuits run. See :class:`Backend` for the contract.

Names accepted by :func:`get_backend`:

- ``"torch"``: the package's exact state-vector engine (CPU/CUDA, differentiable);
- ``"pennylane"`` or ``"pennylane:<device>"`` (e.g. ``"pennylane:lightning.qubit"``);
- ``"aer"``: Qiskit Aer, exact, or shot-based with ``shots=``;
- ``"ibm:<device>"``: an IBM Quantum device (``"ibm:ibm_brisbane"``, needs
  credentials) or a fake one rehearsed offline (``"ibm:fake_manila"``); use an
  :class:`IBMBackend` object for its options (store, budget, noise, ...).
"""
from __future__ import annotations

from .._validation import check_int
from ._aer import AerBackend
from ._pennylane import PennyLaneBackend
from ._torch import GRADIENTS, MemoryBudgetError, TorchBackend, free_memory, tune_allocator
from .base import Backend
from .ibm import IBMBackend, JobFailedError, StoreLockedError

# The one table of backends by name (and by the "kind" of their saved config).
KINDS = {"torch": TorchBackend, "pennylane": PennyLaneBackend, "aer": AerBackend, "ibm": IBMBackend}
BACKEND_NAMES = ("torch", "pennylane", "pennylane:<device>", "aer", "ibm:<device>")
_NEEDS_DEVICE = ("ibm",)
_TAKES_DEVICE = ("pennylane", "ibm")
# Kinds that act outside the process (QPU time, a store on disk): never built from a saved config.
_NEVER_FROM_CONFIG = ("ibm",)


def get_backend(backend="torch", *, shots=None, seed=None) -> Backend:
    """Resolve a backend name or object; every name, device and option is checked here.

    Parameters
    ----------
    backend : str or Backend
        A name from :data:`BACKEND_NAMES` or a configured backend object.
    shots : int, optional
        Shot count for shot-based backends (``"aer"`` and ``"ibm:<device>"`` by name).
    seed : int, optional
        Seed for shot sampling.

    Raises
    ------
    ValueError
        An unknown name or device (the message lists the valid ones), or
        shots for an exact backend.
    qrnn.MissingExtraError
        The backend's optional packages are not installed; the message names
        the extra, e.g. ``pip install 'qrnn[qiskit]'``.

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
        raise TypeError(f"backend must be a name from {list(BACKEND_NAMES)} or a Backend object, "
                        f"got {type(backend).__name__}")
    kind, _, device = backend.partition(":")
    if kind not in KINDS or (device and kind not in _TAKES_DEVICE) or (not device and backend.endswith(":")):
        raise ValueError(f"unknown backend {backend!r}; expected one of {list(BACKEND_NAMES)} or a Backend object")
    if kind in _NEEDS_DEVICE and not device:
        raise ValueError(f"backend {backend!r} needs a device: 'ibm:<device>', e.g. 'ibm:fake_manila' "
                         "(offline rehearsal) or 'ibm:ibm_brisbane'")
    if kind == "aer":
        return AerBackend(shots=shots, seed=seed)
    if kind == "ibm":
        return IBMBackend(device, shots=shots, seed=seed)
    if shots is not None:
        check_int(shots, "shots", minimum=1)
        raise ValueError(f"backend {backend!r} is exact and takes no shots; use backend='aer' for shots")
    return PennyLaneBackend(device) if device else KINDS[kind]()


def backend_from_config(config: dict) -> Backend:
    """Rebuild a local simulator from :meth:`Backend.to_config` output (used when loading models).

    An IBM configuration is refused: a saved file never configures a live
    device, a call store or a QPU budget (:func:`qrnn.load` loads such a
    reservoir on the torch engine; pass the backend to run it on IBM).
    """
    if not isinstance(config, dict) or config.get("kind") not in KINDS:
        raise ValueError(f"not a backend configuration (kind one of {sorted(KINDS)}): {config!r}")
    if config["kind"] in _NEVER_FROM_CONFIG:
        raise ValueError(f"an {config['kind']!r} backend is never rebuilt from a saved configuration (it names a "
                         "live device, a store and a budget); build it yourself, e.g. "
                         "qrnn.load(path, backend=IBMBackend(...))")
    cfg = dict(config)
    return KINDS[cfg.pop("kind")](**cfg)


__all__ = ["tune_allocator", "warm_up", "GRADIENTS", "free_memory", "MemoryBudgetError", "backend_from_config", "Backend", "TorchBackend", "PennyLaneBackend", "AerBackend",
           "IBMBackend", "JobFailedError", "StoreLockedError", "get_backend", "BACKEND_NAMES", "KINDS"]


def warm_up() -> None:
    """Compile, or load from numba's disk cache, the torch engine's compiled kernels now.

    The stream kernels of frozen reservoirs and the adjoint kernels of
    trained circuits are built on first use: about 40 s of compilation the
    first time on a machine (then cached on disk), about a second to load
    in a new process. Call this before timing anything, so that the first
    timed transform or epoch does not pay for it. Needs numba.

    Examples
    --------
    >>> from qrnn.backends import warm_up
    >>> warm_up()
    """
    from . import _adjoint, _stream

    _stream.kernels()
    _adjoint.warm_up()
