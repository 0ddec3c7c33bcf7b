"""The study runner: a miniature grid end to end, its files, its determinism, and its config checks."""
import csv
import gzip
import json

import numpy as np
import pytest

from experiments import study
from experiments.study import cells, runner  # run() looks run_cell up in runner, run_cell the rest in cells
from qrnn import QRNN, ReservoirRegressor
from qrnn.metrics import mse
from qrnn.registry import MODELS, register_model

@pytest.fixture(autouse=True)
def _no_file_tasks_left():
    """A config's tasks from files stay registered in the process; each test starts without another's."""
    yield
    for name in study.TASKS.names():
        if "file" in study.TASKS.entry(name).tags:
            study.TASKS.unregister(name)


MINI = """
[study]
name = "mini"
tasks = ["sine", "narma5"]
models = ["QRNN", "QLSTM", "QGRU", "RNN", "LSTM", "GRU", "ESN"]
modes = ["ridge", "epochs", "trained"]
seeds = [0]

[models]
hidden_size = 2
esn_size = 20

[training]
epochs = 2
batch_size = 16
"""


def test_miniature_study_writes_its_tables_histories_and_plots(tmp_path, capsys):
    cfg_path = tmp_path / "mini.toml"
    cfg_path.write_text(MINI)
    out = tmp_path / "out"
    result = study.main([str(cfg_path), "--out", str(out), "--quiet"])
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    # per task: 3 baselines + 6 models x 3 modes + the ESN in 2 modes
    assert len(rows) == 2 * (3 + 6 * 3 + 2)
    assert {r["mode"] for r in rows} == {"baseline", "ridge", "epochs", "trained"}
    assert {(r["model"], r["mode"]) for r in rows if r["task"] == "sine"} >= {
        ("persistence", "baseline"), ("ridge on the raw window", "baseline"), ("ESN(3)", "baseline"),
        ("QLSTM", "trained"), ("ESN", "epochs")}
    for r in rows:
        assert float(r["test_mse"]) >= 0 and float(r["train_nrmse"]) >= 0
        if r["mode"] in ("epochs", "trained"):
            assert r["epochs"] == "2" and float(r["seconds_per_epoch"]) > 0
    q = next(r for r in rows if r["model"] == "QLSTM" and r["mode"] == "trained" and r["task"] == "sine")
    # the training windows at each of the 2 epochs, then predictions on every window
    n_windows, steps = study.task_windows("sine")[0].shape[:2]
    n_train = len(study._data("sine", study.load_config(cfg_path).train_fraction)[0])
    assert int(q["circuit_evaluations"]) == 6 * steps * (2 * n_train + n_windows)
    assert int(q["trained_params"]) == 6 * 2 * 3 * 3 + 3 + 1
    assert (out / "results.md").read_text().count("\n") == len(rows) + 2
    histories = json.loads((out / "histories.json").read_text())
    assert len(histories) == len(rows) - 6
    assert all(len(h["history"]) == 2 for h in histories if h["cell"]["mode"] != "ridge")
    for p in result["plots"]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000
    assert len(result["plots"]) == 4
    printed = capsys.readouterr().out
    assert "the best baseline is" in printed and "results.csv" in printed
    # the reading of the paper's claims, from the table just written
    from experiments import reading

    text = reading.reading(rows, [])
    assert "## sine" in text and "## narma5" in text and "| QLSTM | normal |" in text
    assert "1. **Reservoir close to fully trained**" in text and "2. **At a fraction of the cost**" in text
    assert "3. **Fewer epochs than classical reservoirs**" in text


def test_same_config_same_table(tmp_path):
    cfg = study.parse_config({"study": {"name": "det", "tasks": ["sine"], "models": ["QRNN", "GRU"],
                                        "modes": ["ridge", "trained"], "seeds": [3]},
                              "training": {"epochs": 2, "batch_size": 16}})
    keep = ("task", "model", "mode", "seed", "train_mse", "test_mse", "epochs_to_5pct", "circuit_evaluations")
    a = [{k: r[k] for k in keep} for r in study.run(cfg, tmp_path / "a", progress=False)["rows"]]
    b = [{k: r[k] for k in keep} for r in study.run(cfg, tmp_path / "b", progress=False)["rows"]]
    assert a == b


BASE = {"study": {"name": "x", "tasks": ["sine"], "models": ["QRNN"], "modes": ["ridge"], "seeds": [0]}}


def _with(section, **fields):
    raw = json.loads(json.dumps(BASE))
    raw.setdefault(section, {}).update(fields)
    return raw


