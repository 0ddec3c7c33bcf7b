"""Model files without pickle: the one module that writes and reads them.

Every object that can be saved describes itself, and nothing else:

- ``obj._to_record()`` returns ``{"config": ..., "arrays": ..., "children": ...}``:
  JSON-serialisable settings, named numeric arrays, and named child objects
  that can be saved in turn (an estimator's reservoir and readout);
- ``cls._from_record(config, arrays, children)`` builds the object back,
  its children already rebuilt.

:func:`save` walks that tree into one NumPy ``.npz`` archive: a JSON header
(format tag, version, the tree of class names and configs) and plain numeric
arrays. :func:`load` reads no pickle: each array is read only if the header names it,
after its ``.npy`` header is checked against the bytes it holds and the limits
below. A file names its classes; only classes in :data:`qrnn.registry.MODELS`
(the built-in ones, and those added with :func:`qrnn.register_model`) can be built, and a file never makes this module import
anything it names, so loading cannot run code. Nor can a file act: it never
configures a live device or a path to write to (see :func:`load`).

This module imports nothing else from qrnn but :mod:`qrnn.registry` (and
:mod:`qrnn.backends`, to resolve a ``backend=`` passed to :func:`load`). The
registry names the built-in classes as ``"module:Class"`` strings imported on
first use, so that persistence sits below every layer it saves.
"""
from __future__ import annotations

import itertools
import json
import re
import warnings
import zipfile
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from ._files import atomic_write
from .registry import MODELS, register_model

FORMAT = "qrnn-model"
VERSION = 2
_HEADER = "__qrnn__"


def register(cls: type, name: str | None = None) -> type:
    """Make a class of your own saveable under ``name`` (default: its class name).

    The same as :func:`qrnn.registry.register_model` (the one registry of
    model classes); kept here because saving is where it is needed. Usable
    as a decorator.
    """
    return register_model(cls, name=name)


def _name_of(cls: type) -> str:
    try:
        return MODELS.name_of(cls)
    except ValueError:
        raise TypeError(f"cannot save a {cls.__qualname__}: it is not a saveable qrnn class "
                        f"(known: {list(MODELS.names())}; see qrnn.register_model)") from None


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
    atomic_write(path, lambda fh: np.savez(fh, **arrays))  # a file object: np.savez would append ".npz" to a name


# -- loading: bounded, and nothing in a file can act --

#: The JSON header's size: qrnn's largest (a fitted estimator of an ensemble) is a few kB.
MAX_HEADER_BYTES = 1 << 20
#: Nesting of the header's JSON objects and lists: an ensemble member inside an estimator is about 8
#: deep. Python's JSON parser recurses, so a file nested thousands deep would crash it.
MAX_NESTING = 64
#: Elements of one array: 2^28 float64 is 2 GiB, above any reservoir or readout (an ESN of 10,000
#: nodes has 10^8 weights), so a header cannot make a read allocate more than that.
MAX_ARRAY_ELEMENTS = 1 << 28
#: Arrays that may hold NaN or infinities, by class: a ridge's cross-validation scores (a grid value
#: whose leave-one-out or GCV denominator vanishes scores NaN). Every other array must be finite.
NONFINITE_ALLOWED = {"Ridge": ("cv_scores",)}
# Deflate expands at most about 1032-fold, so a member's declared size is bounded by the file's;
# other methods (bzip2, lzma) expand without such a bound and are refused.
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", (b"PK\x03\x04", b"PK\x05\x06")

# What the load in progress asks of the objects it builds: the backend the caller gave (or None)
# and the IBM configurations found. A context variable, so loads in other threads never see it.
_LOADING: ContextVar[dict | None] = ContextVar("qrnn_loading", default=None)


def loading() -> dict | None:
    """The load in progress (``None`` outside :func:`load`), for ``_from_record`` methods.

    A dict with ``"backend"``: the resolved backend the caller passed to
    :func:`load`, or ``None``; and ``"ibm"``: a list to which a reservoir
    appends the IBM backend configuration it found and did not rebuild.
    """
    return _LOADING.get()


