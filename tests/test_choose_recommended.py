"""Choosing the recommended reservoir from the search's choices: candidates, and the choice by validation."""
import json

import math

import numpy as np
import pytest

from experiments.choose_recommended import candidates, esn_candidates, reference, score


def _row(model, init, params, mode="ridge"):
    return {"model": model, "init": init, "mode": mode, "params": json.dumps(params)}


def test_candidates_are_the_most_chosen_discrete_configurations():
    q = {"ensemble": 3, "hidden_size": 2, "features": "all", "correlators": True}
    rows = [_row("QRNN", "uniform", {**q, "input_scaling": s}) for s in (0.3, 0.5, 0.6)]
    rows += [_row("QLSTM", "normal", {**q, "ensemble": 1, "input_scaling": 2.2})]
    rows += [_row("QGRU", "uniform", {**q, "input_scaling": 9.0}, mode="epochs")]  # not a ridge cell: left out
    rows += [_row("ESN", "-", {"size": 100, "sparsity": 0.9, "spectral_radius": r, "input_scaling": 1.0,
                               "leak_rate": 0.5}) for r in (0.5, 0.7, 0.9)]
    cands = candidates(rows, top=5)
    assert cands[0] == {"init": "uniform", "params": {**q, "input_scaling": 0.5}, "chosen_by": 3}
    assert cands[1]["params"]["input_scaling"] == 2.0 and cands[1]["chosen_by"] == 1  # rounded to a power of 2
    assert len(cands) == 2
    esn = esn_candidates(rows, top=3)
    assert esn == [{"init": "-", "params": {"size": 100, "sparsity": 0.9, "spectral_radius": 0.7,
                                            "input_scaling": 1.0, "leak_rate": 0.5}, "chosen_by": 3}]


TASKS = ["sine", "waveforms", "mackey_glass_generation"]  # a task of every kind


def _cfg():
    from experiments import study

    return study.parse_config({"study": {"name": "c", "tasks": TASKS, "models": ["QRNN"], "modes": ["ridge"],
                                         "seeds": [0, 1]}, "search": {"trials": 2}})


def test_a_candidate_is_scored_on_every_task_kind_against_its_baseline():
    cfg = _cfg()
    cand = {"init": "normal", "params": {"ensemble": 1, "hidden_size": 2, "features": "output",
                                         "correlators": False, "input_scaling": 1.0}, "chosen_by": 1}
    refs = {(t, s): reference(t, cfg, s) for t in TASKS for s in (0, 1)}
    assert all(math.isfinite(v) and v > 0 for v in refs.values())
    # a classification's split is the cell seed's, so its baseline moves with it; a forecast's does not
    assert refs["sine", 0] == refs["sine", 1]
    s = score("QRNN", cand, {t: cfg for t in TASKS}, TASKS, [0, 1], refs)
    assert set(s["per_task"]) == set(TASKS) and s["score"] > 0
    assert s["score"] == pytest.approx(math.exp(sum(math.log(v["ratio"]) for v in s["per_task"].values()) / 3))
    assert s == score("QRNN", cand, {t: cfg for t in TASKS}, TASKS, [0, 1], refs)  # deterministic


@pytest.mark.parametrize("task", TASKS)
def test_a_candidate_gets_the_score_the_search_gave_it(task):
    # choose_recommended scores by the search's own objective: a point the search tried scores the same
    from experiments.study import cells, classification, generation
    from experiments.study.grid import Cell
    from experiments.study.tasks import _data, classification_data, generation_data, task_train_fraction

    cfg = _cfg()
    cell = Cell(task, "QRNN", "ridge", 1, "uniform")
    if task == "sine":
        Xtr, _, ytr, _ = _data(task, task_train_fraction(task, cfg))
        found = cells.search_forecast(cell, cfg, Xtr, ytr)
    elif task == "waveforms":
        found = classification.search_cell(cell, cfg, classification_data(task))
    else:
        found = generation.search_cell(cell, cfg, generation_data(task))
    objective = cells.validation_objective(cell, cfg)
    for params, value in found.trials:
        assert objective(params) == value


def _two_studies(tmp_path) -> list[str]:
    """Two searched study configs, a forecast (sine) and a classification task (waveforms), not run."""
    paths = []
    for name, task in (("f", "sine"), ("c", "waveforms")):
        path = tmp_path / f"{name}.toml"
        path.write_text(f'[study]\nname = "{name}"\nout = "{tmp_path / name}"\ntasks = ["{task}"]\n'
                        'models = ["QRNN", "ESN"]\nmodes = ["ridge"]\nseeds = [0]\ninits = ["uniform"]\n'
                        '[search]\ntrials = 2\n')
        paths.append(str(path))
    return paths


