"""Choosing the recommended reservoir from the search's choices: candidates, and the choice by validation."""
import json

from experiments.choose_recommended import candidates, esn_candidates, score


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


def test_a_candidate_is_scored_on_validation_windows_only():
    from experiments import study

    cfg = study.parse_config({"study": {"name": "c", "tasks": ["sine", "damped_shm"], "models": ["QRNN"],
                                        "modes": ["ridge"], "seeds": [0]}, "search": {"trials": 1}})
    cand = {"init": "normal", "params": {"ensemble": 1, "hidden_size": 2, "features": "output",
                                         "correlators": False, "input_scaling": 1.0}, "chosen_by": 1}
    s = score("QRNN", cand, cfg, ["sine", "damped_shm"], [0])
    assert set(s["per_task"]) == {"sine", "damped_shm"} and s["score"] > 0
    assert s == score("QRNN", cand, cfg, ["sine", "damped_shm"], [0])  # deterministic
