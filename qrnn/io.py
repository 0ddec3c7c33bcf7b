"""Model files without pickle: the one module that writes and reads them.

Every object that can be saved describes itself, and nothing else:

- ``obj._to_record()`` returns ``{"config": ..., "arrays": ..., "children": ...}``:
  JSON-serialisable settings, named numeric arrays, and named child objects
  that can be saved in turn (an estimator's reservoir and readout);
- ``cls._from_record(config, arrays, children)`` builds the object back,
  its children already rebuilt.

:func:`save` walks that tree into one NumPy ``.npz`` archive: a JSON header
(format tag, version, the tree of class names and configs) and plain numeric
arrays. :func:`load` reads it with ``allow_pickle=False``. A file names its
classes; only classes in :data:`CLASSES` or added with :func:`register` can be
built, and a file never makes this module import anything it names, so loading
cannot run code.

This module imports nothing else from qrnn. The built-in classes are found
through :data:`CLASSES`, a table of ``"module:Class"`` strings imported on first
use, so that persistence sits below every layer it saves.
"""
from __future__ import annotations

import importlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "qrnn-model"
VERSION = 2
_HEADER = "__qrnn__"

#: Saveable classes by the name written in files (stable across code moves).
CLASSES: dict[str, str] = {
    "ReservoirRegressor": "qrnn.estimator:ReservoirRegressor",
    "TrainedRegressor": "qrnn.trainer:TrainedRegressor",
    "Ridge": "qrnn.readout:Ridge",
    "QRNN": "qrnn.cells:QRNN",
    "QLSTM": "qrnn.cells:QLSTM",
    "QGRU": "qrnn.cells:QGRU",
    "RNN": "qrnn.classical:RNN",
    "LSTM": "qrnn.classical:LSTM",
    "GRU": "qrnn.classical:GRU",
    "ESN": "qrnn.classical:ESN",
    "Ensemble": "qrnn.ensemble:Ensemble",
}
_registered: dict[str, type] = {}


def register(cls: type, name: str | None = None) -> type:
    """Make a class of your own saveable under ``name`` (default: its class name).

    The class must implement ``_to_record()`` and the classmethod
    ``_from_record(config, arrays, children)`` (see the module docstring;
    :class:`qrnn.reservoir.Reservoir` subclasses inherit both). Files can
    name only registered classes. Usable as a decorator.
    """
    name = cls.__name__ if name is None else name
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    known = _resolve(name) if name in CLASSES or name in _registered else None
    if known is not None and known is not cls:
        raise ValueError(f"the name {name!r} is already registered for {known.__module__}.{known.__qualname__}")
    for method in ("_to_record", "_from_record"):
        if not callable(getattr(cls, method, None)):
            raise TypeError(f"{cls.__qualname__} cannot be registered: it has no {method} method")
    _registered[name] = cls
    return cls


def _resolve(name: str) -> type:
    if name in _registered:
        return _registered[name]
    module, _, attr = CLASSES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def _name_of(cls: type) -> str:
    for name in list(_registered) + list(CLASSES):
        if _resolve(name) is cls:
            return name
    raise TypeError(f"cannot save a {cls.__qualname__}: it is not a saveable qrnn class "
                    f"(known: {sorted(set(CLASSES) | set(_registered))}; see qrnn.io.register)")


def _json_default(value):
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON-serialisable")


def _flatten(obj, path: str, arrays: dict) -> dict:
    """The header node of ``obj``; its arrays go into ``arrays`` under ``path/name``."""
    name = _name_of(type(obj))
    record = obj._to_record()
    try:
        config = json.loads(json.dumps(record.get("config", {}), default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot save the {name} at {path!r}: its configuration is not plain data ({exc})") from None
    node = {"class": name, "config": config, "arrays": [], "children": {}}
    for key, value in record.get("arrays", {}).items():
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise ValueError(f"cannot save the {name} at {path!r}: array {key!r} has dtype {value.dtype}")
        arrays[f"{path}/{key}"] = value
        node["arrays"].append(key)
    for key, child in record.get("children", {}).items():
        node["children"][key] = _flatten(child, f"{path}/{key}", arrays)
    return node


def save(obj, path) -> None:
    """Write a saveable object (estimator, reservoir, readout) to ``path``, a ``.npz`` file.

    The file is written whole under a temporary name and then renamed, so an
    interrupted save never leaves a truncated model behind.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from qrnn import QRNN, ReservoirRegressor, load, save
    >>> X = np.random.default_rng(0).normal(size=(10, 4, 1))
    >>> est = ReservoirRegressor(QRNN(1, 2, seed=0)).fit(X, X[:, -1, 0])
    >>> f = os.path.join(tempfile.mkdtemp(), "m.npz"); save(est, f)
    >>> bool(np.array_equal(load(f).predict(X), est.predict(X)))
    True
    """
    arrays: dict = {}
    root = _flatten(obj, "root", arrays)
    header = {"format": FORMAT, "version": VERSION, "root": root}
    arrays[_HEADER] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"path {path} is a directory; give a file name such as model.npz")
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as fh:  # exactly this name: np.savez would append ".npz"
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def _build(node, path: str, arrays: dict):
    if not isinstance(node, dict) or not isinstance(node.get("class"), str):
        raise ValueError(f"the entry at {path!r} is not an object record")
    name = node["class"]
    if name not in CLASSES and name not in _registered:
        raise ValueError(f"the entry at {path!r} names class {name!r}, which is not a saveable qrnn class "
                         f"(known: {sorted(set(CLASSES) | set(_registered))})")
    own = {}
    for key in node.get("arrays", []):
        full = f"{path}/{key}"
        if full not in arrays:
            raise ValueError(f"array {full!r} is missing")
        value = arrays[full]
        if value.dtype.kind not in "biuf":
            raise ValueError(f"array {full!r} has dtype {value.dtype}, not a number type")
        own[key] = value
    children = {key: _build(child, f"{path}/{key}", arrays) for key, child in node.get("children", {}).items()}
    return _resolve(name)._from_record(node.get("config", {}), own, children)


def load(path):
    """Read an object written by :func:`save`.

    A file that is not a qrnn model (another format, truncated, a pickle, an
    unknown class, arrays of the wrong shape) is a ``ValueError`` that says
    why; a missing file is a ``FileNotFoundError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an archive")
        with data:
            arrays = {k: data[k] for k in data.files}
        if _HEADER not in arrays:
            raise ValueError(f"it has no {_HEADER!r} header")
        header = json.loads(arrays.pop(_HEADER).tobytes().decode())
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable qrnn model file ({type(exc).__name__}: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a qrnn model file (no '{FORMAT}' tag)")
    if header.get("version") != VERSION:
        raise ValueError(f"{path} has model format version {header.get('version')!r}; "
                         f"this qrnn reads version {VERSION}")
    try:
        return _build(header.get("root"), "root", arrays)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path} is a damaged qrnn model file ({type(exc).__name__}: {exc})") from None
