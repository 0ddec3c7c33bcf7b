"""Stored cells: one gzip JSON file per finished cell, with the settings it was run with."""
from __future__ import annotations

import gzip
import json
import re
import warnings
import zlib
from pathlib import Path

import numpy as np

from qrnn._files import atomic_write

from .conditions import EXACT
from .config import RESERVOIR_DEFAULTS, StudyConfig
from .grid import Cell
from .models import is_quantum
from .tables import COLUMNS
from .tasks import _shape, task_fingerprint


def cell_settings(cfg: StudyConfig, task: str | None = None) -> dict:
    """What a cell's result depends on besides the cell itself: a stored cell is reused only if these match.

    With ``task``, a task that is not built in adds its data's fingerprint
    (:func:`~experiments.study.tasks.task_fingerprint`) under ``"task"``.
    """
    settings = {"hidden_size": cfg.hidden_size, "esn_size": cfg.esn_size, "train_fraction": cfg.train_fraction,
                "epochs": cfg.epochs, "batch_size": cfg.batch_size, "optimizer": cfg.optimizer, "lr": cfg.lr}
    # [reservoir] fields only where they differ from the paper's defaults, so that
    # stores written before these options existed stay valid
    for key, default in RESERVOIR_DEFAULTS.items():
        value = getattr(cfg, key)
        if value != default:
            settings[key] = list(value) if isinstance(value, tuple) else value
    fingerprint = None if task is None else task_fingerprint(task)
    if fingerprint is not None:
        settings["task"] = fingerprint
    return settings


def _cell_path(store: Path, cell: Cell) -> Path:
    # gzip: the predictions and histories are most of a study's size, and results are committed
    base = f"{cell.task}__{cell.model}__{cell.init}__{cell.mode}__s{cell.seed}"
    if cell.condition != EXACT:
        base += "__" + re.sub(r"[^A-Za-z0-9.=_-]+", "_", cell.condition)
    return store / f"{base}.json.gz"


def _load_cell(store: Path, cell: Cell, settings: dict):
    """The stored ``(row, history)`` of a cell run with ``settings``, or None to run it (again).

    A cell not stored yet, or stored with other settings, is None quietly; a
    damaged file (cut off while written, edited, of an unknown layout) is
    reported by name in a warning, and run again.
    """
    path = _cell_path(store, cell)
    plain = path.with_suffix("")  # cells written uncompressed by earlier versions
    if not path.exists() and not plain.exists():
        return None  # not run yet
    found = path if path.exists() else plain
    try:
        record = json.loads(gzip.decompress(found.read_bytes()) if found is path else plain.read_text("utf-8"))
        if not isinstance(record, dict) or not {"cell", "settings", "row", "history"} <= set(record):
            raise ValueError("not a stored cell (it needs cell, settings, row and history)")
        if record["settings"] != settings or record["cell"] != cell.record():
            return None  # run with other settings: run it again
        _check_stored(record["row"], record["history"], cell)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        warnings.warn(f"stored cell {found} is damaged ({type(exc).__name__}: {exc}); running it again",
                      stacklevel=2)
        return None
    # cells stored before the input_scaling column existed ran at the paper's scaling
    record["row"].setdefault("input_scaling", 1.0 if is_quantum(cell.model) else None)
    record["row"].setdefault("condition", EXACT)  # stored before conditions existed
    return record["row"], record["history"]


def _check_stored(row, history, cell: Cell) -> None:
    """Raise ValueError unless a stored row and history have what collecting the tables reads."""
    if not isinstance(row, dict):
        raise ValueError("its row is not a table")
    # input_scaling may predate the store; circuit_evaluations is recounted at every collect
    missing = set(COLUMNS) - {"input_scaling", "circuit_evaluations", "condition"} - set(row)
    unknown = set(row) - set(COLUMNS)
    if missing or unknown:
        raise ValueError(f"its row lacks {sorted(missing)} or has unknown fields {sorted(unknown)}")
    for key in ("train_mse", "test_mse", "train_nrmse", "test_nrmse"):
        if isinstance(row[key], bool) or not isinstance(row[key], (int, float)) or not np.isfinite(row[key]):
            raise ValueError(f"its {key} is {row[key]!r}, not a finite number")
    if isinstance(row["epochs"], bool) or not isinstance(row["epochs"], int) or row["epochs"] < 0:
        raise ValueError(f"its epochs is {row['epochs']!r}, not an integer >= 0")
    if not isinstance(history, dict) or history.get("cell") != cell.record():
        raise ValueError("its history does not belong to this cell")
    epochs, predictions = history.get("history"), history.get("predictions")
    if not isinstance(epochs, list) or len(epochs) != row["epochs"] or not all(
            isinstance(e, dict) and {"monitor_loss", "seconds"} <= set(e) for e in epochs):
        raise ValueError(f"its history does not hold the {row['epochs']} epochs of its row")
    if not isinstance(predictions, list) or len(predictions) != _shape(cell.task)[0] or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in predictions):
        raise ValueError(f"its predictions are not the {_shape(cell.task)[0]} numbers of task {cell.task!r}")


def _save_cell(store: Path, cell: Cell, settings: dict, result) -> None:
    record = {"cell": cell.record(), "settings": settings, "row": result[0], "history": result[1]}
    # a crash leaves the old file or the new one, never a torn one
    atomic_write(_cell_path(store, cell), gzip.compress(json.dumps(record).encode(), mtime=0))
