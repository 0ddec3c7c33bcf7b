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
from .tables import BUDGET_COLUMNS, COLUMNS, KIND_COLUMNS, METRICS
from .tasks import _shape, classification_data, generation_data, task_fingerprint, task_kind


def cell_settings(cfg: StudyConfig, task: str | None = None) -> dict:
    """What a cell's result depends on besides the cell itself: a stored cell is reused only if these match.

    With ``task``, a task that is not built in, and every classification or
    generation task, adds what it was run on (its kind, its data's SHA-256,
    its settings: :func:`~experiments.study.tasks.task_fingerprint`) under ``"task"``.
    """
    settings = {"hidden_size": cfg.hidden_size, "esn_size": cfg.esn_size, "train_fraction": cfg.train_fraction,
                "epochs": cfg.epochs, "batch_size": cfg.batch_size, "optimizer": cfg.optimizer, "lr": cfg.lr}
    # [reservoir] fields only where they differ from the paper's defaults, so that
    # stores written before these options existed stay valid
    for key, default in RESERVOIR_DEFAULTS.items():
        value = getattr(cfg, key)
        if value != default:
            settings[key] = list(value) if isinstance(value, tuple) else value
    if cfg.search is not None:
        settings["search"] = cfg.search.to_settings()
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
    for key in KIND_COLUMNS:  # stored before other task kinds existed: forecasting cells
        record["row"].setdefault(key, "forecast" if key == "kind" else None)
    for key in BUDGET_COLUMNS:  # stored before the budget columns and the search existed
        record["row"].setdefault(key, None)
    return record["row"], record["history"]


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and bool(np.isfinite(value))


def _check_stored(row, history, cell: Cell) -> None:
    """Raise ValueError unless a stored row and history have what collecting the tables reads."""
    if not isinstance(row, dict):
        raise ValueError("its row is not a table")
    kind = task_kind(cell.task)
    if row.get("kind", "forecast") != kind:
        raise ValueError(f"its row is of a {row.get('kind')!r} task; task {cell.task!r} is a {kind} task")
    # input_scaling, the other kinds' columns and the budgets' may predate the store; circuit_evaluations is recounted at
    # every collect; a row holds its own kind's metrics, and may leave the others' out
    optional = {"input_scaling", "circuit_evaluations", "condition", *KIND_COLUMNS, *BUDGET_COLUMNS,
                *(key for k, keys in METRICS.items() if k != kind for key in keys)} - set(METRICS[kind])
    missing = set(COLUMNS) - optional - set(row)
    unknown = set(row) - set(COLUMNS)
    if missing or unknown:
        raise ValueError(f"its row lacks {sorted(missing)} or has unknown fields {sorted(unknown)}")
    for key in METRICS[kind]:
        if not _is_number(row[key]):
            raise ValueError(f"its {key} is {row[key]!r}, not a finite number")
    if isinstance(row["epochs"], bool) or not isinstance(row["epochs"], int) or row["epochs"] < 0:
        raise ValueError(f"its epochs is {row['epochs']!r}, not an integer >= 0")
    if not isinstance(history, dict) or history.get("cell") != cell.record():
        raise ValueError("its history does not belong to this cell")
    epochs, predictions = history.get("history"), history.get("predictions")
    # a generation cell's learning curve is its training loss (its test part is generated, not predicted)
    loss = "train_loss" if kind == "generation" else "monitor_loss"
    if not isinstance(epochs, list) or len(epochs) != row["epochs"] or not all(
            isinstance(e, dict) and {loss, "seconds"} <= set(e) for e in epochs):
        raise ValueError(f"its history does not hold the {row['epochs']} epochs of its row")
    if kind == "classification":  # the test sequences' labels
        n, what = len(classification_data(cell.task).y_test), "labels (str or int)"
        ok = isinstance(predictions, list) and all(isinstance(v, (str, int)) and not isinstance(v, bool)
                                                   for v in predictions)
    else:  # every window's forecast, or the generated horizon
        n = _shape(cell.task)[0] if kind == "forecast" else generation_data(cell.task).horizon
        what = "numbers"
        ok = isinstance(predictions, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                   for v in predictions)
    if not ok or len(predictions) != n:
        raise ValueError(f"its predictions are not the {n} {what} of task {cell.task!r}")


def _save_cell(store: Path, cell: Cell, settings: dict, result) -> None:
    record = {"cell": cell.record(), "settings": settings, "row": result[0], "history": result[1]}
    # a crash leaves the old file or the new one, never a torn one
    atomic_write(_cell_path(store, cell), gzip.compress(json.dumps(record).encode(), mtime=0))
