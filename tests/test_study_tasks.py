"""The study's other task kinds: classification (accuracy) and closed-loop generation (valid time, NRMSE),
end to end on tiny configs, stored and resumed, and their config checks."""
import csv
import gzip
import json

import numpy as np
import pytest

from experiments import reading as study_reading
from experiments import study
from experiments.study import runner, tasks
from qrnn import MissingExtraError, ReservoirClassifier, ReservoirRegressor
from qrnn.classical import ESN
from qrnn.metrics import valid_time
from qrnn.tasks import mackey_glass

N_FIT, HORIZON, WASHOUT = 300, 20, 20


def _mg():
    return np.tanh(mackey_glass(500 + N_FIT + 1 + HORIZON, tau=17.0)[500:] - 1.0)


def _labelled(seed=0, n=24, d=2):
    """Two classes of short 2-D sequences of unequal lengths: a drift up or down, in noise."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for i in range(n):
        sign = 1.0 if i % 2 else -1.0
        t = np.arange(rng.integers(5, 9))[:, None]
        X.append(sign * 0.2 * t + 0.3 * rng.standard_normal((len(t), d)))
        y.append("up" if i % 2 else "down")
    y = np.array(y)
    return X[: n // 2], y[: n // 2], X[n // 2:], y[n // 2:]


@pytest.fixture(autouse=True)
def tiny_tasks():
    """A small generation task and a small classification task, registered for each test and removed after."""
    study.register_generation_task("tiny_mg", _mg, n_fit=N_FIT, horizon=HORIZON, washout=WASHOUT, chunk=20)
    study.register_classification_task("tiny_cls", _labelled, readout="mean")
    yield
    for name in ("tiny_mg", "tiny_cls", "onecls", "wide"):
        if name in study.TASKS:
            study.TASKS.unregister(name)
    for name in study.TASKS.names():
        if "file" in study.TASKS.entry(name).tags:
            study.TASKS.unregister(name)


def _csv(out):
    with open(out / "results.csv") as fh:
        return list(csv.DictReader(fh))


def test_classification_and_generation_run_end_to_end_each_with_its_own_metric(tmp_path, capsys):
    (tmp_path / "c.toml").write_text("""
[study]
name = "kinds"
tasks = ["waveforms", "tiny_mg"]
models = ["QRNN", "GRU", "ESN-12"]
modes = ["ridge", "epochs", "trained"]
seeds = [0]

[models]
hidden_size = 2