@pytest.mark.parametrize("raw,match", [
    (_with("study", tasks=["mnist"]), r"study.tasks: 'mnist' is not one of \['sine'"),
    (_with("study", models=["Transformer"]), r"study.models: 'Transformer' is not one of \['QRNN'"),
    (_with("study", modes=["finetune"]), r"study.modes: 'finetune' is not one of \['ridge', 'epochs', 'trained'\]"),
    (_with("study", modes=[]), "study.modes: must name at least one"),
    (_with("study", seeds=[-1]), "study.seeds: must be a non-empty list of integers >= 0"),
    (_with("study", inits=["zeros"]), "study.inits: 'zeros' is not one of"),
    (_with("study", train_fraction=1.5), r"study.train_fraction: must be in \(0, 1\)"),
    (_with("study", colour="red"), "study.colour: unknown field"),
    (_with("training", epochs=0), "training.epochs: must be >= 1"),
    (_with("training", epochs="5"), "training.epochs: must be of type int, got str"),
    (_with("training", optimizer="lbfgs"), "training.optimizer: 'lbfgs' is not one of"),
    (_with("training", lr=-0.1), "training.lr: must be > 0"),
    (_with("models", hidden_size=0), "models.hidden_size: must be >= 1"),
    ({"study": {"tasks": ["sine"]}}, "study.name: is required"),
    ({**BASE, "ray": {}}, r"\[ray\]: unknown section"),
    (_with("reservoir", features="everything"), r"reservoir.features: 'everything' is not one of \['output'"),
    (_with("reservoir", ensemble=0), "reservoir.ensemble: must be >= 1"),
    (_with("reservoir", input_scalings=[]), "reservoir.input_scalings: must be a non-empty list"),
    (_with("reservoir", input_scalings=[1.0, -2.0]), "reservoir.input_scalings: must be a non-empty list"),
    (_with("reservoir", input_scalings=[1.0, 1.0]), "reservoir.input_scalings: must be a non-empty list of distinct"),
    (_with("reservoir", correlators="yes"), "reservoir.correlators: must be of type bool"),
    (_with("reservoir", validation_fraction=1.0), r"reservoir.validation_fraction: must be in \(0, 1\)"),
    (_with("study", seeds=[0, 1, 0]), r"study.seeds: has duplicates: \[0, 1, 0\]"),
    (_with("study", train_fraction=0.005), r"study.train_fraction: 0.005 leaves 0 training and 196 test windows "
                                           r"of the 196 of task 'sine'"),
    (_with("reservoir", input_scalings=[1.0, 2.0], validation_fraction=0.99),
     "reservoir.validation_fraction: 0.99 leaves 1 fitting and 130 validation windows of the 131 training"),
])
def test_config_errors_name_the_field(raw, match):
    with pytest.raises(ValueError, match=match):
        study.parse_config(raw)


@pytest.mark.parametrize("field,value,accepted,refused,match", [
    # the qubit bound holds for the quantum models only
    ("hidden_size", 30, {"study": {"models": ["ESN", "GRU"]}, "models": {"hidden_size": 30}},
     {"study": {"models": ["QRNN", "GRU"]}, "models": {"hidden_size": 30}},
     r"models.hidden_size: 30 needs 31 qubits for the quantum models; the study runs them up to 24 "
     r"\(hidden_size <= 23\)"),
    # a batch is bounded by the training windows only where something trains by batches
    ("batch_size", 200, {"study": {"modes": ["ridge"]}, "training": {"batch_size": 200}},
     {"study": {"modes": ["ridge", "trained"]}, "training": {"batch_size": 200}},
     "training.batch_size: 200 is larger than the 131 training windows of task 'sine'"),
])
def test_a_bound_holds_only_where_it_applies(field, value, accepted, refused, match):
    def raw(fields):
        out = json.loads(json.dumps(BASE))
        for section, values in fields.items():
            out.setdefault(section, {}).update(values)
        return out

    assert getattr(study.parse_config(raw(accepted)), field) == value
    with pytest.raises(ValueError, match=match):
        study.parse_config(raw(refused))


def test_an_unknown_task_is_named_with_the_valid_ones():
    for fn in (study.task_windows, study.persistence):
        with pytest.raises(ValueError, match=r"task must be one of \[.*'narma10_stream'.*\], got 'mnist'"):
            fn("mnist")


def test_persistence_is_the_last_known_value_of_the_forecast_series():
    X, y = study.task_windows("sine")
    assert (study.persistence("sine") == X[:, -1, 0]).all() and (y[:-1] == X[1:, -1, 0]).all()
    for task in ("narma5", "narma10", "narma10_stream"):  # windows of the input u, targets y_{t+1}
        X, y = study.task_windows(task)
        last = study.persistence(task)
        assert len(last) == len(y) and (last[1:] == y[:-1]).all() and not (last == X[:, -1, 0]).all()


