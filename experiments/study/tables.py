"""The results tables: one row per cell, as CSV and Markdown."""
from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ("task", "model", "init", "mode", "seed", "train_mse", "test_mse", "train_nrmse", "test_nrmse", "epochs",
           "epochs_to_5pct", "seconds", "seconds_per_epoch", "trained_params", "circuit_evaluations",
           "input_scaling", "condition")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def write_tables(rows, out: Path) -> None:
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r.get(c)) for c in COLUMNS) + " |" for r in rows]
    (out / "results.md").write_text("\n".join(lines) + "\n")
