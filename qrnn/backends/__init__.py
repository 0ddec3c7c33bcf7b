"""Backends: where circuits run. See :class:`Backend` for the contract.

Names accepted by :func:`get_backend` (the registry :data:`BACKENDS`;
:func:`register_backend` adds one of your own):

- ``"torch"``: the package's own engine (CPU/CUDA, differentiable): exact, or with ``shots=``
  (and ``noise=`` on a :class:`TorchBackend` object, a :class:`Noise`);
- ``"pennylane"`` or ``"pennylane:<device>"`` (e.g. ``"pennylane:lightning.qubit"``);
- ``"aer"``: Qiskit Aer, exact, or shot-based with ``shots=``;
- ``"ibm:<device>"``: an IBM Quantum device (``"ibm:ibm_brisbane"``, needs
  credentials) or a fake one rehearsed offline (``"ibm:fake_manila"``); use an
  :class:`IBMBackend` object for its options (store, budget, noise, ...).
"""
from __future__ import annotations

from .._validation import check_bool, check_choice, check_int
from ..registry import Registry
from ._aer import AerBackend
from ._pennylane import PennyLaneBackend
from .base import Backend
from .ibm import IBMBackend, JobFailedError, StoreLockedError
from .noise import Noise
from .torch import GRADIENTS, MemoryBudgetError, TorchBackend, free_memory, tune_allocator

#: Backends by name (the part of a name before any ``":<device>"``, and the "kind" of a saved config).
BACKENDS = Registry("backend")