def test_config_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no study config"):
        study.load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[study\nname = 1")
    with pytest.raises(ValueError, match="is not valid TOML"):
        study.load_config(bad)


def test_quick_config_is_valid():
    cfg = study.load_config("experiments/configs/quick.toml")
    # two forecasting tasks, a classification and a generation task
    assert len(study.grid(cfg)) == 4 * (6 * 3 + 2)
    assert [study.task_kind(t) for t in cfg.tasks] == ["forecast", "forecast", "classification", "generation"]


def test_ray_gives_the_same_table(tmp_path, my_qrnn):
    """``--ray`` from the command line: a local Ray started for the run, one task per cell; the workers
    get this process's registrations (a cell of the user's own, a task from a file)."""
    ray = pytest.importorskip("ray")

    text = """
[study]
name = "ray"
tasks = ["sine", "mine"]
models = ["MyQRNN", "LSTM", "ESN"]
modes = ["ridge", "epochs", "trained"]
seeds = [1]
inits = ["uniform"]

[training]
epochs = 2
batch_size = 16

[tasks.mine]
csv = "mine.csv"
column = 1
window = 4
"""
    _write_csv(tmp_path / "mine.csv", _csv_values(40))
    (tmp_path / "ray.toml").write_text(text)
    cfg = study.load_config(tmp_path / "ray.toml")
    on_ray = study.main([str(tmp_path / "ray.toml"), "--out", str(tmp_path / "ray"), "--ray", "--quiet"])["rows"]
    assert not ray.is_initialized()  # the Ray it started is shut down
    here = study.run(cfg, tmp_path / "here", progress=False)["rows"]
    assert [(r["model"], r["mode"]) for r in on_ray] == [(r["model"], r["mode"]) for r in here]
    for a, b in zip(on_ray, here):
        for key in ("train_mse", "test_mse", "train_nrmse", "test_nrmse"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=0, err_msg=f"{a['model']} {a['mode']} {key}")
        assert (a["epochs"], a["circuit_evaluations"], a["trained_params"]) == \
               (b["epochs"], b["circuit_evaluations"], b["trained_params"])


def test_an_interrupted_study_resumes_from_its_stored_cells(tmp_path, monkeypatch):
    cfg = study.parse_config({"study": {"name": "resume", "tasks": ["sine"], "models": ["QRNN", "GRU"],
                                        "modes": ["ridge", "trained"], "seeds": [0]},
                              "training": {"epochs": 2, "batch_size": 16}})
    first = study.run(cfg, tmp_path, progress=False)
    assert first["reused"] == 0 and not first["missing"]
    cells = sorted((tmp_path / "cells").glob("*.json.gz"))
    assert len(cells) == len(study.grid(cfg)) == 4
    # a crash: one cell lost, one cut off while being written
    cells[0].unlink()
    cells[1].write_bytes(cells[1].read_bytes()[:50])
    ran = []
    real = study.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda cell, c: ran.append(cell) or real(cell, c))
    with pytest.warns(UserWarning, match=rf"stored cell .*{cells[1].name} is damaged \(EOFError"):
        collected = study.run(cfg, tmp_path, progress=False, collect_only=True)
    assert ran == [] and len(collected["missing"]) == 2 and len(collected["rows"]) == 3 + 2
    with pytest.warns(UserWarning, match=cells[1].name):
        again = study.run(cfg, tmp_path, progress=False)
    assert len(ran) == 2 and again["reused"] == 2 and not again["missing"]
    # a cell stored uncompressed (by an earlier version) is read too
    import gzip
    plain = cells[2].with_suffix("")
    plain.write_bytes(gzip.decompress(cells[2].read_bytes()))
    cells[2].unlink()
    assert study.run(cfg, tmp_path, progress=False, collect_only=True)["reused"] == 4
    assert [r["test_mse"] for r in again["rows"]] == [r["test_mse"] for r in first["rows"]]
    # other settings: nothing stored is reused
    changed = study.parse_config({"study": {"name": "resume", "tasks": ["sine"], "models": ["QRNN", "GRU"],
                                            "modes": ["ridge", "trained"], "seeds": [0]},
                                  "training": {"epochs": 3, "batch_size": 16}})
    ran.clear()
    assert study.run(changed, tmp_path, progress=False)["reused"] == 0 and len(ran) == 4


