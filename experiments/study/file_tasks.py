"""Study tasks on the user's own data: a config's ``[tasks.NAME]`` tables, read from CSV or ``.npy`` files.

A table names one file and the series in it, and how to cut it::

    [tasks.load]
    csv = "data/load.csv"     # relative to the config file; or npy = "data/load.npy"
    column = "kw"             # a header's name or a 0-based index (a 2-D .npy: an index)
    window = 24               # values per window (>= 2)
    horizon = 1               # forecast the value this many steps after each window (default 1)
    train_fraction = 0.8      # this task's own (default: the study's)
    scale = "standard"        # "none" (default) or "standard": z-score by the training part's mean and std
    kind = "forecast"         # the default and, for a file, the only kind (see experiments.study.tasks.KINDS)

Everything is read and checked when the config is loaded, before any work:
the file, the column, every value (a number, finite), the length. A CSV
file is comma-separated UTF-8; its first row is a header when it is not all
numbers, and blank lines are skipped. ``scale = "standard"`` takes the mean
and standard deviation of the values the training windows see (their inputs
and targets, nothing of the test part), so the test part does not leak into
training; the errors are then in those units.

Examples
--------
>>> import pathlib, tempfile
>>> import numpy as np
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "data.csv").write_text("t,y\\n" + "".join(f"{t},{np.sin(t / 3):.6f}\\n" for t in range(40)))
>>> task = read_file_task("wave", {"csv": "data.csv", "column": "y", "window": 4, "scale": "standard"},
...                       folder, study_train_fraction=0.67)
>>> len(task.values), task.window, task.horizon, task.scale
(40, 4, 1, 'standard')
>>> series = task.series(0.67)  # 36 windows, 24 train: the first 24 + 4 values set the scale
>>> bool(abs(series[:28].mean()) < 1e-12 and abs(series[:28].std() - 1) < 1e-12)
True
"""
from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qrnn.tasks import split_point

from .tasks import _NAME, KINDS, TASKS, _add

SCALES = ("none", "standard")
# key: (types, what the message says it must be)
_KEYS = {"csv": ((str,), "a path (str)"), "npy": ((str,), "a path (str)"),
         "column": ((str, int), "a column name (str) or a 0-based index (int)"), "window": ((int,), "an int"),
         "horizon": ((int,), "an int"), "train_fraction": ((float, int), "a number"), "scale": ((str,), "a str"),
         "kind": ((str,), "a str")}
# a series needs windows to train on (2) and to test on (1)
_MIN_WINDOWS = 3


@dataclass(frozen=True)
class FileTask:
    """A task read from a file: where from, how it is cut, and the values read (as floats)."""

    name: str
    path: str
    column: str | int | None
    window: int
    horizon: int
    train_fraction: float | None  # None: the study's
    scale: str
    values: tuple = field(repr=False)  # a long series would fill a config's repr
    sha256: str  # of the values as little-endian float64

    def train_part(self, train_fraction: float) -> int:
        """How many leading values the training windows see (inputs and targets), at ``train_fraction``."""
        n_windows = len(self.values) - self.window - self.horizon + 1
        return split_point(n_windows, train_fraction) + self.window + self.horizon - 1

    def series(self, study_train_fraction: float) -> np.ndarray:
        """The series the windows are cut from: the values, z-scored by the training part's with ``"standard"``."""
        values = np.asarray(self.values, dtype=float)
        if self.scale == "none":
            return values
        fraction = study_train_fraction if self.train_fraction is None else self.train_fraction
        seen = values[:self.train_part(fraction)]
        return (values - seen.mean()) / seen.std()


def _error(where: str, message: str) -> ValueError:
    return ValueError(f"config field {where}: {message}")


