"""The study under device conditions: the [conditions] section (issue 19)."""
import csv

import numpy as np
import pytest

from experiments import study
from experiments.study.conditions import Condition

RAW = {"study": {"name": "cond", "tasks": ["sine"], "models": ["QRNN", "GRU", "ESN"], "modes": ["ridge", "trained"],
                 "seeds": [0, 1], "inits": ["uniform"]},
       "models": {"hidden_size": 2, "esn_size": 10}, "training": {"epochs": 1, "batch_size": 8},
       "conditions": {"shots": ["exact", 200], "noise": ["exact", {"p1": 0.01, "p2": 0.05, "readout": 0.02}]}}


def test_conditions_run_the_frozen_quantum_cells_and_report_them(tmp_path, capsys):
    cfg = study.parse_config(RAW)
    labels = [c.label for c in cfg.conditions]
    assert labels == ["exact", "shots=200", "p1=0.01,p2=0.05,readout=0.02", "p1=0.01,p2=0.05,readout=0.02 shots=200"]
    cells = study.grid(cfg)
    # quantum ridge cells under every condition; trained and classical cells exact only
    assert {c.condition for c in cells if c.model == "QRNN" and c.mode == "ridge"} == set(labels)
    assert {c.condition for c in cells if c.mode == "trained" or c.model != "QRNN"} == {"exact"}
    out = study.run(cfg, tmp_path, progress=False)
    rows = out["rows"]
    q = {r["condition"]: r["test_mse"] for r in rows if r["model"] == "QRNN" and r["mode"] == "ridge" and r["seed"] == 0}
    assert len(set(q.values())) == 4  # every condition changes the features
    # the shots each cell's circuit evaluations cost: 200 a circuit under the shot conditions, none exact
    for r in rows:
        if r["mode"] != "baseline":
            assert r["shots"] == (200 * r["circuit_evaluations"] if "shots=200" in r["condition"] else 0)
    assert any(r["shots"] > 0 for r in rows if r["mode"] != "baseline")
    # the cell under a condition is the same reservoir on TorchBackend(shots=, seed=, noise=)
    from qrnn import QRNN, ReservoirRegressor
    from qrnn.backends import Noise, TorchBackend
    from qrnn.metrics import mse

    from experiments.study.tasks import task_train_fraction

    Xtr, Xte, ytr, yte = study._data("sine", task_train_fraction("sine", cfg))
    be = TorchBackend(shots=200, seed=0, noise=Noise(p1=0.01, p2=0.05, readout=0.02))
    est = ReservoirRegressor(QRNN(1, 2, init="uniform", seed=0, backend=be), alpha="loo").fit(Xtr, ytr)
    assert q[labels[3]] == pytest.approx(mse(yte, est.predict(Xte)), rel=1e-12)
    with open(tmp_path / "conditions.csv") as fh:
        table = list(csv.DictReader(fh))
    assert {r["condition"] for r in table if r["model"] == "QRNN" and r["mode"] == "ridge"} == set(labels)
    assert (tmp_path / "sine-conditions.png").is_file() and "| QRNN | uniform | ridge |" in (
        tmp_path / "conditions.md").read_text()
    # the exact rows alone feed the learning curves; stored cells are reused by condition
    again = study.run(cfg, tmp_path, progress=False)
    assert again["reused"] == len(cells)
    assert sorted(r["test_mse"] for r in again["rows"]) == sorted(r["test_mse"] for r in rows)
    from experiments.study.conditions import condition_reading

    lines = condition_reading(rows, cfg.conditions)
    assert len(lines) == 4 and all(line.startswith("sine, ") for line in lines)


def test_an_exact_cell_keeps_its_stored_name_and_record():
    cell = study.Cell("sine", "QRNN", "ridge", 0, "normal")
    assert "condition" not in cell.record() and cell.label == "QRNN normal [ridge]"
    noisy = study.Cell("sine", "QRNN", "ridge", 0, "normal", "fake_manila shots=1000")
    assert noisy.record()["condition"] == "fake_manila shots=1000"
    from experiments.study.store import _cell_path
    from pathlib import Path

    assert _cell_path(Path("s"), cell).name == "sine__QRNN__normal__ridge__s0.json.gz"
    assert _cell_path(Path("s"), noisy).name == "sine__QRNN__normal__ridge__s0__fake_manila_shots=1000.json.gz"


def test_a_device_condition_reads_its_calibration():
    backend = Condition(1000, "fake_manila").backend(3, 4)
    assert backend.shots == 1000 and backend.seed == 3 and backend.noise.n_wires == 4


@pytest.mark.parametrize("conditions, match", [
    ({"shots": [0]}, "conditions.shots"),
    ({"shots": ["many"]}, "conditions.shots"),
    ({"noise": ["fake_nowhere"]}, "not \"exact\" nor a fake device"),
    ({"noise": [{"p1": 2.0}]}, "p1 must be in"),
    ({"noise": [{"p3": 0.1}]}, "a noise table takes"),
    ({"noise": [{"p1": [0.1, 0.2]}]}, "one value for all wires"),
    ({"noise": []}, "non-empty list"),
    ({"seeds": 1}, "unknown field"),
    ({"noise": [{"p1": 0.001}, {"p1": 0.0010000001}], "shots": [10]}, None),
])
def test_condition_errors_name_the_field(conditions, match):
    if match is None:  # accepted: values that differ get labels that differ
        labels = [c.label for c in study.parse_config({**RAW, "conditions": conditions}).conditions]
        assert len(set(labels)) == len(labels) == 3
        return
    with pytest.raises(ValueError, match=match):
        study.parse_config({**RAW, "conditions": conditions})


def test_noise_conditions_bound_the_qubits():
    raw = {**RAW, "models": {"hidden_size": 8, "esn_size": 10}}
    with pytest.raises(ValueError, match="models.hidden_size"):
        study.parse_config(raw)
    small = {**RAW, "models": {"hidden_size": 5, "esn_size": 10}, "conditions": {"noise": ["fake_manila"]}}
    with pytest.raises(ValueError, match="device 'fake_manila' has 5 qubits"):
        study.parse_config(small)


def test_a_noisy_cell_stores_the_backend_it_ran_on(tmp_path):
    import gzip
    import json

    raw = {**RAW, "study": {**RAW["study"], "models": ["QRNN"], "modes": ["ridge"], "seeds": [0]},
           "conditions": {"shots": [50], "noise": ["exact"]}}
    cfg = study.parse_config(raw)
    study.run(cfg, tmp_path, progress=False)
    [path] = [p for p in (tmp_path / "cells").iterdir() if "shots" in p.name]
    settings = json.loads(gzip.decompress(path.read_bytes()))["settings"]
    assert settings["condition"]["shots"] == 50 and settings["condition"]["kind"] == "torch"
    exact = [p for p in (tmp_path / "cells").iterdir() if "shots" not in p.name]
    assert "condition" not in json.loads(gzip.decompress(exact[0].read_bytes()))["settings"]