def test_strong_configuration_ensembles_rich_features_and_chosen_scaling(tmp_path, monkeypatch):
    cfg = study.parse_config({"study": {"name": "strong", "tasks": ["sine"], "models": ["QLSTM", "GRU"],
                                        "modes": ["ridge"], "seeds": [1]},
                              "reservoir": {"features": "all", "correlators": True, "ensemble": 2,
                                            "input_scalings": [0.5, 3]}})
    cell = study.Cell("sine", "QLSTM", "ridge", 1, "normal")
    model = study.build_model(cell, cfg, 3.0)
    assert [m.seed for m in model.members] == [2, 3] and model.n_features == 2 * (2 * 4 + 3 + 6)
    assert all(m.input_scaling == 3.0 and m.correlators for m in model.members)
    # the scaling whose reservoir + ridge forecasts the last 20 % of the training windows best
    Xtr, Xte, ytr, yte = study._data("sine", cfg.train_fraction)
    assert len(Xtr) == 131
    Xa, Xv, ya, yv = Xtr[:104], Xtr[104:], ytr[:104], ytr[104:]  # 131 training windows: 104 fit, 27 judge
    scores = {s: mse(yv, ReservoirRegressor(study.build_model(cell, cfg, s, trainable=False), alpha="loo")
                     .fit(Xa, ya).predict(Xv)) for s in (0.5, 3.0)}
    assert scores[0.5] != scores[3.0]
    chosen = min(scores, key=scores.get)
    assert study.choose_input_scaling(cell, cfg, Xtr, ytr) == chosen
    # a cell hands it the training windows only: the test windows are never seen
    seen = []
    real = cells.choose_input_scaling
    monkeypatch.setattr(cells, "choose_input_scaling",
                        lambda c, f, X, y, backend=None: seen.append((X, y)) or real(c, f, X, y, backend))
    rows = study.run(cfg, tmp_path, progress=False)["rows"]
    assert len(seen) == 2 and all(np.array_equal(X, Xtr) and np.array_equal(y, ytr) for X, y in seen)  # QLSTM, GRU
    q = next(r for r in rows if r["model"] == "QLSTM")
    assert q["input_scaling"] == chosen and q["trained_params"] == model.n_features + 1
    # every member's circuits: the two scalings' fits and the final fit on the training windows, then
    # predictions on every window
    n_windows, steps = study.task_windows("sine")[0].shape[:2]
    assert q["circuit_evaluations"] == 2 * 6 * steps * (3 * len(Xtr) + n_windows)
    assert next(r for r in rows if r["model"] == "ESN(8)")["mode"] == "baseline"  # as many units as qubits
    assert next(r for r in rows if r["model"] == "GRU")["input_scaling"] is None
    assert study.cell_settings(cfg)["ensemble"] == 2
    # the paper's defaults leave the stored settings as they were before [reservoir] existed
    assert set(study.cell_settings(study.parse_config(BASE))) == {
        "hidden_size", "esn_size", "train_fraction", "epochs", "batch_size", "optimizer", "lr"}


def test_config_refuses_non_finite_numbers_and_non_utf8_files(tmp_path):
    base = '[study]\nname = "x"\ntasks = ["sine"]\nmodels = ["GRU"]\nmodes = ["ridge"]\nseeds = [0]\n'
    path = tmp_path / "c.toml"
    for extra, match in (("[training]\nlr = inf\n", "training.lr: must hold finite numbers, got inf"),
                         ("[training]\nlr = nan\n", "training.lr: must hold finite numbers, got nan"),
                         ("[reservoir]\ninput_scalings = [1.0, inf]\n",
                          r"reservoir.input_scalings: must hold finite numbers, got \[1.0, inf\]")):
        path.write_text(base + extra)
        with pytest.raises(ValueError, match=match):
            study.load_config(path)
    path.write_bytes(base.replace('"x"', '"caf\xe9"').encode("latin-1"))
    with pytest.raises(ValueError, match="c.toml is not UTF-8 text, as TOML must be"):
        study.load_config(path)


def test_a_damaged_stored_cell_is_named_and_run_again(tmp_path, monkeypatch):
    cfg = study.parse_config({"study": {"name": "damaged", "tasks": ["sine"], "models": ["GRU"],
                                        "modes": ["ridge", "epochs"], "seeds": [0]},
                              "models": {"hidden_size": 2}, "training": {"epochs": 2, "batch_size": 16}})
    first = study.run(cfg, tmp_path, progress=False)
    ridge, epochs = (study._cell_path(tmp_path / "cells", c) for c in study.grid(cfg))
    record = json.loads(gzip.decompress(epochs.read_bytes()))
    no_mse = {**record, "row": {k: v for k, v in record["row"].items() if k != "test_mse"}}
    short = {**record, "history": {**record["history"], "history": record["history"]["history"][:1]}}
    ran = []
    real = study.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda cell, c: ran.append(cell) or real(cell, c))
    for damage, why in ((gzip.compress(json.dumps([1, 2]).encode()), "not a stored cell"),
                        (gzip.compress(json.dumps(no_mse).encode()), r"its row lacks \['test_mse'\]"),
                        (gzip.compress(json.dumps(short).encode()), "does not hold the 2 epochs"),
                        (epochs.read_bytes()[:60], "EOFError"),
                        (b"\x1f\x8b\x08\x00" + b"\xff" * 60, "Error")):
        epochs.write_bytes(damage)
        ran.clear()
        with pytest.warns(UserWarning, match=rf"stored cell .*{epochs.name} is damaged \(.*{why}"):
            again = study.run(cfg, tmp_path, progress=False)
        assert [c.mode for c in ran] == ["epochs"] and again["reused"] == 1 and ridge.exists()
        assert [r["test_mse"] for r in again["rows"]] == [r["test_mse"] for r in first["rows"]]


