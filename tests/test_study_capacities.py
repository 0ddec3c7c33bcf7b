"""The study's capacities (experiments.study.capacities): every reservoir of a config measured as the study
builds it, its bounds, the files written, a deterministic rerun, and the options refused."""
import csv

import numpy as np
import pytest

from experiments import study
from experiments.study import capacities as caps
from qrnn.capacity import information_processing_capacity

N = 2000  # samples: the threshold is ~rank/N, enough to separate these small reservoirs' capacities

RAW = {"study": {"name": "tiny", "tasks": ["damped_shm"], "models": ["QRNN", "QGRU", "GRU", "ESN-10"],
                 "modes": ["ridge"], "seeds": [3, 4], "inits": ["normal", "uniform"]},
       "models": {"hidden_size": 2},
       "reservoir": {"ensemble": 2, "input_scalings": [0.5, 1.0]}}


@pytest.fixture(scope="module")
def cfg():
    return study.parse_config(RAW)


@pytest.fixture(scope="module")
def rows(cfg):
    return caps.model_capacities(cfg, seeds=[3, 4], progress=False, n_samples=N)


def _numbers(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_a_row_for_every_model_init_scaling_and_seed(rows):
    keys = {(r["model"], r["init"], r["input_scaling"], r["seed"]) for r in rows}
    quantum = {(m, i, s, seed) for m in ("QRNN", "QGRU") for i in ("normal", "uniform") for s in (0.5, 1.0)
               for seed in (3, 4)}
    classical = {(m, "-", None, seed) for m in ("GRU", "ESN-10") for seed in (3, 4)}
    assert keys == quantum | classical and len(rows) == len(keys)
    assert all(tuple(r) == caps.COLUMNS for r in rows)


def test_the_capacities_are_bounded_and_add_up(rows):
    for r in rows:
        degrees = [r[f"ipc_degree{d}"] for d in (1, 2, 3)]
        # at most the rank, up to sampling error: the sampled targets are orthogonal only in expectation, so a
        # reservoir whose features the degree-3 basis nearly spans (these 4-feature ensembles) can sum to a few
        # percent over its rank at 2000 samples (4.18 of 4 for one)
        assert 0.0 < r["ipc_total"] <= 1.1 * r["rank"] and r["rank"] <= r["n_features"]
        assert r["ipc_total"] == pytest.approx(sum(degrees))
        assert r["memory_capacity"] == pytest.approx(sum(r["memory_curve"])) == pytest.approx(r["ipc_degree1"])
        assert len(r["memory_curve"]) == 21 and all(0.0 <= v <= 1.0 + 1e-9 for v in r["memory_curve"])
        assert r["threshold"] > 0 and r["n_samples"] == N and r["seconds"] > 0


def test_the_reservoirs_are_the_studys_ensembles_and_sized_esns(cfg, rows):
    by = {(r["model"], r["init"], r["input_scaling"], r["seed"]): r for r in rows}
    assert by[("ESN-10", "-", None, 3)]["n_features"] == 10
    member = study.build_model(study.Cell("damped_shm", "QRNN", "ridge", 3, "normal"),
                               study.parse_config({**RAW, "reservoir": {"ensemble": 1}}), trainable=False)
    assert by[("QRNN", "normal", 1.0, 3)]["n_features"] == 2 * member.n_features  # an ensemble of 2
    # the row is the study's model's capacity, at the row's input scaling, on the shared input
    model = study.build_model(study.Cell("damped_shm", "QGRU", "ridge", 4, "uniform"), cfg, 0.5, trainable=False)
    direct = information_processing_capacity(model, n_samples=N, seed=0)
    r = by[("QGRU", "uniform", 0.5, 4)]
    assert (r["rank"], r["ipc_total"], r["memory_curve"]) == (direct.rank, direct.total, list(direct.memory_curve))
    # seeds and scalings make different reservoirs
    others = by[("QGRU", "uniform", 0.5, 3)]["ipc_total"], by[("QGRU", "uniform", 1.0, 4)]["ipc_total"]
    assert r["ipc_total"] not in others


def test_the_default_is_the_configs_first_seed(cfg):
    one = study.parse_config({**RAW, "study": {**RAW["study"], "models": ["ESN-10"]}})
    assert [r["seed"] for r in caps.model_capacities(one, progress=False, n_samples=500)] == [3]


def test_a_rerun_gives_identical_numbers(cfg, rows):
    again = caps.model_capacities(cfg, seeds=[3, 4], progress=False, n_samples=N)
    assert _numbers(again) == _numbers(rows)
    other_input = caps.model_capacities(cfg, seeds=[3], progress=False, n_samples=N, input_seed=1,
                                        input_scalings=[1.0])
    assert other_input[0]["ipc_total"] != next(r["ipc_total"] for r in rows if r["seed"] == 3
                                               and r["input_scaling"] == 1.0 and r["init"] == "normal")


def test_the_files_are_written(cfg, rows, tmp_path):
    paths = caps.write_capacities(cfg, tmp_path / "out", seeds=[3, 4], progress=False, n_samples=N)
    names = [p.name for p in paths]
    assert names == ["capacities.csv", "capacities.md", "capacities.png", "capacities-scaling-0.5.png"]
    with open(paths[0]) as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == len(rows) and list(table[0]) == list(caps.COLUMNS)
    for got, want in zip(table, rows):
        assert float(got["ipc_total"]) == want["ipc_total"] and int(got["rank"]) == want["rank"]
        np.testing.assert_allclose([float(v) for v in got["memory_curve"].split()], want["memory_curve"], rtol=1e-5)
        assert got["input_scaling"] == ("" if want["input_scaling"] is None else str(want["input_scaling"]))
    md = paths[1].read_text()
    table_rows = [line for line in md.splitlines() if line.startswith("| ") and "model" not in line]
    assert len(table_rows) == 2 * 2 * 2 + 2  # per model, init and scaling, the seeds averaged
    mean = np.mean([r["ipc_total"] for r in rows if (r["model"], r["init"], r["input_scaling"])
                    == ("QRNN", "uniform", 0.5)])
    assert f"| QRNN | uniform | 0.5 |" in md and f"{mean:.2f} ± " in md
    for p in paths[2:]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_the_command_line(tmp_path):
    (tmp_path / "c.toml").write_text('[study]\nname = "cli"\ntasks = ["damped_shm"]\nmodels = ["RNN", "ESN-10"]\n'
                                     'modes = ["ridge"]\nseeds = [0, 1]\n[models]\nhidden_size = 2\n')
    paths = caps.main([str(tmp_path / "c.toml"), "--out", str(tmp_path / "o"), "--seeds", "1",
                       "--n-samples", "500", "--quiet"])
    with open(paths[0]) as fh:
        assert [(r["model"], r["seed"], r["n_samples"]) for r in csv.DictReader(fh)] == [("RNN", "1", "500"),
                                                                                         ("ESN-10", "1", "500")]
    assert [p.name for p in paths] == ["capacities.csv", "capacities.md", "capacities.png"]


@pytest.mark.parametrize("kw, error, match", [
    ({"max_dgree": 2}, TypeError, r"unknown capacity options \['max_dgree'\].*max_degree"),
    ({"seed": 1}, TypeError, "input_seed"),
    ({"seeds": 0}, TypeError, "seeds must be a list of integers"),
    ({"seeds": [0, 0]}, ValueError, "seeds has duplicates"),
    ({"seeds": []}, ValueError, "at least one seed"),
    ({"seeds": [0.5]}, TypeError, r"seeds\[0\] must be an integer"),
    ({"input_scalings": [0.0]}, ValueError, r"input_scalings\[0\] must be"),
    ({"input_seed": -1}, ValueError, "input_seed must be >= 0"),
    ({"n_samples": 5}, ValueError, "n_samples must be >= 10"),
])
def test_bad_options_are_refused_before_anything_is_written(cfg, tmp_path, kw, error, match):
    with pytest.raises(error, match=match):
        caps.write_capacities(cfg, tmp_path / "out", progress=False, **kw)
    assert not (tmp_path / "out").exists()


def test_a_config_is_required():
    with pytest.raises(TypeError, match="cfg must be a StudyConfig"):
        caps.model_capacities(RAW)


def test_a_study_with_a_capacities_section_measures_its_models_beside_the_table(tmp_path, capsys):
    from experiments.study.cli import main

    config = tmp_path / "cap.toml"
    config.write_text('[study]\nname = "cap"\ntasks = ["sine"]\nmodels = ["QRNN", "ESN-10"]\nmodes = ["ridge"]\n'
                      'seeds = [0]\n[models]\nhidden_size = 2\n[capacities]\nn_samples = 500\n')
    main([str(config), "--out", str(tmp_path / "out"), "--quiet"])
    printed = capsys.readouterr().out
    assert {"capacities.csv", "capacities.md", "capacities.png"} <= {p.name for p in (tmp_path / "out").iterdir()}
    lines = printed[printed.index("Capacities ("):].splitlines()
    assert lines[1].split()[:2] == ["QRNN", "normal"] and lines[2].split()[0] == "ESN-10"
    assert all(len(line) <= 100 for line in printed.splitlines() if "Capacities" in line)


@pytest.mark.parametrize("table,match", [({"n_samples": 10}, "capacities.n_samples: must be an integer >= 100"),
                                         ({"steps": 1000}, r"\[capacities\]: takes only n_samples")])
def test_a_bad_capacities_section_is_refused(table, match):
    from experiments.study import parse_config

    with pytest.raises(ValueError, match=match):
        parse_config({"study": {"name": "c", "tasks": ["sine"], "models": ["ESN"], "modes": ["ridge"],
                                "seeds": [0]}, "capacities": table})


def test_the_capacities_of_what_a_search_chose(tmp_path):
    import csv

    from experiments.study import parse_config, run
    from experiments.study.capacities import chosen_capacities

    cfg = parse_config({"study": {"name": "sc", "tasks": ["sine"], "models": ["QRNN", "GRU", "ESN"],
                                  "modes": ["ridge"], "seeds": [0]}, "search": {"trials": 2}})
    run(cfg, tmp_path, progress=False)
    paths = chosen_capacities(cfg, tmp_path / "results.csv", tmp_path / "cap", n_samples=500, progress=False)
    assert [p.name for p in paths] == ["capacities-chosen.csv", "capacities-chosen.md", "capacities-chosen-sine.png"]
    with open(paths[0]) as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} == {"QRNN", "GRU", "ESN"}
    assert all(int(r["n_features"]) >= int(r["rank"]) > 0 for r in rows)


