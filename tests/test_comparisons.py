"""The study's paired Wilcoxon comparisons, against scipy on hand-made cases and the exact distribution."""
import itertools

import numpy as np
import pytest
from scipy.stats import wilcoxon

from experiments.study.comparisons import compare, holm, smallest_p, verdict_phrase


def test_p_value_is_scipys_and_the_verdict_follows_it():
    a = {0: 0.10, 1: 0.20, 2: 0.15, 3: 0.12, 4: 0.30, 5: 0.11, 6: 0.16, 7: 0.19}
    b = {0: 0.14, 1: 0.26, 2: 0.13, 3: 0.22, 4: 0.41, 5: 0.19, 6: 0.23, 7: 0.27}
    row = compare(a, b, lower_is_better=True)
    assert row["p_value"] == pytest.approx(wilcoxon(list(a.values()), list(b.values())).pvalue, rel=1e-12)
    assert row["wins"] == 7 and row["n_seeds"] == 8 and row["verdict"] == "beats"
    assert compare(b, a, lower_is_better=True)["verdict"] == "loses"
    assert compare(a, b, lower_is_better=False)["verdict"] == "loses"  # an accuracy: higher is better
    assert verdict_phrase(row, "QLSTM", "ESN").startswith("QLSTM beats ESN (p = 0.016, better on 7 of 8")


def test_exact_p_value_by_enumerating_the_signs():
    # the exact null distribution of W+ written out: every sign pattern of the ranks equally likely
    a = np.array([1.3, 0.4, 2.2, 0.9, 1.7, 0.2])
    b = np.array([1.0, 0.9, 1.0, 0.5, 1.1, 0.25])
    d = a - b
    ranks = np.argsort(np.argsort(np.abs(d))) + 1
    w = ranks[d > 0].sum()
    stats = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product([0, 1], repeat=len(d))]
    total = ranks.sum()
    tail = min(w, total - w)
    p_exact = 2 * np.mean([s <= tail for s in stats])
    row = compare(dict(enumerate(a)), dict(enumerate(b)), lower_is_better=False)
    assert row["p_value"] == pytest.approx(min(1.0, p_exact), rel=1e-12)


def test_five_seeds_cannot_beat_anything_at_five_percent_and_say_so():
    a = {s: 1.0 + s for s in range(5)}
    b = {s: 10.0 + s for s in range(5)}
    row = compare(a, b, lower_is_better=True)
    assert row["wins"] == 5 and row["verdict"] == "ties"
    assert row["p_value"] == pytest.approx(0.0625)
    assert "5 differing seeds cannot reach p < 0.05" in row["note"]
    assert smallest_p(5) == 0.0625 and smallest_p(6) == 0.03125


def test_pairs_only_shared_finite_seeds():
    row = compare({0: 1.0, 1: 2.0, 2: np.nan, 3: 4.0}, {0: 1.5, 1: 2.5, 2: 3.0, 9: 1.0}, lower_is_better=True)
    assert row["n_seeds"] == 2
    assert compare({0: 1.0}, {0: 2.0}, lower_is_better=True)["note"] == "fewer than 2 paired seeds"
    same = compare({0: 1.0, 1: 2.0}, {0: 1.0, 1: 2.0}, lower_is_better=True)
    assert same["verdict"] == "ties" and same["note"] == "identical on every seed"