@pytest.fixture
def my_qrnn():
    """A user's quantum cell with QRNN's constructor, registered under a name of its own (and removed after)."""
    @register_model
    class MyQRNN(QRNN):
        pass

    yield MyQRNN
    MODELS.unregister("MyQRNN")


def test_a_registered_quantum_cell_is_a_study_model_by_name(tmp_path, my_qrnn):
    assert study.model_names()[:4] == ("QRNN", "QLSTM", "QGRU", "MyQRNN") and study.is_quantum("MyQRNN")
    cfg = study.parse_config({"study": {"name": "mine", "tasks": ["sine"], "models": ["QRNN", "MyQRNN"],
                                        "modes": ["ridge"], "seeds": [0], "inits": ["normal", "uniform"]}})
    result = study.run(cfg, tmp_path, progress=False)
    mine, theirs = ([r for r in result["rows"] if r["model"] == m] for m in ("MyQRNN", "QRNN"))
    assert [r["init"] for r in mine] == ["normal", "uniform"]  # a quantum model: every init
    # the same circuits as QRNN: the same numbers (up to the last bits: a subclass may take another of the
    # engine's forms), counted the same way
    for key in ("test_mse", "train_mse"):
        np.testing.assert_allclose([r[key] for r in mine], [r[key] for r in theirs], rtol=1e-9, atol=0, err_msg=key)
    for key in ("circuit_evaluations", "trained_params", "input_scaling"):
        assert [r[key] for r in mine] == [r[key] for r in theirs], key
    assert mine[0]["circuit_evaluations"] > 0 and [p.name for p in result["plots"]] == ["sine-predictions.png"]


def test_a_registered_task_runs_and_its_data_keys_its_stored_cells(tmp_path):
    data = {"series": np.sin(0.3 * np.arange(80.0))}
    study.register_task("wave", lambda: (data["series"], None, 5), horizon=2, train_fraction=0.5)
    try:
        X, y = study.task_windows("wave")
        # 80 - 5 - 2 + 1 windows; each forecasts the value 2 steps after its last
        assert X.shape == (74, 5, 1) and (y == data["series"][6:]).all() and (X[:, -1, 0] == data["series"][4:78]).all()
        assert (study.persistence("wave") == X[:, -1, 0]).all()
        cfg = study.parse_config({"study": {"name": "wave", "tasks": ["wave", "sine"], "models": ["QRNN"],
                                            "modes": ["ridge"], "seeds": [0]}})
        first = study.run(cfg, tmp_path, progress=False)
        q = next(r for r in first["rows"] if r["task"] == "wave" and r["model"] == "QRNN")
        # the task's own train_fraction: 37 of the 74 windows train (the study's 0.67 would be 49)
        assert q["circuit_evaluations"] == QRNN.n_circuits * 5 * (37 + 74)
        assert study.run(cfg, tmp_path, progress=False)["reused"] == 2
        data["series"] = 2 * data["series"]  # the function's data changed: its cells run again, sine's do not
        again = study.run(cfg, tmp_path, progress=False)
        assert again["reused"] == 1
        rerun = next(r for r in again["rows"] if r["task"] == "wave" and r["model"] == "QRNN")
        assert rerun["test_mse"] != q["test_mse"]
    finally:
        study.TASKS.unregister("wave")
    with pytest.raises(ValueError, match=r"study.tasks: 'wave' is not one of \['sine'"):
        study.parse_config({"study": {"name": "w", "tasks": ["wave"], "models": ["QRNN"], "modes": ["ridge"],
                                      "seeds": [0]}})


