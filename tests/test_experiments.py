"""The README's main job and the NARMA-10 study run end to end."""
import json

import numpy as np

from experiments import compare, narma10


def test_main_job_runs_and_writes_results(tmp_path, capsys):
    out = tmp_path / "compare.json"
    compare.main(["--out", str(out)])
    rows = json.loads(out.read_text())["rows"]
    models = {r["model"] for r in rows}
    assert {"QRNN", "QLSTM", "QGRU", "RNN", "LSTM", "GRU", "ESN(100)", "linear (raw window)"} <= models
    assert {r["task"] for r in rows} == set(compare.TASKS)
    assert all(np.isfinite(r["test_mse"]) and r["test_mse"] >= 0 for r in rows)
    assert "| QLSTM | uniform |" in capsys.readouterr().out


def test_narma10_study_reproduces_the_readme_table():
    rows = {r["reservoir"]: r for r in narma10.run(seed=0)}
    # figures quoted in README.md (3 decimals)
    assert round(rows["ESN(1, 100)"]["test_nrmse"], 3) == 0.348
    assert round(rows["QLSTM(1, 3) uniform"]["test_nrmse"], 3) == 0.804
    assert round(rows["QGRU(1, 3) normal"]["test_nrmse"], 3) == 0.809
