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
    ({"trials": 3, "quantum": {"hidden_size": [3, 24]}}, {}, r"search.quantum.hidden_size: 24 needs 25 qubits"),
    ({"trials": 3, "quantum": {"hidden_size": {"int": [3, 23]}}}, {"study": {"tasks": ["japanese_vowels"]}},
     r"search.quantum.hidden_size: 23 needs 35 qubits for the quantum models on task 'japanese_vowels'"),
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


# --- the other task kinds: classification (error rate on a stratified part) and generation (a generation of
# the fitted stream's last part) ---

N_FIT, HORIZON, WASHOUT = 240, 20, 20


def _stream(tail_shift: float):
    """A noisy Mackey-Glass-like sine whose generated horizon (past the fitted stream) is shifted."""
    t = np.arange(N_FIT + 1 + HORIZON)
    x = np.sin(0.2 * t) * 0.6 + 0.03 * np.random.default_rng(1).standard_normal(len(t))
    x[N_FIT + 1:] += tail_shift
    return x


def _sequences(test_shift: float):
    """Two classes of 2-D drifts in noise; the test sequences moved by ``test_shift``."""
    rng = np.random.default_rng(2)
    X, y = [], []
    for i in range(40):
        sign = 1.0 if i % 2 else -1.0
        t = np.arange(rng.integers(5, 9))[:, None]
        X.append(sign * 0.15 * t + 0.4 * rng.standard_normal((len(t), 2)))
        y.append("up" if i % 2 else "down")
    X_test = [x + test_shift for x in X[20:]]
    return X[:20], np.array(y[:20]), X_test, np.array(y[20:])


@pytest.fixture
def kinds():
    yield
    for name in ("probe_gen", "probe_cls"):
        if name in study.TASKS:
            study.TASKS.unregister(name)


def _register_kinds(shift: float):
    study.register_generation_task("probe_gen", lambda: _stream(shift), n_fit=N_FIT, horizon=HORIZON,
                                   washout=WASHOUT, chunk=20, replace=True)
    study.register_classification_task("probe_cls", lambda: _sequences(shift), readout="last+mean", replace=True)


def _kinds_cfg(**search):
    return study.parse_config({
        "study": {"name": "k", "tasks": ["probe_cls", "probe_gen"], "models": ["QRNN", "GRU", "ESN"],
                  "modes": ["ridge", "epochs"], "seeds": [0]},
        "training": {"epochs": 3, "batch_size": 4},
        "search": {"trials": 4, **search}})


@pytest.mark.parametrize("task,score", [("probe_cls", "test_accuracy"), ("probe_gen", "horizon_nrmse")])
def test_the_search_never_sees_the_test_sequences_or_the_generated_horizon(kinds, task, score):
    chosen = {}
    for shift in (0.0, 0.9):
        _register_kinds(shift)
        cfg = _kinds_cfg()
        for model, mode in (("QRNN", "ridge"), ("GRU", "epochs"), ("ESN", "ridge")):
            row, _ = cells.run_cell(Cell(task, model, mode, 0, "normal" if model == "QRNN" else "-"), cfg)
            assert row["search_trials"] == 4 and row["search_seconds"] > 0
            chosen.setdefault((model, mode), []).append((row["params"], row[score], row["train_mse"]
                                                         if task == "probe_gen" else row["train_accuracy"]))
    moved = False
    for (model, mode), ((params_a, score_a, train_a), (params_b, score_b, train_b)) in chosen.items():
        assert params_a == params_b, (model, mode)  # the held-out part changed; nothing chosen moved
        assert train_a == train_b, (model, mode)  # nor the fit on the training part
        moved |= score_a != score_b
    assert moved  # and the change did reach what is scored


@pytest.mark.parametrize("task", ["probe_cls", "probe_gen"])
def test_a_searched_cell_of_the_other_kinds_counts_every_trial(kinds, task):
    import json

    from experiments.study import classification, generation
    from experiments.study.cells import circuit_evaluations, search_points

    _register_kinds(0.0)
    cfg = _kinds_cfg(training={"lr": {"log_uniform": [1e-3, 1e-1]}, "epochs": {"int": [2, 3]}})
    cell = Cell(task, "QRNN", "trained", 0, "uniform")
    row, record = cells.run_cell(cell, cfg)
    assert record["search"] == search_points(cell, cfg)
    chosen = json.loads(row["params"])
    assert {"lr", "epochs", "ensemble", "input_scaling"} <= set(chosen)
    # by hand, for a trained QRNN (one circuit a step): every epoch's fit, then the final predictions
    if task == "probe_cls":
        data = tasks.classification_data(task)
        train, test = data.steps()
        fit, _ = classification.validation_split(data.y_train, 0.2, 0)
        n_fit = sum(len(data.X_train[i]) for i in fit)
        want = chosen["ensemble"] * (train * row["epochs"] + train + test)
        want += sum(p["ensemble"] * (n_fit * p["epochs"] + train - n_fit) for p in record["search"])
    else:
        stream = tasks.generation_data(task)
        a, h = generation.validation_part(stream, 0.2)

        def fit(n, epochs):
            return stream.chunks(n)[0].shape[0] * (WASHOUT + 20) * epochs

        want = chosen["ensemble"] * (fit(N_FIT, row["epochs"]) + N_FIT + N_FIT + 1 + HORIZON - 1)
        want += sum(p["ensemble"] * (fit(a, p["epochs"]) + a + 1 + h - 1) for p in record["search"])
    assert row["epochs"] == chosen["epochs"]
    assert row["circuit_evaluations"] == want
    assert circuit_evaluations(cell, cfg, row["epochs"], chosen) == want  # recounted without running


def test_a_searched_study_of_the_other_kinds_runs_and_reruns_when_the_search_changes(kinds, tmp_path):
    _register_kinds(0.0)
    first = study.run(_kinds_cfg(), tmp_path, progress=False)
    rows = [r for r in first["rows"] if r["mode"] != "baseline"]
    assert len(rows) == 2 * 3 * 2 and all(r["search_trials"] == 4 for r in rows)  # tasks x models x modes
    assert study.run(_kinds_cfg(), tmp_path, progress=False)["reused"] == 12
    assert study.run(_kinds_cfg(trials=3), tmp_path, progress=False)["reused"] == 0


@pytest.mark.parametrize("search,extra,match", [
    ({"validation_fraction": 0.99}, {}, r"search.validation_fraction: 0.99 leaves 0 fitting sequences"),
    ({"validation_fraction": 0.95}, {"study": {"tasks": ["probe_gen"]}},
     r"search.validation_fraction: 0.95 leaves 12 fitting and 20 generated steps"),
    ({}, {"study": {"tasks": ["probe_gen"], "modes": ["epochs"]}, "training": {"batch_size": 10}},
     r"training.batch_size: 10 is larger than the 9 pieces the search fits on"),
    ({}, {"study": {"modes": ["epochs"]}, "training": {"batch_size": 18}},
     r"training.batch_size: 18 is larger than the 16 sequences the search fits on"),
])
def test_bad_searches_of_the_other_kinds_are_refused(kinds, search, extra, match):
    _register_kinds(0.0)
    raw = {"study": {"name": "s", "tasks": ["probe_cls"], "models": ["QRNN"], "modes": ["ridge"], "seeds": [0]},
           "search": {"trials": 3, **search}}
    for section, table in extra.items():
        raw.setdefault(section, {}).update(table)
    with pytest.raises(ValueError, match=match):
        study.parse_config(raw)