@pytest.mark.parametrize("args,kwargs,error,match", [
    (("sine", lambda: None), {}, ValueError, "the study task name 'sine' is already registered"),
    (("my task", lambda: None), {}, ValueError, "a study task name must be letters, digits"),
    (("a/b", lambda: None), {}, ValueError, "a study task name must be letters, digits"),
    (("ours", [1, 2, 3]), {}, TypeError, r"task 'ours': fn must be a function of no arguments"),
    (("ours", lambda: None), {"horizon": 0}, ValueError, "horizon must be >= 1"),
    (("ours", lambda: None), {"train_fraction": 1.0}, ValueError, r"train_fraction must be in \(0, 1\)"),
])
def test_register_task_refuses_what_it_cannot_run(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        study.register_task(*args, **kwargs)
    assert "ours" not in study.TASKS and "sine" in study.TASKS


# -- tasks on the user's own data ([tasks.NAME] tables) --

def _csv_values(n=60):
    t = np.arange(n)
    return np.sin(t / 3.0) + 0.05 * t


def _write_csv(path, values, header="t,y"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(f"{i},{float(v)!r}\n" for i, v in enumerate(values)))


CSV_STUDY = """
[study]
name = "own"
tasks = ["mine", "sine"]
models = ["QRNN", "GRU", "ESN"]
modes = ["ridge", "epochs"]
seeds = [0]

[models]
hidden_size = 2
esn_size = 10

[training]
epochs = 2
batch_size = 8

[tasks.mine]
csv = "data/mine.csv"
column = "y"
window = 4
train_fraction = 0.6
scale = "standard"
"""


def test_a_study_on_a_csv_task_runs(tmp_path, monkeypatch):
    values = _csv_values()
    _write_csv(tmp_path / "cfg" / "data" / "mine.csv", values)
    (tmp_path / "cfg" / "own.toml").write_text(CSV_STUDY)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the csv path is relative to the config file, not the working dir
    result = study.main([str(tmp_path / "cfg" / "own.toml"), "--out", str(tmp_path / "out"), "--quiet"])
    mine = [r for r in result["rows"] if r["task"] == "mine"]
    assert [(r["model"], r["mode"]) for r in mine] == [
        ("persistence", "baseline"), ("ridge on the raw window", "baseline"), ("ESN(3)", "baseline"),
        ("QRNN", "ridge"), ("QRNN", "epochs"), ("GRU", "ridge"), ("GRU", "epochs"), ("ESN", "ridge"), ("ESN", "epochs")]
    # 60 values make 56 windows of 4, 33 of them train (the task's 0.6); the training windows see values 0..36,
    # so those set the scale
    X, y = study.task_windows("mine")
    scaled = (values - values[:37].mean()) / values[:37].std()
    np.testing.assert_allclose(X[:, :, 0], np.lib.stride_tricks.sliding_window_view(scaled, 4)[:56], rtol=0, atol=1e-12)
    np.testing.assert_allclose(y, scaled[4:], rtol=0, atol=1e-12)
    persistence = mine[0]
    assert persistence["test_mse"] == pytest.approx(np.mean((scaled[3 + 33:59] - scaled[4 + 33:]) ** 2), rel=1e-12)
    q = next(r for r in mine if r["model"] == "QRNN" and r["mode"] == "ridge")
    assert q["circuit_evaluations"] == QRNN.n_circuits * 4 * (33 + 56)
    assert {p.name for p in result["plots"]} >= {"mine-loss.png", "mine-predictions.png"}
    with open(tmp_path / "out" / "results.csv") as fh:
        assert sum(r["task"] == "mine" for r in csv.DictReader(fh)) == 9


def test_a_changed_csv_file_runs_its_cells_again(tmp_path, monkeypatch):
    path = tmp_path / "data" / "mine.csv"
    values = _csv_values()
    _write_csv(path, values)
    (tmp_path / "own.toml").write_text(CSV_STUDY.replace('modes = ["ridge", "epochs"]', 'modes = ["ridge"]')
                                       .replace('models = ["QRNN", "GRU", "ESN"]', 'models = ["GRU"]'))
    ran = []
    real = study.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda cell, c: ran.append(cell.task) or real(cell, c))
    first = study.run(study.load_config(tmp_path / "own.toml"), tmp_path / "out", progress=False)
    assert sorted(ran) == ["mine", "sine"]
    ran.clear()
    assert study.run(study.load_config(tmp_path / "own.toml"), tmp_path / "out", progress=False)["reused"] == 2
    assert ran == []
    # one value of the test part changed: the training part (and the scale) is the same, the file's data is not
    changed = values.copy()
    changed[-1] += 1.0
    _write_csv(path, changed)
    again = study.run(study.load_config(tmp_path / "own.toml"), tmp_path / "out", progress=False)
    assert ran == ["mine"] and again["reused"] == 1
    gru = [next(r for r in res["rows"] if r["task"] == "mine" and r["model"] == "GRU") for res in (first, again)]
    assert gru[0]["test_mse"] != gru[1]["test_mse"]
    # written back as it was: the first run's cells are gone (overwritten), so it runs again, and agrees
    _write_csv(path, values)
    ran.clear()
    back = study.run(study.load_config(tmp_path / "own.toml"), tmp_path / "out", progress=False)
    assert ran == ["mine"]
    assert [r["test_mse"] for r in back["rows"] if r["task"] == "mine" and r["model"] == "GRU"] == [gru[0]["test_mse"]]


