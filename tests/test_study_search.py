"""The study's equal-budget search, wired in: the test windows never reach it, the same config gives the same
table, what each cell chose is recorded, and bad [search] sections are refused naming the field."""
import csv

import numpy as np
import pytest

from experiments import study
from experiments.study import cells, tasks
from experiments.study.grid import Cell


def _series(tail_shift: float):
    """A noisy sine whose last third (where the test windows are) is shifted by ``tail_shift``."""
    t = np.arange(120)
    x = np.sin(0.3 * t) * 0.5 + 0.05 * np.random.default_rng(0).standard_normal(120)
    x[80:] += tail_shift
    return x


@pytest.fixture
def shifted():
    names = ("probe",)
    yield names
    for name in names:
        if name in study.TASKS:
            study.TASKS.unregister(name)


def _cfg(**search):
    return study.parse_config({
        "study": {"name": "s", "tasks": ["probe"], "models": ["QRNN", "GRU", "ESN"], "modes": ["ridge", "epochs"],
                  "seeds": [0], "train_fraction": 0.6},
        "training": {"epochs": 4, "batch_size": 5},
        "search": {"trials": 4, **search}})


def test_the_search_never_sees_the_test_windows(shifted):
    chosen = {}
    for shift in (0.0, 0.7):
        study.register_task("probe", lambda shift=shift: (_series(shift), None, 4), replace=True)
        tasks._SHAPES.pop("probe", None)
        cfg = _cfg()
        for model, mode in (("QRNN", "ridge"), ("GRU", "epochs"), ("ESN", "ridge")):
            row, _ = cells.run_cell(Cell("probe", model, mode, 0, "normal" if model == "QRNN" else "-"), cfg)
            chosen.setdefault((model, mode), []).append((row["params"], row["test_mse"]))
    for (model, mode), ((params_a, mse_a), (params_b, mse_b)) in chosen.items():
        assert params_a == params_b, (model, mode)  # the test windows changed; nothing chosen moved
        assert mse_a != mse_b  # the test windows did change what is scored


def test_the_same_config_gives_the_same_table(shifted, tmp_path):
    study.register_task("probe", lambda: (_series(0.0), None, 4), replace=True)
    tasks._SHAPES.pop("probe", None)
    tables = []
    for out in ("a", "b"):
        study.run(_cfg(), tmp_path / out, progress=False)
        with open(tmp_path / out / "results.csv") as fh:
            rows = list(csv.DictReader(fh))
        tables.append([{k: v for k, v in r.items() if "seconds" not in k} for r in rows])
    assert tables[0] == tables[1]
    searched = [r for r in tables[0] if r["mode"] != "baseline"]
    assert searched and all(r["search_trials"] == "4" and r["params"].startswith("{") for r in searched)
    assert all(int(r["readout_features"]) >= 1 for r in searched)
    assert all('"lr"' in r["params"] and '"epochs"' in r["params"] for r in searched if r["mode"] == "epochs")
    md = (tmp_path / "a" / "results.md").read_text()
    assert "| params |" in md or "params |" in md


def test_a_changed_search_reruns_the_cells(shifted, tmp_path):
    study.register_task("probe", lambda: (_series(0.0), None, 4), replace=True)
    tasks._SHAPES.pop("probe", None)
    first = study.run(_cfg(), tmp_path, progress=False)
    assert first["reused"] == 0
    assert study.run(_cfg(), tmp_path, progress=False)["reused"] == 6
    assert study.run(_cfg(trials=5), tmp_path, progress=False)["reused"] == 0


@pytest.mark.parametrize("search,extra,match", [
    ({"trials": 0}, {}, r"search.trials: must be an integer >= 1"),
    ({"trials": 3, "sampler": "grid"}, {}, r"search.sampler: must be one of \['random', 'tpe'\]"),
    ({"trials": 3, "budget": 1}, {}, r"search.budget: unknown field"),
    ({"trials": 3, "quantum": {"depth": [1, 2]}}, {}, r"search.quantum.depth: unknown parameter"),
    ({"trials": 3, "training": {"epochs": {"int": [5, 500]}}}, {}, r"may not exceed training.epochs = 100"),
    ({"trials": 3, "validation_fraction": 1.5}, {}, r"search.validation_fraction: must be in \(0, 1\)"),
    ({"trials": 3}, {"reservoir": {"input_scalings": [0.5, 1.0]}}, r"\[search\] chooses the input scaling"),
    ({"trials": 3}, {"study": {"tasks": ["waveforms"]}}, r"the search runs on forecasting tasks so far"),
    ({"trials": 3}, {"conditions": {"shots": [100]}}, r"under device conditions .* is not supported yet"),
])
def test_bad_search_sections_are_refused(search, extra, match):
    raw = {"study": {"name": "s", "tasks": ["damped_shm"], "models": ["QRNN"], "modes": ["ridge"], "seeds": [0]},
           "search": search}
    for section, table in extra.items():
        raw.setdefault(section, {}).update(table)
    with pytest.raises(ValueError, match=match):
        study.parse_config(raw)


@pytest.mark.parametrize("name,stored", [("strong", 490), ("full", 1015)])
def test_the_committed_studies_cells_still_load(name, stored):
    # a new column (the budgets, the search's) must not make every committed cell "damaged" and rerun
    import warnings
    from pathlib import Path

    from experiments.study.grid import grid
    from experiments.study.store import _load_cell, cell_settings

    cfg = study.load_config(f"experiments/configs/{name}.toml")
    settings = {t: cell_settings(cfg, t) for t in cfg.tasks}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a damaged-cell warning fails the test
        found = sum(_load_cell(Path(f"experiments/results/{name}/cells"), c, settings[c.task]) is not None
                    for c in grid(cfg))
    assert found == stored


def test_a_searched_cells_budget_counts_every_trial_and_is_recounted_the_same(shifted, tmp_path):
    from experiments.study.cells import circuit_evaluations, search_points
    from experiments.study.tasks import _shape

    study.register_task("probe", lambda: (_series(0.0), None, 4), replace=True)
    tasks._SHAPES.pop("probe", None)
    cfg = _cfg()
    cell = Cell("probe", "QRNN", "epochs", 0, "normal")
    row, record = cells.run_cell(cell, cfg)
    assert record["search"] == search_points(cell, cfg)  # the random draws, drawn again from the seed
    # by hand: the final frozen reservoir over the training windows (its fit) and every window (its
    # predictions), each trial over the fitting windows once (a frozen reservoir) and the validation windows
    n_windows, steps = _shape("probe")
    n_train = cells.split_point(n_windows, 0.6)
    n_fit = cells.split_point(n_train, 0.8)
    chosen = row["params"]
    import json

    ensemble = json.loads(chosen)["ensemble"]
    want = steps * ensemble * (n_train + n_windows) + sum(steps * p["ensemble"] * n_train for p in record["search"])
    assert n_fit < n_train and row["circuit_evaluations"] == want
    assert circuit_evaluations(cell, cfg, row["epochs"], json.loads(chosen)) == want  # recounted without running
    out = study.run(cfg, tmp_path, progress=False)
    mine = next(r for r in out["rows"] if (r["model"], r["mode"], r["init"]) == ("QRNN", "epochs", "normal"))
    assert mine["circuit_evaluations"] == want and mine["shots"] == 0
    assert all(r["shots"] == 0 for r in out["rows"] if r["mode"] != "baseline")