def test_study_comparisons_pair_seeds_and_judge_each_kind_by_its_metric():
    from experiments.study.comparisons import study_comparisons

    rows = []
    for seed in range(7):
        rows += [{"task": "t", "kind": "forecast", "model": "QRNN", "init": "normal", "mode": "ridge", "seed": seed,
                  "test_mse": 1.0 + 0.01 * seed},
                 {"task": "t", "kind": "forecast", "model": "QRNN", "init": "normal", "mode": "trained",
                  "seed": seed, "test_mse": 2.0 + 0.02 * seed},
                 {"task": "t", "kind": "forecast", "model": "ESN", "init": "-", "mode": "ridge", "seed": seed,
                  "test_mse": 1.0 + 0.01 * seed + (0.001 if seed % 2 else -0.001)},
                 {"task": "c", "kind": "classification", "model": "QRNN", "init": "normal", "mode": "ridge",
                  "seed": seed, "test_accuracy": 0.9 + 0.001 * seed, "test_mse": ""}]
    rows += [{"task": "t", "kind": "forecast", "model": "persistence", "init": "-", "mode": "baseline", "seed": 0,
              "test_mse": 1.5},
             {"task": "c", "kind": "classification", "model": "majority class", "init": "-", "mode": "baseline",
              "seed": 0, "test_accuracy": 0.5}]
    out = {(r["task"], r["comparison"], r["a"], r["b"]): r for r in study_comparisons(rows, ["QRNN"], ["ESN"])}
    base = out[("t", "baseline", "QRNN normal [ridge]", "persistence [baseline]")]
    assert base["verdict"] == "beats" and base["wins"] == 7 and base["p_value"] == pytest.approx(1 / 64)
    assert out[("t", "reservoir vs trained", "QRNN normal [ridge]", "QRNN normal [trained]")]["verdict"] == "beats"
    tie = out[("t", "quantum vs classical", "QRNN normal [ridge]", "ESN [ridge]")]
    assert tie["verdict"] == "ties" and tie["wins"] == 3
    acc = out[("c", "baseline", "QRNN normal [ridge]", "majority class [baseline]")]
    assert acc["metric"] == "test_accuracy" and acc["verdict"] == "beats"  # higher accuracy is better
    assert ("t", "quantum vs classical", "QRNN normal [trained]", "ESN [ridge]") not in out  # same mode only


def test_the_direction_ignores_tied_seeds():
    # 7 tied seeds and 6 where a is 10 steps better (a valid time: higher is better): a beats b
    a = {s: 50.0 for s in range(7)} | {s: 40.0 + s for s in range(7, 13)}
    b = {s: 50.0 for s in range(7)} | {s: 30.0 + s for s in range(7, 13)}
    row = compare(a, b, lower_is_better=False)
    assert row["p_value"] < 0.05 and row["verdict"] == "beats" and row["wins"] == 6
    assert compare(b, a, lower_is_better=False)["verdict"] == "loses"


def test_holm_by_hand_and_against_bonferroni():
    # p sorted: 0.001, 0.01, 0.02, 0.04 of m = 4: 4 * 0.001, 3 * 0.01, max(0.03, 2 * 0.02), max(0.04, 0.04)
    assert holm([0.02, 0.001, 0.04, 0.01]) == pytest.approx([0.04, 0.004, 0.04, 0.03])
    rng = np.random.default_rng(0)
    p = list(rng.uniform(0, 0.2, 9))
    adjusted = holm(p)
    m = len(p)
    # never below the raw p, never above Bonferroni's, monotone in the raw p
    assert all(q >= x and q <= min(1.0, m * x) + 1e-15 for q, x in zip(adjusted, p))
    order = np.argsort(p)
    assert all(np.diff(np.array(adjusted)[order]) >= 0)
    # a comparison without a p-value counts in the family as p = 1: three comparisons, not one
    assert holm([None, 0.2, None]) == pytest.approx([None, 0.6, None]) and holm([]) == []


def test_each_tasks_comparison_family_is_holm_adjusted():
    from experiments.study.comparisons import study_comparisons

    rows = []
    for task in ("t", "u"):
        rows.append({"task": task, "kind": "forecast", "model": "persistence", "init": "-", "mode": "baseline",
                     "seed": 0, "test_mse": 1.0})
        for seed in range(10):
            for model, level in (("QRNN", 0.5), ("QLSTM", 0.9 if task == "t" else 1.1), ("ESN", 0.7)):
                rows.append({"task": task, "kind": "forecast", "model": model, "init": "-", "mode": "ridge",
                             "seed": seed, "test_mse": level + 0.01 * seed * (1 if seed % 3 else -1)})
    out = study_comparisons(rows, ["QRNN", "QLSTM"], ["ESN"])
    for family in {(r["task"], r["comparison"]) for r in out}:
        mine = [r for r in out if (r["task"], r["comparison"]) == family]
        assert [r["p_holm"] for r in mine] == pytest.approx(holm([r["p_value"] for r in mine]))
    assert all(r["p_holm"] >= r["p_value"] for r in out)