[training]
epochs = 2
batch_size = 8
""")
    out = tmp_path / "out"
    result = study.main([str(tmp_path / "c.toml"), "--out", str(out), "--quiet"])
    rows = _csv(out)
    # per task: 3 baselines, QRNN and GRU in 3 modes, the ESN in 2 (nothing of it to train)
    assert len(rows) == 2 * (3 + 3 + 3 + 2)
    cls = [r for r in rows if r["task"] == "waveforms"]
    gen = [r for r in rows if r["task"] == "tiny_mg"]
    assert {r["kind"] for r in cls} == {"classification"} and {r["kind"] for r in gen} == {"generation"}
    assert {r["model"] for r in cls if r["mode"] == "baseline"} == {"majority class", "ridge on the raw sequence",
                                                                    "ESN(3)"}
    for r in cls:  # accuracy, and no MSE column filled in
        assert 0.0 <= float(r["test_accuracy"]) <= 1.0 and 0.0 <= float(r["train_accuracy"]) <= 1.0
        assert r["test_mse"] == r["train_mse"] == r["valid_time"] == ""
    for r in gen:  # the valid time and the horizon's NRMSE; the one-step error on the fitted stream
        assert 0 <= int(r["valid_time"]) <= HORIZON and float(r["horizon_nrmse"]) > 0
        assert float(r["train_nrmse"]) >= 0 and r["test_mse"] == r["test_accuracy"] == ""
    maj = next(r for r in cls if r["model"] == "majority class")
    assert float(maj["test_accuracy"]) == pytest.approx(1 / 3)  # waveforms: 20 of each of 3 classes

    # the ESN's ridge cells, recomputed here from the estimators
    X, y, Xt, yt = study.waveforms()
    X, Xt = [x[:, None] for x in X], [x[:, None] for x in Xt]  # (T_i,) -> (T_i, 1): one input a step
    esn_cls = next(r for r in cls if r["model"] == "ESN-12" and r["mode"] == "ridge")
    expected = ReservoirClassifier(ESN(1, 12, seed=0), alpha="loo", readout="last+mean").fit(X, y).score(Xt, yt)
    assert float(esn_cls["test_accuracy"]) == pytest.approx(expected, abs=1e-12)
    s = _mg()
    est = ReservoirRegressor(ESN(1, 12, seed=0), alpha="loo", readout="all", washout=WASHOUT)
    est.fit(s[None, :N_FIT, None], s[None, 1:N_FIT + 1])
    seq = list(s[:N_FIT + 1])
    for _ in range(HORIZON):  # a closed loop by hand: the whole history rerun for each new value
        seq.append(est.predict(np.array(seq)[None, :, None])[0, -1])
    by_hand, truth, scale = np.array(seq[N_FIT + 1:]), s[N_FIT + 1:], s[:N_FIT + 1].std()
    histories = json.loads((out / "histories.json").read_text())
    esn_gen = next(h for h in histories if h["cell"]["task"] == "tiny_mg" and h["cell"]["model"] == "ESN-12"
                   and h["cell"]["mode"] == "ridge")
    np.testing.assert_allclose(esn_gen["predictions"], by_hand, rtol=0, atol=1e-10)
    row = next(r for r in gen if r["model"] == "ESN-12" and r["mode"] == "ridge")
    assert int(row["valid_time"]) == valid_time(truth, by_hand, threshold=0.4, scale=scale)
    assert float(row["horizon_nrmse"]) == pytest.approx(np.sqrt(np.mean((truth - by_hand) ** 2)) / scale, rel=1e-8)
    # circuits: the stream fitted, predicted one step ahead, the warmup, the generated steps but the last
    q = next(r for r in gen if r["model"] == "QRNN" and r["mode"] == "ridge")
    assert int(q["circuit_evaluations"]) == 2 * N_FIT + N_FIT + 1 + HORIZON - 1  # QRNN: one circuit a step
    # the learning curves: the test cross-entropy of a classification, the training loss of a generation
    for h in histories:
        if h["cell"]["mode"] != "ridge":
            key = "monitor_loss" if h["cell"]["task"] == "waveforms" else "train_loss"
            assert len(h["history"]) == 2 and all(e[key] > 0 for e in h["history"])
    assert all(label in ("sine", "square", "sawtooth") for h in histories if h["cell"]["task"] == "waveforms"
               for label in h["predictions"])

    md = (out / "results.md").read_text()
    cls_header = next(line for line in md.splitlines() if line.startswith("| task") and "accuracy" in line)
    gen_header = next(line for line in md.splitlines() if line.startswith("| task") and "valid_time" in line)
    assert "test_mse" not in cls_header and "test_mse" not in gen_header and "horizon_nrmse" in gen_header
    assert "## Classification" in md and "## Closed-loop generation" in md and "## Forecasting" not in md
    names = sorted(p.name for p in result["plots"])
    assert names == ["tiny_mg-generation.png", "tiny_mg-loss.png", "waveforms-loss.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in result["plots"])
    printed = capsys.readouterr().out
    assert "waveforms: the best baseline is" in printed and "test accuracy" in printed
    assert "tiny_mg: the best baseline is" in printed and "valid time" in printed
    text = study_reading.reading([], [], rows)
    assert "## waveforms (classification, tasks-issue20.toml)" in text
    assert "## tiny_mg (closed-loop generation, tasks-issue20.toml)" in text and "| ESN-12 | - |" in text


def test_a_stored_cell_is_reused_and_a_changed_task_reruns_only_its_cells(tmp_path, monkeypatch):
    cfg = study.parse_config({"study": {"name": "store", "tasks": ["tiny_cls", "tiny_mg"], "models": ["ESN-10", "GRU"],
                                        "modes": ["ridge", "epochs"], "seeds": [0]},
                              "models": {"hidden_size": 2}, "training": {"epochs": 2, "batch_size": 4}})
    ran = []
    real = study.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda cell, c: ran.append(cell) or real(cell, c))
    first = study.run(cfg, tmp_path, progress=False)
    assert first["reused"] == 0 and len(ran) == len(study.grid(cfg)) == 8
    ran.clear()
    again = study.run(cfg, tmp_path, progress=False)
    assert again["reused"] == 8 and ran == []
    assert [r["test_accuracy"] for r in again["rows"]] == [r["test_accuracy"] for r in first["rows"]]
    stored = json.loads(gzip.decompress(study._cell_path(tmp_path / "cells", study.grid(cfg)[-1]).read_bytes()))
    assert stored["settings"]["task"] == {**stored["settings"]["task"], "kind": "generation", "n_fit": N_FIT,
                                          "horizon": HORIZON, "washout": WASHOUT, "chunk": 20}
    # the generation task registered again with another horizon: its cells run again, the others are reused
    study.register_generation_task("tiny_mg", _mg, n_fit=N_FIT, horizon=10, washout=WASHOUT, chunk=20, replace=True)
    ran.clear()
    third = study.run(cfg, tmp_path, progress=False)
    assert {c.task for c in ran} == {"tiny_mg"} and third["reused"] == 4
    assert all(0 <= r["valid_time"] <= 10 for r in third["rows"] if r["task"] == "tiny_mg")
    # the classification task's data changed (another seed): its cells run again
    study.register_classification_task("tiny_cls", lambda: _labelled(seed=1), readout="mean", replace=True)
    ran.clear()
    assert study.run(cfg, tmp_path, progress=False)["reused"] == 4 and {c.task for c in ran} == {"tiny_cls"}
    # a damaged stored cell of each kind is named and run again
    cls_cell = next(c for c in study.grid(cfg) if c.task == "tiny_cls" and c.mode == "ridge")
    gen_cell = next(c for c in study.grid(cfg) if c.task == "tiny_mg" and c.mode == "epochs")
    for cell, damage, why in (
            (cls_cell, lambda r: r["row"].pop("test_accuracy"), r"its row lacks \['test_accuracy'\]"),
            (cls_cell, lambda r: r["row"].update(test_accuracy="high"), "its test_accuracy is 'high'"),
            (gen_cell, lambda r: r["history"].update(predictions=[0.0]), "not the 10 numbers of task 'tiny_mg'"),
            (gen_cell, lambda r: r["row"].update(kind="forecast"), "is a generation task")):
        path = study._cell_path(tmp_path / "cells", cell)
        record = json.loads(gzip.decompress(path.read_bytes()))
        damage(record)
        path.write_bytes(gzip.compress(json.dumps(record).encode()))
        ran.clear()
        with pytest.warns(UserWarning, match=rf"{path.name} is damaged \(ValueError: .*{why}"):
            assert study.run(cfg, tmp_path, progress=False)["reused"] == 7
        assert ran == [cell]


def _cfg(**sections):
    raw = {"study": {"name": "x", "tasks": ["tiny_cls"], "models": ["QRNN"], "modes": ["ridge"], "seeds": [0]}}
    for section, fields in sections.items():
        raw.setdefault(section, {}).update(fields)
    return raw


@pytest.mark.parametrize("raw,error,match", [
    (_cfg(conditions={"shots": ["exact", 100]}), ValueError,
     r"\[conditions\]: device conditions \(shots, noise\) run on forecasting tasks only; task 'tiny_cls' is a "
     r"classification task"),
    (_cfg(study={"tasks": ["tiny_mg"]}, conditions={"noise": ["exact", {"p1": 0.01}]}), ValueError,
     "task 'tiny_mg' is a generation task"),
    (_cfg(study={"modes": ["epochs"]}, training={"batch_size": 13}), ValueError,
     "training.batch_size: 13 is larger than the 12 training sequences of task 'tiny_cls'"),
    (_cfg(study={"tasks": ["tiny_mg"], "modes": ["trained"]}, training={"batch_size": 20}), ValueError,
     "training.batch_size: 20 is larger than the 14 pieces of 20 \\+ 20 steps"),
    (_cfg(study={"models": ["ESN-0"]}), ValueError, r"study.models: 'ESN-0' is not one of \['QRNN'.*\(or \"ESN-N\""),
    (_cfg(models={"hidden_size": 23}), ValueError, "models.hidden_size: 23 needs 25 qubits for the quantum models on "
                                                   "task 'tiny_cls' \\(2 inputs per step\\)"),
    (_cfg(reservoir={"input_scalings": [0.5, 1.0], "validation_fraction": 0.99}), ValueError,
     "reservoir.validation_fraction: 0.99 leaves 0 fitting sequences"),
    (_cfg(study={"tasks": ["tiny_mg"]}, reservoir={"input_scalings": [0.5, 1.0], "validation_fraction": 0.95}),
     ValueError, "reservoir.validation_fraction: 0.95 leaves 15 fitting and 20 generated steps"),
])
def test_bad_configs_of_the_new_kinds_are_refused_naming_the_field(raw, error, match):
    with pytest.raises(error, match=match):
        study.parse_config(raw)


@pytest.mark.parametrize("table,match", [
    ({"kind": "images"}, r"tasks.mine.kind: 'images' is not one of \['forecast', 'classification', 'generation'\]"),
    ({"kind": "classification"}, "a task read from a file is a forecasting task .*register_classification_task"),
    ({"kind": "generation"}, "register_generation_task"),
])
def test_a_file_task_of_an_unknown_or_other_kind_is_refused(tmp_path, table, match):
    (tmp_path / "d.csv").write_text("".join(f"{v}\n" for v in range(30)))
    raw = _cfg(tasks={"mine": {"csv": "d.csv", "window": 4, **table}})
    raw["study"]["tasks"] = ["mine"]
    with pytest.raises(ValueError, match=match):
        study.parse_config(raw, root=tmp_path)


def test_bad_task_data_and_registrations_are_refused():
    study.register_classification_task("onecls", lambda: ([np.zeros(3)] * 4, ["a"] * 4, [np.zeros(3)], ["a"]))
    with pytest.raises(ValueError, match="study.tasks: task 'onecls': y_train has one class"):
        study.parse_config(_cfg(study={"tasks": ["onecls"]}))
    study.register_classification_task("onecls", lambda: ([np.zeros(3)] * 2, ["a", "b"], [np.zeros(3)], ["c"]),
                                       replace=True)
    with pytest.raises(ValueError, match=r"y_test has labels that y_train lacks: \['c'\]"):
        study.parse_config(_cfg(study={"tasks": ["onecls"]}))
    study.register_classification_task("onecls", lambda: ([np.zeros((3, 2)), np.zeros((3, 1))], ["a", "b"],
                                                          [np.zeros((3, 2))], ["a"]), replace=True)
    with pytest.raises(ValueError, match=r"X_train: the sequences have different widths \[1, 2\]"):
        study.parse_config(_cfg(study={"tasks": ["onecls"]}))
    study.register_generation_task("wide", lambda: np.zeros(30), n_fit=25, horizon=10, washout=2, chunk=5)
    with pytest.raises(ValueError, match="at least n_fit \\+ 1 \\+ horizon = 36 values, got shape \\(30,\\)"):
        study.parse_config(_cfg(study={"tasks": ["wide"]}))
    with pytest.raises(ValueError, match="washout \\+ chunk = 30 is longer than the 25 fitted steps"):
        study.register_generation_task("wide", np.zeros, n_fit=25, horizon=1, washout=10, chunk=20, replace=True)
    with pytest.raises(ValueError, match="horizon must be"):
        study.register_generation_task("wide", np.zeros, n_fit=25, horizon=0, washout=2, replace=True)
    with pytest.raises(ValueError, match="readout"):
        study.register_classification_task("wide", np.zeros, readout="max", replace=True)
    with pytest.raises(ValueError, match="task 'tiny_cls' is a classification task: it has no windows"):
        study.task_windows("tiny_cls")


def test_a_real_data_task_without_its_extra_is_refused_when_the_config_loads(monkeypatch):
    import qrnn.datasets

    def missing():
        raise MissingExtraError("the Japanese vowels data set needs the optional package 'sktime'; install it "
                                "with: pip install 'qrnn[datasets]'")

    monkeypatch.setattr(qrnn.datasets, "japanese_vowels", missing)
    monkeypatch.delitem(tasks._LOADED, "japanese_vowels", raising=False)
    with pytest.raises(MissingExtraError, match=r"config field study.tasks: task 'japanese_vowels' reads a real "
                                                r"data set: .*pip install 'qrnn\[datasets\]'"):
        study.parse_config(_cfg(study={"tasks": ["japanese_vowels"]}))


def test_japanese_vowels_an_esn_of_100_units_classifies_as_the_literature_reports(tmp_path):
    try:
        study.classification_data("japanese_vowels")
    except MissingExtraError:
        pytest.skip("qrnn[datasets] is not installed")
    cfg = study.parse_config({"study": {"name": "jv", "tasks": ["japanese_vowels"], "models": ["QRNN", "ESN-100"],
                                        "modes": ["ridge"], "seeds": [0]}})
    # a quantum cell takes the 12 coefficients a frame on 12 + hidden_size qubits (not run here: slow)
    qrnn_cell = next(c for c in study.grid(cfg) if c.model == "QRNN")
    assert study.build_model(qrnn_cell, cfg).input_size == 12
    only_esn = study.parse_config({"study": {"name": "jv", "tasks": ["japanese_vowels"], "models": ["ESN-100"],
                                             "modes": ["ridge"], "seeds": [0]}})
    rows = study.run(only_esn, tmp_path, progress=False)["rows"]
    esn = next(r for r in rows if r["model"] == "ESN-100")
    assert esn["test_accuracy"] >= 0.95  # the literature's ESNs: about 0.97 to 0.99
    assert next(r for r in rows if r["model"] == "majority class")["test_accuracy"] < 0.2  # 9 speakers


def test_the_santa_fe_laser_is_a_forecasting_task_on_real_data(monkeypatch):
    import qrnn.datasets

    try:
        laser = qrnn.datasets.santafe_laser()
    except MissingExtraError:
        pytest.skip("qrnn[datasets] is not installed")
    X, y = study.task_windows("santafe_laser")
    assert X.shape == (1990, 10, 1) and y.shape == (1990,)
    seen = laser[:1333 + 10]  # the values the 1333 training windows (67 % of 1990) see
    scaled = 2 * (laser[:2000] - seen.min()) / np.ptp(seen) - 1
    np.testing.assert_allclose(X[0, :, 0], scaled[:10], atol=1e-12)
    np.testing.assert_allclose(y, scaled[10:], atol=1e-12)
    assert tasks.task_fingerprint("santafe_laser")["data_sha256"]  # a shipped file: its cells carry its hash

    def missing():
        raise MissingExtraError("the Santa Fe laser needs the optional package 'reservoirpy'; install it with: "
                                "pip install 'qrnn[datasets]'")

    monkeypatch.setattr(qrnn.datasets, "santafe_laser", missing)
    monkeypatch.setattr(tasks, "_SHAPES", {})
    with pytest.raises(MissingExtraError, match=r"config field study.tasks: task 'santafe_laser' reads a real "
                                                r"data set: .*pip install 'qrnn\[datasets\]'"):
        study.parse_config(_cfg(study={"tasks": ["santafe_laser"]}))