class BackendRefusedError(ValueError):
    """A reservoir of the file cannot run on the backend passed to :func:`load` (the caller's argument,
    not damage in the file)."""


def _read_member(zf: zipfile.ZipFile, name: str, limit: int) -> np.ndarray:
    """One ``.npy`` member of the archive, its header checked before its data is read.

    The shape and dtype are read first and must be a number type whose size
    matches the bytes the member holds and stays within ``limit`` elements.
    """
    try:
        info = zf.getinfo(f"{name}.npy")
    except KeyError:
        raise ValueError(f"array {name!r} is missing") from None
    if info.compress_type not in _COMPRESSIONS:
        raise ValueError(f"array {name!r} is compressed with zip method {info.compress_type}; "
                         "qrnn reads stored or deflated members only")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"array {name!r} has .npy format version {version}; qrnn reads 1.0 and 2.0")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(fh)
        if dtype.hasobject or dtype.fields is not None or dtype.kind not in "biuf":
            raise ValueError(f"array {name!r} has dtype {dtype}, not a number type")
        if any(d < 0 for d in shape):
            raise ValueError(f"array {name!r} has the invalid shape {shape}")
        count = int(np.prod(shape, dtype=object))
        if count > limit:
            raise ValueError(f"array {name!r} has shape {shape}, {count} elements; the limit is {limit}")
        if fh.tell() + count * dtype.itemsize != info.file_size:
            raise ValueError(f"array {name!r} has shape {shape} in its header but holds "
                             f"{info.file_size - fh.tell()} bytes of data, not {count * dtype.itemsize}")
        data = np.frombuffer(fh.read(count * dtype.itemsize), dtype=dtype)
    return data.reshape(shape, order="F" if fortran else "C").copy()  # writable, for torch


def _read_header(zf: zipfile.ZipFile) -> dict:
    raw = _read_member(zf, _HEADER, MAX_HEADER_BYTES)
    if raw.ndim != 1 or raw.dtype != np.uint8:
        raise ValueError(f"its {_HEADER!r} header is not a byte string")
    text = raw.tobytes().decode()
    # The depth is measured before parsing: the parser recurses, and would crash first.
    brackets = re.sub(r'"(?:[^"\\]|\\.)*"', "", text)
    depth = max(itertools.accumulate(1 if c in "[{" else -1 for c in re.findall(r"[][{}]", brackets)), default=0)
    if depth > MAX_NESTING:
        raise ValueError(f"its header is nested {depth} deep; the limit is {MAX_NESTING}")
    return json.loads(text)


def _build(node, path: str, zf: zipfile.ZipFile):
    if not isinstance(node, dict) or not isinstance(node.get("class"), str):
        raise ValueError(f"the entry at {path!r} is not an object record")
    name = node["class"]
    if name not in MODELS:
        raise ValueError(f"the entry at {path!r} names class {name!r}, which is not a saveable qrnn class "
                         f"(known: {list(MODELS.names())}; a class of your own is known once registered with "
                         "qrnn.register_model)")
    keys, children = node.get("arrays", []), node.get("children", {})
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or not isinstance(children, dict):
        raise ValueError(f"the entry at {path!r} lists its arrays or children in the wrong form")
    own = {}
    for key in keys:  # only the arrays a record names are ever read
        full = f"{path}/{key}"
        value = _read_member(zf, full, MAX_ARRAY_ELEMENTS)
        if (value.dtype.kind == "f" and key not in NONFINITE_ALLOWED.get(name, ())
                and not np.isfinite(value).all()):
            raise ValueError(f"array {full!r} holds NaN or infinite values")
        own[key] = value
    built = {key: _build(child, f"{path}/{key}", zf) for key, child in children.items()}
    return MODELS[name]._from_record(node.get("config", {}), own, built)


