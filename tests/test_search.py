"""The study's equal-budget search: seeded samplers, the budget, failed trials, config spaces."""
import math

import numpy as np
import pytest

from experiments.study.search import Choice, IntRange, LogUniform, Uniform, search, space_from_config

SPACE = {"x": Uniform(-2.0, 2.0), "scale": LogUniform(0.01, 10.0), "n": IntRange(1, 5), "kind": Choice(["a", "b"])}


def _objective(p):
    return (p["x"] - 0.5) ** 2 + math.log10(p["scale"]) ** 2 + (p["n"] - 3) ** 2 + (p["kind"] == "b")


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_same_seed_same_trials_and_the_budget_is_kept(sampler):
    a = search(_objective, SPACE, trials=25, sampler=sampler, seed=3)
    b = search(_objective, SPACE, trials=25, sampler=sampler, seed=3)
    assert a.trials == b.trials and len(a.trials) == 25
    assert a.score == min(s for _, s in a.trials) and a.params == min(a.trials, key=lambda t: t[1])[0]
    assert search(_objective, SPACE, trials=25, sampler=sampler, seed=4).trials != a.trials


def test_draws_stay_in_their_ranges():
    res = search(lambda p: 0.0, SPACE, trials=300, seed=0)
    xs = np.array([p["x"] for p, _ in res.trials])
    scales = np.array([p["scale"] for p, _ in res.trials])
    assert xs.min() >= -2 and xs.max() <= 2
    assert scales.min() >= 0.01 and scales.max() <= 10
    assert 0.3 < np.mean(np.log10(scales) < 0) < 0.7  # log-uniform: as many below 1 as above
    assert {p["n"] for p, _ in res.trials} == {1, 2, 3, 4, 5}
    assert res.params == res.trials[0][0]  # ties keep the earliest


def test_a_diverged_trial_counts_and_scores_inf():
    def objective(p):
        if p["kind"] == "b":
            raise FloatingPointError("diverged")
        return float("nan") if p["x"] > 1.5 else p["x"] ** 2

    res = search(objective, SPACE, trials=30, seed=0)
    assert len(res.trials) == 30
    assert all(s == math.inf for p, s in res.trials if p["kind"] == "b" or p["x"] > 1.5)
    assert res.params["kind"] == "a"


def test_spaces_from_a_config_and_bad_ones():
    space = space_from_config({"lr": {"log_uniform": [1e-3, 0.1]}, "epochs": {"int": [10, 50]},
                               "rho": {"uniform": [0.1, 1.5]}, "features": ["output", "all"]}, "search.x")
    assert space == {"lr": LogUniform(1e-3, 0.1), "epochs": IntRange(10, 50), "rho": Uniform(0.1, 1.5),
                     "features": Choice(["output", "all"])}
    with pytest.raises(ValueError, match=r"search.x.lr must be a list of choices"):
        space_from_config({"lr": 0.1}, "search.x")
    with pytest.raises(ValueError, match=r"search.x.lr: log_uniform takes \[low, high\]"):
        space_from_config({"lr": {"log_uniform": [1e-3]}}, "search.x")
    with pytest.raises(ValueError, match="low must be > 0"):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        search(_objective, SPACE, trials=2, sampler="grid")
    with pytest.raises(ValueError, match="trials must be >= 1"):
        search(_objective, SPACE, trials=0)