def read_file_task(name: str, table: dict, root, study_train_fraction: float) -> FileTask:
    """Check one ``[tasks.NAME]`` table and read its file (relative paths from ``root``); errors name the key."""
    where = f"tasks.{name}"
    if not _NAME.fullmatch(name):
        raise _error(f"[{where}]", "a task name must be letters, digits, '_', '.' or '-', starting with a letter "
                                   "or digit (it is part of the stored cells' file names)")
    if name in TASKS and "file" not in TASKS.entry(name).tags:
        kind = "built-in" if "builtin" in TASKS.entry(name).tags else "registered"
        raise _error(f"[{where}]", f"{name!r} is a {kind} task; a task from a file needs a name of its own")
    if not isinstance(table, dict):
        raise _error(where, f"must be a table [{where}] with csv or npy, column, window; got {table!r}")
    for key, value in table.items():
        if key not in _KEYS:
            raise _error(f"{where}.{key}", f"unknown field; [{where}] takes {sorted(_KEYS)}")
        types, what = _KEYS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise _error(f"{where}.{key}", f"must be {what}, got {type(value).__name__} {value!r}")
    kind = table.get("kind", "forecast")
    if kind not in KINDS:
        raise _error(f"{where}.kind", f"{kind!r} is not one of {list(KINDS)}")
    if kind != "forecast":
        raise _error(f"{where}.kind", f"a task read from a file is a forecasting task (kind = \"forecast\"); "
                     f"{kind} tasks are registered in Python: experiments.study.register_{kind}_task")
    sources = [k for k in ("csv", "npy") if k in table]
    if len(sources) != 1:
        raise _error(where, "needs one file: csv = \"path\" or npy = \"path\"" if not sources
                     else "takes one file: csv or npy, not both")
    source = sources[0]
    for key, low in (("window", 2), ("horizon", 1)):
        if key in table and table[key] < low:
            raise _error(f"{where}.{key}", f"must be >= {low}, got {table[key]}")
    if "window" not in table:
        raise _error(f"{where}.window", "is required (values per window, >= 2)")
    fraction = table.get("train_fraction")
    if fraction is not None and not (np.isfinite(fraction) and 0 < fraction < 1):
        raise _error(f"{where}.train_fraction", f"must be in (0, 1), got {fraction}")
    scale = table.get("scale", "none")
    if scale not in SCALES:
        raise _error(f"{where}.scale", f"{scale!r} is not one of {list(SCALES)}")
    column = table.get("column")
    if isinstance(column, int) and column < 0:
        raise _error(f"{where}.column", f"must be a 0-based index >= 0, got {column}")
    path = Path(table[source])
    path = path if path.is_absolute() else Path(root) / path
    if not path.is_file():
        raise FileNotFoundError(f"config field {where}.{source}: no file at {path}")
    values = (_read_csv if source == "csv" else _read_npy)(path, column, where)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise _error(f"{where}.{source}", f"{path} holds {values[bad[0]]} at value {bad[0]} of column "
                                          f"{column!r}; every value must be finite")
    window, horizon = table["window"], table.get("horizon", 1)
    n_windows = len(values) - window - horizon + 1
    if n_windows < _MIN_WINDOWS:
        raise _error(f"{where}.{source}", f"{path} holds {len(values)} values; window = {window} and horizon = "
                                          f"{horizon} need at least {window + horizon - 1 + _MIN_WINDOWS} "
                                          f"({_MIN_WINDOWS} windows: 2 to train, 1 to test)")
    task = FileTask(name=name, path=str(path), column=column, window=window, horizon=horizon,
                    train_fraction=None if fraction is None else float(fraction), scale=scale,
                    values=tuple(values.tolist()),
                    sha256=hashlib.sha256(np.ascontiguousarray(values, dtype="<f8").tobytes()).hexdigest())
    if scale == "standard":
        seen = values[:task.train_part(study_train_fraction if fraction is None else fraction)]
        if not seen.std() > 0:
            raise _error(f"{where}.scale", f"the training part of {path} ({len(seen)} values) is constant; "
                                           "it has no standard deviation to scale by")
    return task


def _number(text: str):
    try:
        return float(text)
    except ValueError:
        return None