def test_npy_tasks_one_and_two_dimensional(tmp_path):
    values = _csv_values(40)
    np.save(tmp_path / "one.npy", values)
    np.save(tmp_path / "two.npy", np.stack([np.zeros(40), values], axis=1))
    raw = {"study": {"name": "npy", "tasks": ["one", "two"], "models": ["GRU"], "modes": ["ridge"], "seeds": [0]},
           "tasks": {"one": {"npy": "one.npy", "window": 3, "horizon": 2},
                     "two": {"npy": str(tmp_path / "two.npy"), "column": 1, "window": 3, "horizon": 2}}}
    cfg = study.parse_config(raw, root=tmp_path)
    assert [t.name for t in cfg.file_tasks] == ["one", "two"] and cfg.file_tasks[0].sha256 == cfg.file_tasks[1].sha256
    for task in ("one", "two"):
        X, y = study.task_windows(task)
        # 40 - 3 - 2 + 1 windows; each forecasts the value 2 steps after its last
        assert X.shape == (36, 3, 1) and (X[:, 0, 0] == values[:36]).all() and (y == values[4:]).all()
    # a task from another config's file is not this one's
    with pytest.raises(ValueError, match=r"study.tasks: 'one' is not one of \['sine'.*'narma10_stream'.*"
                                         r"'mackey_glass_generation'\]"):
        study.parse_config({"study": {**raw["study"], "tasks": ["one"]}})


def _own(table, files=None):
    """A config with one task from a file, and the files to write first (name -> bytes or text)."""
    return ({"study": {"name": "x", "tasks": ["mine"], "models": ["GRU"], "modes": ["ridge"], "seeds": [0]},
             "tasks": {"mine": table}}, files or {})


_GOOD = "t,y\n" + "".join(f"{i},{np.sin(i / 3):.6f}\n" for i in range(30))