def test_the_choice_is_made_across_searched_studies(tmp_path, monkeypatch):
    # two searched studies (a forecast and a classification task) in one choice, from their own results
    from experiments import choose_recommended, study

    paths = _two_studies(tmp_path)
    for name, path in zip(("f", "c"), paths):
        study.run(study.load_config(path), tmp_path / name, progress=False)
    ranked, esns = choose_recommended.main(["--configs", *paths, "--top", "1", "--seeds", "1",
                                            "--out", str(tmp_path / "choice")])
    text = (tmp_path / "choice" / "choice.md").read_text()
    assert "on 2 tasks (sine, waveforms), seeds [0]" in text
    assert len(ranked) == len(choose_recommended.SCALINGS) and len(esns) == len(choose_recommended.SCALINGS)
    assert f"Best quantum configuration: `{ranked[0][1]}`, score {ranked[0][0]:.3g}." in text
    with pytest.raises(SystemExit):
        choose_recommended.main(["--configs", *paths, "--tasks", "narma10", "--out", str(tmp_path / "x")])
    # a rerun reusing the first run's errors measures nothing and chooses the same; another seed measures again
    import experiments.study.cells as cells

    measured = []
    real = cells.validation_objective

    def counting(cell, cfg):
        measured.append(cell)
        return real(cell, cfg)

    monkeypatch.setattr(cells, "validation_objective", counting)
    again = ["--configs", *paths, "--top", "1", "--out", str(tmp_path / "again"), "--reuse",
             str(tmp_path / "choice" / "candidates.json")]
    assert choose_recommended.main(again + ["--seeds", "1"]) == (ranked, esns) and measured == []
    assert (tmp_path / "again" / "choice.md").read_text() == text
    choose_recommended.main(again + ["--seeds", "2"])
    assert measured and {c.seed for c in measured} == {1}


def test_a_costly_task_scores_only_the_best_of_the_screening(tmp_path):
    from experiments import choose_recommended, study

    paths = _two_studies(tmp_path)
    # the costly task's study need not have run: its choices are not candidates
    study.run(study.load_config(paths[0]), tmp_path / "f", progress=False)
    ranked, esns = choose_recommended.main(["--configs", *paths, "--top", "1", "--seeds", "1", "--costly",
                                            "waveforms", "--screen", "2", "--out", str(tmp_path / "choice")])
    assert len(ranked) == 2 and len(esns) == 2
    assert all(set(s["per_task"]) == {"sine", "waveforms"} for _, _, ss in ranked for s in ss)
    saved = json.loads((tmp_path / "choice" / "candidates.json").read_text())
    assert saved["screened_on"] == ["sine"] and all(set(s["per_task"]) == {"sine"} for s in saved["scored"])
    screened_ranked, _ = choose_recommended._rank(saved["scored"])
    assert {key for _, key, _ in ranked} == {key for _, key, _ in screened_ranked[:2]}
    text = (tmp_path / "choice" / "choice.md").read_text()
    assert "## On all 2 tasks" in text and "## Screened on 1 tasks (sine)" in text
    with pytest.raises(SystemExit):
        choose_recommended.main(["--configs", paths[1], "--costly", "waveforms", "--out", str(tmp_path / "x")])


def test_the_validation_objective_by_hand():
    # each kind's objective, recomputed from its definition: the split, the ridge fit, the score
    from qrnn import ReservoirClassifier, ReservoirRegressor
    from qrnn.metrics import mse
    from qrnn.tasks import chronological_split

    from experiments.study import cells
    from experiments.study.classification import validation_split
    from experiments.study.grid import Cell
    from experiments.study.models import build_with
    from experiments.study.tasks import _data, classification_data, generation_data, task_train_fraction

    cfg = _cfg()
    params = {"ensemble": 1, "hidden_size": 2, "features": "all", "correlators": True, "input_scaling": 0.7}
    cell = Cell("sine", "QRNN", "ridge", 1, "uniform")
    Xtr, _, ytr, _ = _data("sine", task_train_fraction("sine", cfg))
    n = int(round(0.8 * len(Xtr)))
    Xa, Xv, ya, yv = chronological_split(Xtr, ytr, 0.8)
    assert len(Xa) in (n - 1, n, n + 1) and len(Xa) + len(Xv) == len(Xtr)
    model, _ = build_with(cell, cfg, params)
    by_hand = mse(yv, ReservoirRegressor(model, alpha="loo").fit(Xa, ya).predict(Xv))
    assert cells.validation_objective(cell, cfg)(params) == pytest.approx(by_hand, rel=1e-12)

    cell = Cell("waveforms", "QRNN", "ridge", 1, "uniform")
    data = classification_data("waveforms")
    fit, val = validation_split(data.y_train, 0.2, 1)
    assert not set(fit) & set(val) and len(val) == pytest.approx(0.2 * len(data.y_train), abs=len(data.classes))
    model, _ = build_with(cell, cfg, params)
    clf = ReservoirClassifier(model, alpha="loo", readout="last+mean", washout=0).fit([data.X_train[i] for i in fit],
                                                                       data.y_train[fit])
    errors = np.mean(clf.predict([data.X_train[i] for i in val]) != data.y_train[val])
    objective = cells.validation_objective(cell, cfg)
    assert objective(params) == pytest.approx(errors, abs=1e-12) and objective.n_validation == len(val)

    cell = Cell("mackey_glass_generation", "QRNN", "ridge", 1, "uniform")
    stream = generation_data("mackey_glass_generation")
    a = int(round(0.8 * stream.n_fit))
    h = min(stream.horizon, stream.n_fit - a)
    model, _ = build_with(cell, cfg, params)
    est = ReservoirRegressor(model, alpha="loo", readout="all", washout=stream.washout).fit(
        stream.series[None, :a, None], stream.series[None, 1:a + 1])
    rmse = np.sqrt(mse(stream.series[a + 1:a + 1 + h], est.generate(stream.series[:a + 1], h)))
    assert cells.validation_objective(cell, cfg)(params) == pytest.approx(rmse, rel=1e-10)