def _read_csv(path: Path, column, task: str) -> np.ndarray:
    """The column of a CSV file as floats; ``task`` (``"tasks.NAME"``) starts every error's field."""
    where = f"{task}.csv"
    if column is None:
        raise _error(f"{task}.column", "is required with csv (a header's name or a 0-based index)")
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark is not part of the header
    except UnicodeDecodeError as exc:
        raise _error(where, f"{path} is not UTF-8 text: {exc}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader if any(field.strip() for field in row)]
    except csv.Error as exc:
        raise _error(where, f"{path} is not a CSV file: {exc}") from None
    if not rows:
        raise _error(where, f"{path} holds no rows")
    first = rows[0][1]
    header = None if all(_number(f) is not None for f in first) else [f.strip() for f in first]
    if isinstance(column, str):
        if header is None:
            raise _error(f"{task}.column", f"{path} has no header row (its first row is numbers) "
                                           f"to find column {column!r} in; give a 0-based index")
        if column not in header:
            raise _error(f"{task}.column", f"{path} has no column {column!r}; its columns: {header}")
        if header.count(column) > 1:
            raise _error(f"{task}.column", f"{path} has {header.count(column)} columns named "
                                           f"{column!r}; give a 0-based index")
        index = header.index(column)
    else:
        index = column
        if index >= len(first):
            raise _error(f"{task}.column", f"{path} has no column {index}; its first row has "
                                           f"{len(first)} (0-based indices 0 to {len(first) - 1})")
    values = []
    for line, row in rows[1:] if header is not None else rows:
        if index >= len(row):
            raise _error(where, f"{path} line {line} has {len(row)} fields; column {column!r} is missing there")
        value = _number(row[index])
        if value is None:
            raise _error(where, f"{path} line {line}, column {column!r}: {row[index]!r} is not a number")
        values.append(value)
    return np.array(values, dtype=float)


def _read_npy(path: Path, column, task: str) -> np.ndarray:
    """A 1-D array, or a 2-D array's column, as floats; ``task`` (``"tasks.NAME"``) starts every error's field."""
    where = f"{task}.npy"
    try:
        array = np.load(path, allow_pickle=False)  # never pickle: a file cannot run code
    except ValueError as exc:  # an object array, or not an .npy file
        raise _error(where, f"{path} is not a numeric .npy array: {exc}") from None
    except (OSError, EOFError) as exc:
        raise _error(where, f"{path} cannot be read as .npy: {exc}") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise _error(where, f"{path} is an .npz archive; give one array saved with np.save")
    if array.dtype.kind not in "iuf":
        raise _error(where, f"{path} holds {array.dtype} values; the series must be real numbers")
    column_key = f"{task}.column"
    if array.ndim == 1:
        if column is not None:
            raise _error(column_key, f"{path} holds a 1-D array: it has no columns to choose from, got {column!r}")
        return array.astype(float)
    if array.ndim != 2:
        raise _error(where, f"{path} holds an array of shape {array.shape}; the series must be 1-D, or 2-D with column")
    if not isinstance(column, int):
        raise _error(column_key, f"{path} holds a 2-D array of shape {array.shape}: column must be a 0-based index, "
                                 f"got {column!r}")
    if column >= array.shape[1]:
        raise _error(column_key, f"{path} has {array.shape[1]} columns (0-based indices 0 to {array.shape[1] - 1}), "
                                 f"got {column}")
    return array[:, column].astype(float)


def register_file_tasks(tasks, study_train_fraction: float) -> None:
    """Put a config's file tasks in :data:`~experiments.study.tasks.TASKS` (replacing an earlier config's
    task of the same name), unless they are there already as they are."""
    for task in tasks:
        info = TASKS.entry(task.name).info if task.name in TASKS else {}
        if info.get("file") == task and info.get("scaled_with") == study_train_fraction:
            continue
        series = task.series(study_train_fraction)
        _add(task.name, lambda s=series, w=task.window: (s.copy(), None, w), "file", horizon=task.horizon,
             train_fraction=task.train_fraction, replace=True, file=task, data_sha256=task.sha256, scale=task.scale,
             scaled_with=study_train_fraction)