def load(path, backend=None):
    """Read an object written by :func:`save`.

    A model file describes numbers and settings; it never configures a live
    device nor writes anywhere. Local simulators (``"torch"``,
    ``"pennylane"``, ``"aer"``) are rebuilt as saved; an IBM backend (a
    device, a call store, a QPU budget) never is: such a reservoir is loaded
    on the exact torch engine, with a ``UserWarning``, and keeps the saved
    configuration in its attribute ``loaded_backend_config_`` (a dict as
    :meth:`IBMBackend.to_config <qrnn.backends.IBMBackend.to_config>` gives
    it; set only then). It runs on IBM only when you pass the backend.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    backend : str or Backend, optional
        Run every quantum reservoir of the file (ensemble members included) on
        this backend: a name or object as the cells' ``backend=`` takes it,
        e.g. ``IBMBackend("ibm_brisbane", max_qpu_seconds=60)`` or
        ``"ibm:ibm_brisbane"``. The backend the file names is then not built.

    Returns
    -------
    The estimator, reservoir or readout that was saved.

    Raises
    ------
    ValueError
        A file that is not a qrnn model (another format, truncated, a pickle,
        an unknown class, arrays of the wrong shape or with NaN, sizes above
        the limits :data:`MAX_HEADER_BYTES`, :data:`MAX_NESTING`,
        :data:`MAX_ARRAY_ELEMENTS`, :data:`qrnn.reservoir.MAX_QUBITS`,
        :data:`qrnn.reservoir.MAX_LAYERS`), with the reason; or a reservoir
        that cannot run on ``backend`` (:class:`BackendRefusedError`).
    FileNotFoundError
        No file at ``path``.

    Notes
    -----
    Only the arrays the header names are read, each after its ``.npy`` header
    is checked against the bytes it holds, and every size a record gives is
    checked against its arrays and limits before anything is built.
    """
    path = Path(path)
    if backend is not None:
        from .backends import get_backend  # the one import of qrnn here: only for a backend passed in

        backend = get_backend(backend)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(6)
        if magic == _NPY_MAGIC:
            raise ValueError("it holds a single array, not an archive")
        if magic[:4] not in _ZIP_MAGIC:
            raise ValueError("it is not a zip archive (.npz)")
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path} is not a readable qrnn model file ({type(exc).__name__}: {exc})") from None
    with zf:
        try:
            if f"{_HEADER}.npy" not in zf.namelist():
                raise ValueError(f"it has no {_HEADER!r} header")
            header = _read_header(zf)
        except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, UnicodeDecodeError, RuntimeError) as exc:
            raise ValueError(f"{path} is not a readable qrnn model file ({type(exc).__name__}: {exc})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"{path} is not a qrnn model file (no '{FORMAT}' tag)")
        if header.get("version") != VERSION:
            raise ValueError(f"{path} has model format version {header.get('version')!r}; "
                             f"this qrnn reads version {VERSION}")
        context = {"backend": backend, "ibm": []}
        token = _LOADING.set(context)
        try:
            obj = _build(header.get("root"), "root", zf)
        except BackendRefusedError as exc:
            raise BackendRefusedError(f"{path}: {exc}") from None
        except (KeyError, TypeError, ValueError, RuntimeError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"{path} is a damaged qrnn model file ({type(exc).__name__}: {exc})") from None
        finally:
            _LOADING.reset(token)
    if context["ibm"]:
        if all(c.get("kind") == "ibm" for c in context["ibm"]):
            what = f"an IBM backend (device {', '.join(sorted({str(c.get('device')) for c in context['ibm']}))})"
            how = "qrnn.load(path, backend=IBMBackend(...)) or backend='ibm:<device>'"
        else:
            how = "qrnn.load(path, backend=...), e.g. a PennyLaneBackend(...) or your own backend object"
            named = sorted({c.get("kind") + (f":{c['device']}" if c.get("device") else "") for c in context["ibm"]})
            what = f"a backend ({', '.join(named)})"
        warnings.warn(f"{path} names {what}, which a model file never configures (a live "
                      "or remote device, a store, a budget, device options, or a backend registered without "
                      "from_file): it was loaded on the exact torch engine, with the saved configuration in the "
                      "reservoir's loaded_backend_config_. To run there, pass the backend yourself: "
                      f"{how}", UserWarning, stacklevel=2)
    return obj