def test_a_searched_study_with_capacities_measures_what_it_chose(tmp_path, capsys):
    from experiments.study.cli import main

    config = tmp_path / "sc.toml"
    config.write_text('[study]\nname = "sc"\ntasks = ["sine"]\nmodels = ["QRNN", "ESN"]\nmodes = ["ridge"]\n'
                      'seeds = [0]\n[search]\ntrials = 2\n[capacities]\nn_samples = 500\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "capacities.csv").write_text("an older run's, not this study's\n")
    result = main([str(config), "--out", str(out), "--quiet"])
    assert (out / "capacities-chosen.md").is_file()
    assert (out / "capacities.csv").read_text() == "an older run's, not this study's\n"  # not the config's
    assert "capacities-chosen-sine.png" in [p.name for p in result["plots"]]
    printed = capsys.readouterr().out
    assert f"Capacities of the reservoirs the search chose: {out / 'capacities-chosen.md'}" in printed
    assert "Capacities (IPC" not in printed


def test_the_capacities_of_what_a_search_chose_on_every_task_kind(tmp_path):
    # a classification or generation row has no test MSE: each task is listed by its own metric, best first
    import csv

    from experiments.study import parse_config, run
    from experiments.study.capacities import chosen_capacities

    cfg = parse_config({"study": {"name": "sk", "tasks": ["waveforms", "mackey_glass_generation"],
                                  "models": ["QRNN", "GRU", "ESN"], "modes": ["ridge"], "seeds": [0]},
                        "search": {"trials": 2}})
    run(cfg, tmp_path, progress=False)
    paths = chosen_capacities(cfg, tmp_path / "results.csv", tmp_path / "cap", n_samples=500, progress=False)
    with open(paths[0]) as fh:
        rows = list(csv.DictReader(fh))
    with open(tmp_path / "results.csv") as fh:
        results = {(r["task"], r["model"]): r for r in csv.DictReader(fh) if r["mode"] == "ridge"}
    assert {(r["task"], r["metric"]) for r in rows} == {("waveforms", "test accuracy"),
                                                        ("mackey_glass_generation", "valid time")}
    for r in rows:
        column = "test_accuracy" if r["task"] == "waveforms" else "valid_time"
        assert float(r["test_value"]) == float(results[r["task"], r["model"]][column])
    table = [line for line in paths[1].read_text().splitlines()[4:] if line.startswith("| ")]
    for task, column in (("waveforms", "test_accuracy"), ("mackey_glass_generation", "valid_time")):
        listed = [line.split("|")[2].strip() for line in table if line.split("|")[1].strip() == task]
        best = sorted(listed, key=lambda m: -float(results[task, m][column]))
        assert listed == best
    # the order is tested: the models differ on a task at least
    assert any(len({results[t, m][c] for m in ("QRNN", "GRU", "ESN")}) == 3
               for t, c in (("waveforms", "test_accuracy"), ("mackey_glass_generation", "valid_time")))