@pytest.mark.parametrize("raw,files,error,match", [
    (*_own({"csv": "none.csv", "column": "y", "window": 4}), FileNotFoundError,
     r"config field tasks.mine.csv: no file at .*none.csv"),
    (*_own({"csv": "d.csv", "column": "kw", "window": 4}, {"d.csv": _GOOD}), ValueError,
     r"tasks.mine.column: .*d.csv has no column 'kw'; its columns: \['t', 'y'\]"),
    (*_own({"csv": "d.csv", "column": 2, "window": 4}, {"d.csv": _GOOD}), ValueError,
     r"tasks.mine.column: .*d.csv has no column 2; its first row has 2"),
    (*_own({"csv": "d.csv", "window": 4}, {"d.csv": _GOOD}), ValueError, "tasks.mine.column: is required with csv"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4}, {"d.csv": "1,2\n3,4\n"}), ValueError,
     r"tasks.mine.column: .*d.csv has no header row"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4}, {"d.csv": _GOOD.replace("\n5,", "\n5,abc,")}), ValueError,
     r"tasks.mine.csv: .*d.csv line 7, column 'y': 'abc' is not a number"),
    (*_own({"csv": "d.csv", "column": 1, "window": 4}, {"d.csv": _GOOD.replace("\n5,", "\n5,,")}), ValueError,
     r"tasks.mine.csv: .*d.csv line 7, column 1: '' is not a number"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4}, {"d.csv": _GOOD + "30\n"}), ValueError,
     r"tasks.mine.csv: .*d.csv line 32 has 1 fields; column 'y' is missing there"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4}, {"d.csv": _GOOD + "30,nan\n"}), ValueError,
     r"tasks.mine.csv: .*d.csv holds nan at value 30 of column 'y'; every value must be finite"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4}, {"d.csv": _GOOD + "30,-inf\n"}), ValueError,
     r"tasks.mine.csv: .*d.csv holds -inf at value 30"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4}, {"d.csv": "t,y\n1,2\n2,3\n3,4\n4,5\n5,6\n"}), ValueError,
     r"tasks.mine.csv: .*d.csv holds 5 values; window = 4 and horizon = 1 need at least 7"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4}, {"d.csv": b"t,y\n1,\xe9\n"}), ValueError,
     r"tasks.mine.csv: .*d.csv is not UTF-8 text"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4, "delimiter": ";"}, {"d.csv": _GOOD}), ValueError,
     r"tasks.mine.delimiter: unknown field; \[tasks.mine\] takes \['column', 'csv', 'horizon', 'kind', 'npy', 'scale'"),
    (*_own({"csv": "d.csv", "npy": "d.npy", "column": "y", "window": 4}), ValueError,
     "tasks.mine: takes one file: csv or npy, not both"),
    (*_own({"column": "y", "window": 4}), ValueError, r"tasks.mine: needs one file: csv = \"path\" or npy"),
    (*_own({"csv": "d.csv", "column": "y"}, {"d.csv": _GOOD}), ValueError, "tasks.mine.window: is required"),
    (*_own({"csv": "d.csv", "column": "y", "window": 1}), ValueError, "tasks.mine.window: must be >= 2, got 1"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4.0}), ValueError,
     "tasks.mine.window: must be an int, got float 4.0"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4, "horizon": 0}), ValueError,
     "tasks.mine.horizon: must be >= 1, got 0"),
    (*_own({"csv": "d.csv", "column": True, "window": 4}), ValueError,
     r"tasks.mine.column: must be a column name \(str\) or a 0-based index \(int\), got bool True"),
    (*_own({"csv": "d.csv", "column": -1, "window": 4}), ValueError, "tasks.mine.column: must be a 0-based index >= 0"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4, "train_fraction": 1.0}), ValueError,
     r"tasks.mine.train_fraction: must be in \(0, 1\), got 1.0"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4, "scale": "minmax"}), ValueError,
     r"tasks.mine.scale: 'minmax' is not one of \['none', 'standard'\]"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4, "scale": "standard"},
           {"d.csv": "t,y\n" + "".join(f"{i},{1.0 if i < 25 else i}\n" for i in range(30))}), ValueError,
     r"tasks.mine.scale: the training part of .*d.csv \(21 values\) is constant"),
    (*_own({"csv": "d.csv", "column": "y", "window": 4, "train_fraction": 0.05}, {"d.csv": _GOOD}), ValueError,
     r"tasks.mine.train_fraction: 0.05 leaves 1 training and 25 test windows of the 26 of task 'mine'"),
    (*_own({"npy": "d.npy", "window": 4}, {"d.npy": "2d"}), ValueError,
     r"tasks.mine.column: .*d.npy holds a 2-D array of shape \(30, 2\): column must be a 0-based index"),
    (*_own({"npy": "d.npy", "column": 2, "window": 4}, {"d.npy": "2d"}), ValueError,
     r"tasks.mine.column: .*d.npy has 2 columns \(0-based indices 0 to 1\), got 2"),
    (*_own({"npy": "d.npy", "column": 0, "window": 4}, {"d.npy": "1d"}), ValueError,
     r"tasks.mine.column: .*d.npy holds a 1-D array: it has no columns"),
    (*_own({"npy": "d.npy", "window": 4}, {"d.npy": "complex"}), ValueError,
     r"tasks.mine.npy: .*d.npy holds complex128 values; the series must be real numbers"),
    (*_own({"npy": "d.npy", "window": 4}, {"d.npy": "object"}), ValueError,
     r"tasks.mine.npy: .*d.npy is not a numeric .npy array"),
    (*_own({"npy": "d.npy", "window": 4}, {"d.npy": _GOOD}), ValueError, r"tasks.mine.npy: .*d.npy is not a numeric"),
    ({"study": BASE["study"], "tasks": {"sine": {"csv": "d.csv", "column": "y", "window": 4}}}, {}, ValueError,
     r"config field \[tasks.sine\]: 'sine' is a built-in task; a task from a file needs a name of its own"),
    ({"study": BASE["study"], "tasks": {"my data": {"csv": "d.csv", "column": "y", "window": 4}}}, {}, ValueError,
     r"config field \[tasks.my data\]: a task name must be letters, digits"),
    ({"study": BASE["study"], "tasks": {"csv": "d.csv"}}, {}, ValueError,
     r"config field tasks.csv: must be a table \[tasks.csv\]"),
])
def test_file_task_errors_name_the_file_and_field(tmp_path, raw, files, error, match):
    for name, content in files.items():
        if name.endswith(".npy"):
            array = {"2d": np.zeros((30, 2)), "1d": np.arange(30.0), "complex": np.zeros(30, dtype=complex),
                     "object": np.array([1, "a"] * 15, dtype=object)}.get(content)
            if array is None:
                (tmp_path / name).write_text(content)
            else:
                np.save(tmp_path / name, array, allow_pickle=True)
        else:
            (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(error, match=match):
        study.parse_config(raw, root=tmp_path)


def test_the_study_packages_examples_run():
    """The examples in experiments.study's docstrings: the default suite collects doctests under qrnn/ and
    tests/ only (pyproject's testpaths), so they run here."""
    import doctest
    import importlib
    import pkgutil

    attempted = failed = 0
    for info in pkgutil.iter_modules(study.__path__):
        if info.name != "__main__":  # importing it runs the command line
            result = doctest.testmod(importlib.import_module(f"experiments.study.{info.name}"))
            attempted, failed = attempted + result.attempted, failed + result.failed
    assert failed == 0 and attempted >= 20  # the failures are printed above