def register_backend(name: str, cls: type, *, device: str = "none", shots: bool = False, from_file: bool = False,
                     replace: bool = False) -> type:
    """Make a :class:`Backend` of your own available by name: ``backend="name"`` or ``"name:<device>"``.

    Parameters
    ----------
    name : str
        The name (no ``":"``); ``cls().to_config()["kind"]`` should be it, so
        that a saved model names it.
    cls : type
        A :class:`Backend` subclass. By name it is built as ``cls()``, or
        ``cls(device)`` for ``"name:<device>"``, with ``shots=`` and
        ``seed=`` passed when ``shots`` is True.
    device : {"none", "optional", "required"}, default "none"
        Whether a name may, or must, carry ``":<device>"``.
    shots : bool, default False
        Whether it takes ``shots=`` and ``seed=`` by name (exact backends refuse shots).
    from_file : bool, default False
        Whether a model file may build it from its saved config (only for a
        local simulator with no side effects; otherwise a loaded model runs
        on the torch engine, with a warning, until given it:
        ``qrnn.load(path, backend=...)``).

    Examples
    --------
    >>> from qrnn.backends import BACKENDS, TorchBackend, get_backend, register_backend
    >>> class Exact(TorchBackend):
    ...     name = "exact"
    >>> _ = register_backend("exact", Exact)
    >>> type(get_backend("exact")).__name__
    'Exact'
    >>> BACKENDS.unregister("exact")
    """
    if not isinstance(name, str) or ":" in name or not name:
        raise ValueError(f"a backend name is a non-empty string without ':', got {name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise TypeError(f"cls must be a Backend subclass, got {cls!r}")
    check_choice(device, "device", ("none", "optional", "required"))
    return BACKENDS.register(name, cls, replace=replace, device=device, shots=check_bool(shots, "shots"),
                             from_file=check_bool(from_file, "from_file"))


register_backend("torch", TorchBackend, shots=True, from_file=True)
register_backend("pennylane", PennyLaneBackend, device="optional", from_file=True)
register_backend("aer", AerBackend, shots=True, from_file=True)
# it acts outside the process (QPU time, a store on disk): never built from a saved config
register_backend("ibm", IBMBackend, device="required", shots=True)


def backend_names() -> tuple:
    """The names :func:`get_backend` takes, with ``":<device>"`` where a backend takes a device."""
    out = []
    for name in BACKENDS:
        dev = BACKENDS.entry(name).info["device"]
        out += {"none": [name], "optional": [name, f"{name}:<device>"], "required": [f"{name}:<device>"]}[dev]
    return tuple(out)


def __getattr__(attr):
    if attr == "BACKEND_NAMES":  # kept for callers of the old constant; it follows the registry
        return backend_names()
    if attr == "KINDS":
        return {n: BACKENDS[n] for n in BACKENDS}
    if attr in ("plan_shots", "ShotPlan"):  # it fits estimators, which import the backends
        from .. import plan

        return getattr(plan, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def get_backend(backend="torch", *, shots=None, seed=None) -> Backend:
    """Resolve a backend name or object; every name, device and option is checked here.

    Parameters
    ----------
    backend : str or Backend
        A name from :func:`backend_names` (the registered backends,
        :data:`BACKENDS`) or a configured backend object.
    shots : int, optional
        Shot count for shot-based backends (``"torch"``, ``"aer"`` and ``"ibm:<device>"`` by name).
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
        raise TypeError(f"backend must be a name from {list(backend_names())} or a Backend object, "
                        f"got {type(backend).__name__}")
    kind, _, device = backend.partition(":")
    takes = BACKENDS.entry(kind).info["device"] if kind in BACKENDS else None
    if takes is None or (device and takes == "none") or (not device and backend.endswith(":")):
        raise ValueError(f"unknown backend {backend!r}; expected one of {list(backend_names())} or a Backend object")
    if takes == "required" and not device:
        example = ", e.g. 'ibm:fake_manila' (offline rehearsal) or 'ibm:ibm_brisbane'" if kind == "ibm" else ""
        raise ValueError(f"backend {backend!r} needs a device: '{kind}:<device>'{example}")
    cls, args = BACKENDS[kind], ((device,) if device else ())
    if BACKENDS.entry(kind).info["shots"]:
        return cls(*args, shots=shots, seed=seed)
    if shots is not None:
        check_int(shots, "shots", minimum=1)
        raise ValueError(f"backend {backend!r} is exact and takes no shots; use backend='torch' or 'aer' for shots")
    return cls(*args)


def backend_from_config(config: dict) -> Backend:
    """Rebuild a local simulator from :meth:`Backend.to_config` output (used when loading models).

    A backend registered without ``from_file`` (an IBM device: a live
    device, a call store, a QPU budget) is refused: :func:`qrnn.load` loads
    such a reservoir on the torch engine; pass the backend to run it there.
    """
    if not isinstance(config, dict) or config.get("kind") not in BACKENDS:
        raise ValueError(f"not a backend configuration (kind one of {sorted(BACKENDS)}): {config!r}")
    if not BACKENDS.entry(config["kind"]).info["from_file"]:
        raise ValueError(f"an {config['kind']!r} backend is never rebuilt from a saved configuration (it names a "
                         "live device, a store and a budget); build it yourself, e.g. "
                         "qrnn.load(path, backend=IBMBackend(...))")
    cfg = dict(config)
    return BACKENDS[cfg.pop("kind")](**cfg)


__all__ = ["Noise", "tune_allocator", "warm_up", "GRADIENTS", "free_memory", "MemoryBudgetError", "backend_from_config", "Backend", "TorchBackend", "PennyLaneBackend", "AerBackend",
           "IBMBackend", "JobFailedError", "StoreLockedError", "get_backend", "BACKENDS", "register_backend", "backend_names"]


def warm_up() -> None:
    """Compile, or load from numba's disk cache, the torch engine's compiled kernels now.

    The stream kernels of frozen reservoirs, the fused many-qubit program
    and the adjoint kernels of trained circuits are built on first use:
    compiled the first time on a
    machine (then cached on disk), loaded from that cache in a new process
    (both times: ``benchmarks/RESULTS.md``, "One-time costs and small engine
    details"). Call this before timing anything, so that the first timed
    transform or epoch does not pay for it. Needs numba.

    Examples
    --------
    >>> from qrnn.backends import warm_up
    >>> warm_up()
    """
    from .torch import adjoint, fused, stream

    stream.kernels()
    fused.warm_up()
    adjoint.warm_up()
