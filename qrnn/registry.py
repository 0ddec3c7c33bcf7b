"""One registry per concept: the names users write, and what they stand for.

Every part of qrnn that needs a list of models, backends, study tasks or
gates reads it from one :class:`Registry`, so that registering a class of
your own is the only step it takes to reach every place that offers the
built-in ones: :func:`qrnn.load`, the study (by name in its config), and the
tests that enumerate the registries (as scikit-learn's ``all_estimators``
drives ``parametrize_with_checks``).

- :data:`MODELS` (here): every class a model file may name, with tags
  (``"quantum"`` cells, ``"classical"`` cells, ``"reservoir"``,
  ``"estimator"``, ``"readout"``); :func:`register_model` adds one.
- ``qrnn.backends.BACKENDS``: backends by name (:func:`qrnn.backends.register_backend`).
- ``qrnn.circuit.GATES``: the gates a circuit description may hold.
- ``experiments.study`` keeps the study's tasks in one too.

Examples
--------
>>> from qrnn.registry import MODELS
>>> MODELS.names(tag="quantum")
('QRNN', 'QLSTM', 'QGRU')
>>> MODELS["QRNN"].__name__
'QRNN'
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass
class Entry:
    """One registered name: the object (or ``"module:attr"`` until first use) and its tags."""

    name: str
    target: object
    tags: frozenset = field(default_factory=frozenset)
    info: dict = field(default_factory=dict)

    def resolve(self):
        if isinstance(self.target, str):
            module, _, attr = self.target.partition(":")
            self.target = getattr(importlib.import_module(module), attr)
        return self.target


class Registry:
    """Names of one concept, in registration order.

    Parameters
    ----------
    concept : str
        What the names are, for error messages (``"model"``, ``"backend"``).

    Examples
    --------
    >>> r = Registry("colour")
    >>> _ = r.register("red", 1, tags=("warm",))
    >>> r["red"], r.names(), "blue" in r
    (1, ('red',), False)
    >>> r["blue"]
    Traceback (most recent call last):
    ...
    ValueError: unknown colour 'blue'; registered: ['red']
    """

    def __init__(self, concept: str):
        self.concept = concept
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, target, *, tags=(), replace: bool = False, **info):
        """Register ``target`` (an object, or ``"module:attr"`` imported on first use) under ``name``.

        A name already taken by another object is refused unless ``replace=True``.
        Returns ``target``.
        """
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(f"a {self.concept} name must be a non-empty string without surrounding spaces, "
                             f"got {name!r}")
        old = self._entries.get(name)
        if old is not None and not replace and old.resolve() is not Entry(name, target).resolve():
            known = old.resolve()
            raise ValueError(f"the {self.concept} name {name!r} is already registered for "
                             f"{getattr(known, '__module__', '')}.{getattr(known, '__qualname__', known)!s}; "
                             "pass replace=True to replace it")
        self._entries[name] = Entry(name, target, frozenset(tags), dict(info))
        return target

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests register throwaway classes and remove them again)."""
        self.entry(name)
        del self._entries[name]

    def entry(self, name: str) -> Entry:
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(f"unknown {self.concept} {name!r}; registered: {list(self._entries)}")
        return self._entries[name]

    def __getitem__(self, name: str):
        return self.entry(name).resolve()

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self, tag: str | None = None) -> tuple:
        """Registered names in order, or those carrying ``tag``."""
        return tuple(n for n, e in self._entries.items() if tag is None or tag in e.tags)

    def name_of(self, obj) -> str:
        """The name ``obj`` is registered under (resolving lazy entries as needed)."""
        for name, entry in self._entries.items():
            if not isinstance(entry.target, str) and entry.target is obj:
                return name
        for name, entry in self._entries.items():
            if isinstance(entry.target, str) and getattr(obj, "__name__", None) == entry.target.rpartition(":")[2] \
                    and entry.resolve() is obj:
                return name
        raise ValueError(f"{getattr(obj, '__qualname__', obj)!s} is not a registered {self.concept} "
                         f"(registered: {list(self._entries)})")

    def __repr__(self) -> str:
        return f"Registry({self.concept!r}, {list(self._entries)})"


#: Every class a model file may name, by the name written in files (stable across code moves).
MODELS = Registry("model")
# Loaded on first use: importing the estimators imports scikit-learn (a second or more).
MODELS.register("ReservoirRegressor", "qrnn.estimator:ReservoirRegressor", tags=("estimator",))
MODELS.register("TrainedRegressor", "qrnn.trainer:TrainedRegressor", tags=("estimator",))
MODELS.register("ReservoirClassifier", "qrnn.classifier:ReservoirClassifier", tags=("estimator",))
MODELS.register("TrainedClassifier", "qrnn.classifier:TrainedClassifier", tags=("estimator",))
MODELS.register("Ridge", "qrnn.readout:Ridge", tags=("readout",))
for _name in ("QRNN", "QLSTM", "QGRU"):
    MODELS.register(_name, f"qrnn.cells:{_name}", tags=("quantum", "reservoir"))
for _name in ("RNN", "LSTM", "GRU"):
    MODELS.register(_name, f"qrnn.classical:{_name}", tags=("classical", "reservoir"))
MODELS.register("ESN", "qrnn.classical:ESN", tags=("reservoir",))
MODELS.register("Ensemble", "qrnn.ensemble:Ensemble", tags=("reservoir",))
del _name


def register_model(cls=None, *, name: str | None = None, tags=None, replace: bool = False):
    """Register a model class of your own, so that it saves, loads and appears in the study by name.

    Usable as a decorator, bare or with arguments. ``tags`` default to what
    the class is: ``("quantum", "reservoir")`` for a
    :class:`~qrnn.cells.QuantumReservoir`, ``("classical", "reservoir")`` for
    another cell of :class:`~qrnn.reservoir.Reservoir` taking
    ``(input_size, hidden_size)``, ``("reservoir",)`` otherwise. The class
    must implement ``_to_record()`` and the classmethod
    ``_from_record(config, arrays, children)``
    (:class:`~qrnn.reservoir.Reservoir` subclasses inherit both). A file can
    name only registered classes, so loading one never runs code of the
    file's choosing; register your class before loading a file that names it.

    Examples
    --------
    >>> from qrnn import QRNN
    >>> from qrnn.registry import MODELS, register_model
    >>> @register_model
    ... class MyQRNN(QRNN):
    ...     pass
    >>> MODELS.entry("MyQRNN").tags == {"quantum", "reservoir"}
    True
    >>> MODELS.unregister("MyQRNN")
    """
    def add(cls):
        for method in ("_to_record", "_from_record"):
            if not callable(getattr(cls, method, None)):
                raise TypeError(f"{cls.__qualname__} cannot be registered: it has no {method} method")
        MODELS.register(cls.__name__ if name is None else name, cls,
                        tags=_default_tags(cls) if tags is None else tuple(tags), replace=replace)
        return cls

    return add if cls is None else add(cls)


def _default_tags(cls) -> tuple:
    from .cells import QuantumReservoir
    from .classical import _TorchCellReservoir
    from .reservoir import Reservoir

    if issubclass(cls, QuantumReservoir):
        return ("quantum", "reservoir")
    if issubclass(cls, _TorchCellReservoir):
        return ("classical", "reservoir")
    if issubclass(cls, Reservoir):
        return ("reservoir",)
    return ()
