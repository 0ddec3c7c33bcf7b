"""The results tables: one row per cell, as CSV and Markdown, each task kind with its own metrics.

``results.csv`` has every column (:data:`COLUMNS`); a metric that does not
apply to a row's kind is empty. ``results.md`` has one table per kind
present, with that kind's columns (:data:`KIND_TABLES`): MSE and NRMSE for
forecasting, accuracy for classification, the valid time and NRMSE over the
horizon for closed-loop generation; a study of forecasting tasks only has
the one table it always had.
"""
from __future__ import annotations

import csv
from pathlib import Path

#: The columns of a forecasting study, as they were before other task kinds.
FORECAST_COLUMNS = ("task", "model", "init", "mode", "seed", "train_mse", "test_mse", "train_nrmse", "test_nrmse",
                    "epochs", "epochs_to_5pct", "seconds", "seconds_per_epoch", "trained_params",
                    "circuit_evaluations", "input_scaling", "condition")
#: The columns the other kinds add: the task's kind, a classification's accuracies (fractions of sequences
#: labelled right), a generation's valid time (steps) and NRMSE over the generated horizon.
KIND_COLUMNS = ("kind", "train_accuracy", "test_accuracy", "valid_time", "horizon_nrmse")
#: The budgets and choices of a cell beside its results: its readout's features, the shots its circuit
#: evaluations cost under its condition (0 for exact values), and with a [search] the
#: trials run, their wall time and the hyperparameters chosen (JSON).
BUDGET_COLUMNS = ("readout_features", "shots", "search_trials", "search_seconds", "params")
COLUMNS = FORECAST_COLUMNS + KIND_COLUMNS + BUDGET_COLUMNS

_CELL = ("task", "model", "init", "mode", "seed")
_COST = ("epochs", "epochs_to_5pct", "seconds", "seconds_per_epoch", "trained_params", "circuit_evaluations",
         "input_scaling")
#: Each kind's columns in ``results.md``.
KIND_TABLES = {
    "forecast": FORECAST_COLUMNS,
    "classification": _CELL + ("train_accuracy", "test_accuracy") + _COST,
    "generation": _CELL + ("train_nrmse", "valid_time", "horizon_nrmse") + _COST,
}
#: The metric columns a row of each kind holds as finite numbers.
METRICS = {
    "forecast": ("train_mse", "test_mse", "train_nrmse", "test_nrmse"),
    "classification": ("train_accuracy", "test_accuracy"),
    "generation": ("train_mse", "train_nrmse", "valid_time", "horizon_nrmse"),
}
_HEADINGS = {
    "forecast": "## Forecasting (one step ahead: test MSE and NRMSE on the last windows; lower is better)",
    "classification": "## Classification (accuracy: the fraction of sequences labelled right; higher is better)",
    "generation": "## Closed-loop generation (valid time: steps until the error first exceeds 0.4 standard "
                  "deviations of the fitted stream, higher is better; horizon_nrmse: RMSE over the generated "
                  "horizon in those standard deviations, lower is better; train_nrmse: one step ahead, "
                  "teacher-forced, on the fitted stream)",
}


def row(cell, kind: str, **fields) -> dict:
    """A results row of every column: the cell's own, its kind, ``fields``; None for what does not apply.

    >>> from experiments.study.grid import Cell
    >>> r = row(Cell("waveforms", "ESN", "ridge", 0, "-"), "classification", test_accuracy=0.9)
    >>> r["kind"], r["test_accuracy"], r["test_mse"]
    ('classification', 0.9, None)
    """
    unknown = set(fields) - set(COLUMNS)
    if unknown:
        raise KeyError(f"unknown results columns {sorted(unknown)}")
    r = dict.fromkeys(COLUMNS)
    r.update(task=cell.task, model=cell.model, init=cell.init, mode=cell.mode, seed=cell.seed,
             condition=cell.condition, kind=kind, **fields)
    return r


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _table(rows, columns) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]


def write_tables(rows, out: Path) -> None:
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    kinds = list(dict.fromkeys(r.get("kind") or "forecast" for r in rows))
    # a searched study's tables show what each cell chose and what its search cost
    extra = BUDGET_COLUMNS if any(r.get("params") for r in rows) else ()
    if kinds in ([], ["forecast"]):
        lines = _table(rows, FORECAST_COLUMNS + extra)
    else:
        lines = []
        for kind in (k for k in KIND_TABLES if k in kinds):
            lines += ([""] if lines else []) + [_HEADINGS[kind], ""]
            lines += _table([r for r in rows if (r.get("kind") or "forecast") == kind], KIND_TABLES[kind] + extra)
    (out / "results.md").write_text("\n".join(lines) + "\n")
