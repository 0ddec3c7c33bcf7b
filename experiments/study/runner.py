"""The whole study: the grid run (or resumed from its stored cells), then its tables, comparisons, histories and plots."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from .baselines import baselines
from .cells import circuit_evaluations, run_cell
from .comparisons import COLUMNS as COMPARISON_COLUMNS
from .comparisons import study_comparisons
from .conditions import EXACT, condition_of, write_conditions
from .config import StudyConfig
from .file_tasks import register_file_tasks
from .grid import grid
from .on_ray import _run_on_ray
from .plots import write_plots
from .store import _load_cell, _save_cell, cell_settings
from .summary import model_families
from .tables import write_tables


def run(cfg: StudyConfig, out=None, progress: bool = True, ray=None, collect_only: bool = False) -> dict:
    """Run the whole grid; write tables, comparisons, histories and plots; return them.

    Every finished cell is written at once to ``OUT/cells/`` (one JSON file
    per cell, with the settings it was run with), and a run reuses the cells
    it finds there that were run with the same settings: a long study that
    is interrupted resumes where it stopped, and adding seeds or tasks to a
    config runs only the new cells. ``collect_only=True`` runs nothing and
    builds the tables and plots from the stored cells (``missing`` in the
    result lists the cells not yet run).

    ``OUT/comparisons.csv`` holds every comparison a reading states, on the
    exact condition's rows, each a paired Wilcoxon test over seeds
    (:func:`write_comparisons`); the result has them as ``comparisons``.

    ``ray=None`` runs the cells in this process. ``ray="local"`` starts a local
    Ray and runs every cell as a Ray task; any other string is the address of
    a running Ray cluster to join. The cells are independent and seeded, so
    both give the same table (up to the last bits of floating-point sums
    that a different thread count can reorder).
    """
    from tqdm.auto import tqdm

    # this config's tasks from files, even if another config's of the same name was loaded since
    register_file_tasks(cfg.file_tasks, cfg.train_fraction)
    out = Path(out or cfg.out)
    store = out / "cells"
    store.mkdir(parents=True, exist_ok=True)
    cells = grid(cfg)
    by_task = {task: cell_settings(cfg, task) for task in cfg.tasks}
    # a cell under a device condition also records the backend it resolves to (the noise of a device's
    # calibration and layout, the shots): a changed calibration or noise table never reuses its stored result
    settings = {c: by_task[c.task] if c.condition == EXACT else
                {**by_task[c.task], "condition": condition_of(c.condition, cfg.conditions).backend(
                    c.seed, 1 + cfg.hidden_size).to_config()} for c in cells}
    results = {c: _load_cell(store, c, settings[c]) for c in cells}
    todo = [c for c in cells if results[c] is None]
    reused = len(cells) - len(todo)
    if todo and not collect_only:
        def keep(cell, result):
            _save_cell(store, cell, settings[cell], result)
            results[cell] = result

        bar = tqdm(total=len(todo), desc=f"study {cfg.name}", unit="cell", disable=None if progress else True)
        if ray:
            _run_on_ray(todo, cfg, ray, bar, keep)
        else:
            for cell in todo:
                keep(cell, run_cell(cell, cfg))
                bar.update()
        bar.close()
    missing = [c for c in cells if results[c] is None]
    tasks = [t for t in cfg.tasks if any(c.task == t and results[c] is not None for c in cells)]
    rows, histories = [], []
    for task in tasks:
        rows += baselines(task, cfg)
    for cell in cells:
        if results[cell] is not None:
            # recounted from the settings, so that every stored cell counts the same way
            row, record = results[cell]
            params = json.loads(row["params"]) if row.get("params") else None
            row["circuit_evaluations"] = circuit_evaluations(cell, cfg, row["epochs"], params, record.get("search"))
            # the shots those evaluations cost under the cell's condition (0 for exact values)
            shots = condition_of(cell.condition, cfg.conditions).shots
            row["shots"] = (shots or 0) * (row["circuit_evaluations"] or 0)
            rows.append(results[cell][0])
            histories.append(results[cell][1])
    write_tables(rows, out)
    (out / "histories.json").write_text(json.dumps(histories))
    # the learning curves and predictions are the exact condition's; the others have a table and plot of their own
    exact_rows = [r for r in rows if r.get("condition", EXACT) == EXACT]
    exact_histories = [h for h in histories if h["cell"].get("condition", EXACT) == EXACT]
    comparisons = write_comparisons(exact_rows, out)
    plots = write_plots(cfg, exact_rows, exact_histories, out, tasks)
    if len(cfg.conditions) > 1:
        plots += write_conditions(cfg, rows, out)
    if cfg.capacities is not None:
        # what explains the table: each model's memory and nonlinearity (its reservoir as the config builds
        # it; with a [search], the reservoirs the search chose, per task)
        from .capacities import chosen_capacities, write_capacities

        written = (chosen_capacities(cfg, out / "results.csv", out, progress=progress, n_samples=cfg.capacities)
                   if cfg.search is not None else
                   write_capacities(cfg, out, progress=progress, n_samples=cfg.capacities))
        plots += [p for p in written if p.suffix == ".png"]
    return {"rows": rows, "histories": histories, "plots": plots, "out": out, "reused": reused,
            "missing": missing, "comparisons": comparisons}


def write_comparisons(rows, out: Path) -> list[dict]:
    """``OUT/comparisons.csv``: :func:`~experiments.study.comparisons.study_comparisons` of ``rows`` (one
    condition's), columns :data:`~experiments.study.comparisons.COLUMNS`; a p-value the test could not
    give (fewer than 2 paired seeds, no difference) is empty. Returns the comparisons."""
    comparisons = study_comparisons(rows, *model_families(rows))
    with open(Path(out) / "comparisons.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COMPARISON_COLUMNS)
        writer.writeheader()
        writer.writerows(comparisons)
    return comparisons
