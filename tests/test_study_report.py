"""What a study reports: comparisons.csv (paired tests over seeds), the compact terminal table, the plain
reading that says "beats" only through its test, the committed reading's claims with their p-values, and the
same config giving the same files."""
import csv
import itertools
import tomllib

import numpy as np
import pytest
from scipy.stats import wilcoxon

from experiments import reading as committed_reading
from experiments import study
from experiments.study.comparisons import COLUMNS, compare, holm, study_comparisons
from experiments.study.summary import WIDTH, model_families, reading, terminal_table

TINY = {"study": {"name": "report", "tasks": ["sine"], "models": ["QRNN", "GRU", "ESN"],
                  "modes": ["ridge", "trained"], "seeds": [0, 1]},
        "models": {"hidden_size": 2, "esn_size": 20}, "training": {"epochs": 2, "batch_size": 16}}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The tiny config run twice, into two folders, from scratch."""
    cfg = study.parse_config(TINY)
    root = tmp_path_factory.mktemp("report")
    return [study.run(cfg, root / name, progress=False) for name in ("a", "b")]


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _as_csv(value):
    """A value as csv.DictWriter writes it and DictReader reads it back."""
    return "" if value is None else str(value)


def test_comparisons_csv_holds_every_paired_test_of_the_exact_rows(two_runs):
    result = two_runs[0]
    written = _csv(result["out"] / "comparisons.csv")
    with open(result["out"] / "comparisons.csv") as fh:
        assert fh.readline().strip() == ",".join(COLUMNS)
    # recomputed here from the rows, with the ESN named as classical by hand
    expected = study_comparisons(result["rows"], study.quantum_models(), (*study.classical_models(), "ESN"))
    assert result["comparisons"] == expected
    assert written == [{k: _as_csv(r[k]) for k in COLUMNS} for r in expected]
    kinds = {(r["comparison"], r["a"], r["b"]) for r in written}
    # 5 model cells against 3 baselines; QRNN and GRU ridge against trained; QRNN against GRU and the ESN
    assert len(written) == 5 * 3 + 2 + 3
    assert {("quantum vs classical", "QRNN normal [ridge]", "ESN [ridge]"),
            ("quantum vs classical", "QRNN normal [trained]", "GRU [trained]"),
            ("reservoir vs trained", "GRU [ridge]", "GRU [trained]"),
            ("baseline", "ESN [ridge]", "persistence [baseline]")} <= kinds
    for r in written:  # two seeds: paired, and too few to reach the level
        assert r["n_seeds"] == "2" and r["verdict"] == "ties" and r["metric"] == "test_mse"


def test_the_same_config_gives_the_same_files(two_runs):
    a, b = (_csv(r["out"] / "results.csv") for r in two_runs)
    timing = [c for c in a[0] if "seconds" in c]
    assert "seconds" in timing and len(a) == len(b) == 3 + 5 * 2
    strip = [[{k: v for k, v in r.items() if k not in timing} for r in rows] for rows in (a, b)]
    assert strip[0] == strip[1]
    # the timing columns are the only ones that differ, and the comparisons (no timing in them) match byte for byte
    assert (two_runs[0]["out"] / "comparisons.csv").read_bytes() == (two_runs[1]["out"] / "comparisons.csv").read_bytes()


def _wide_rows():
    """Rows of every task and model of full.toml, both inits, 5 seeds, every mode, the baselines of each kind, and
    a registered-looking model of a long name; values as wide as their formats get."""
    with open("experiments/configs/full.toml", "rb") as fh:
        full = tomllib.load(fh)["study"]
    baselines = {"forecast": ("persistence", "ridge on the raw window", "ESN(4)"),
                 "classification": ("majority class", "ridge on the raw sequence", "ESN(15)"),
                 "generation": ("persistence", "ridge on the last 10 values", "ESN(4)")}
    metric = {"forecast": "test_mse", "classification": "test_accuracy", "generation": "valid_time"}
    rng = np.random.default_rng(0)
    rows, best = [], {}
    for task in full["tasks"]:
        kind = study.task_kind(task)
        for name in baselines[kind]:
            rows.append({"task": task, "kind": kind, "model": name, "init": "-", "mode": "baseline", "seed": 0,
                         metric[kind]: {"classification": 0.05}.get(kind, 0.5), "horizon_nrmse": 1.0})
        models = [*full["models"], "ESN-300", "AVeryLongRegisteredQuantumCellNameOfAUserThatNoColumnHoldsWhole"]
        cells = [(model, mode, init) for model, mode in itertools.product(models, full["modes"])
                 for init in (full["inits"] if study.is_quantum(model) or model.startswith("AVery") else ("-",))]
        for i, (model, mode, init) in enumerate(cells):
            for seed in full["seeds"]:
                value = {"forecast": 1.234e-123 * (1 + i) * (1 + rng.random()),
                         "classification": 0.1 + 0.001 * i, "generation": 100.0 + i % 3}[kind]
                rows.append({"task": task, "kind": kind, "model": model, "init": init, "mode": mode,
                             "seed": seed, metric[kind]: value, "horizon_nrmse": 1.0 + i})
        means = {}
        for r in rows:
            if r["task"] == task and r["mode"] != "baseline":
                means.setdefault((r["model"], r["init"], r["mode"]), []).append((r[metric[kind]], r["horizon_nrmse"]))
        means = {k: np.mean(v, axis=0) for k, v in means.items()}
        if kind == "forecast":
            best[task] = min(means, key=lambda k: means[k][0]), "{:.2e}"
        elif kind == "classification":
            best[task] = max(means, key=lambda k: means[k][0]), "{:.3f}"
        else:  # several reach 102 steps: the lowest NRMSE over the horizon among them
            best[task] = min(means, key=lambda k: (-means[k][0], means[k][1])), "{:.1f}"
        best[task] = (*best[task], means[best[task][0]][0])
    return rows, best


def test_the_terminal_table_fits_100_characters_and_marks_each_tasks_best():
    rows, best = _wide_rows()
    lines = terminal_table(rows)
    assert max(len(line) for line in lines) <= WIDTH == 100
    blocks = "\n".join(lines).split("\n\n")[1:]  # the legend, then one block per task
    with open("experiments/configs/full.toml", "rb") as fh:
        assert len(blocks) == len(tomllib.load(fh)["study"]["tasks"])
    for block in blocks:
        task = block.split(":")[0]
        marked = [line for line in block.splitlines() if "*" in line]
        assert len(marked) == 1, block
        (model, init, mode), fmt, mean = best[task]
        value = fmt.format(mean) + " (5)"
        shown = marked[0].split()[0].rstrip("…")
        assert value + "*" in marked[0] and model.startswith(shown) and init in (marked[0].split()[1], "-"), marked
        header = next(line for line in block.splitlines() if line.startswith("  model + init"))
        assert header.split()[3:] == ["baseline", "ridge", "epochs", "trained"]
        # in its mode's column: the value ends under the column's name, its mark after it
        assert marked[0].index(value) + len(value) == header.index(" " + mode) + 1 + len(mode)
        # cut to fit, shown to be cut, its init kept
        assert {line.split("…")[1].split()[0] for line in block.splitlines() if "AVeryLong" in line} == {"normal", "uniform"}
        assert all("…" in line for line in block.splitlines() if "AVeryLong" in line)
        # a baseline has one value (no seeds' count); a model's mean says over how many seeds
        assert all("(" not in line for line in block.splitlines() if line.startswith(("  persistence", "  majority")))
        assert all(line.count("(5)") == 3 for line in block.splitlines() if line.startswith("  QLSTM uniform"))
    assert terminal_table(rows, width=80) != lines and max(map(len, terminal_table(rows, width=80))) <= 80
    with pytest.raises(ValueError, match=r"width 60 leaves -1 characters for the model names beside task "
                                         r"'damped_shm''s 4 columns \(59 characters\); give at least 69"):
        terminal_table(rows, width=60)


def _forecast(task, cells, seeds, baseline=1.0):
    """Rows of a forecasting task: a baseline, and per (model, init, mode) a function of the seed."""
    rows = [{"task": task, "kind": "forecast", "model": "persistence", "init": "-", "mode": "baseline", "seed": 0,
             "test_mse": baseline}]
    for (model, init, mode), f in cells.items():
        rows += [{"task": task, "kind": "forecast", "model": model, "init": init, "mode": mode, "seed": s,
                  "test_mse": f(s)} for s in seeds]
    return rows


def test_one_seed_is_not_tested_and_its_numbers_are_numbers():
    rows = _forecast("t", {("QRNN", "normal", "ridge"): lambda s: 0.1, ("QRNN", "normal", "trained"): lambda s: 0.2,
                           ("GRU", "-", "ridge"): lambda s: 3.0}, seeds=[0])
    text = "\n".join(reading(rows))
    assert "t: the best baseline is persistence (test MSE 1.00e+00); 1 seed: not tested." in text
    assert "test MSE lower than it on that seed: QRNN normal [ridge] 1.00e-01, QRNN normal [trained] 2.00e-01." in text
    assert "reservoir + ridge 1.00e-01 vs fully trained 2.00e-01 (1 seed: not tested)" in text
    assert "QRNN normal [ridge] 1.00e-01, against the best classical one in its mode, GRU [ridge] 3.00e+00 " \
           "(1 seed: not tested)" in text
    for claim in ("beats", "beaten", "better", "loses"):
        assert claim not in text, claim


def test_seven_seeds_beat_only_where_the_wilcoxon_test_says_so():
    seeds = range(7)
    rows = _forecast("t", {
        ("QRNN", "normal", "ridge"): lambda s: 0.5 + 0.01 * s,  # below the baseline on every seed
        # below it on average (a large gain on two seeds), above it on five: a tie
        ("QLSTM", "normal", "ridge"): lambda s: 0.01 if s < 2 else 1.05,
        ("GRU", "-", "ridge"): lambda s: 2.0 + s,  # above it on every seed
        ("QRNN", "normal", "trained"): lambda s: 0.9 + 0.01 * s,
        ("GRU", "-", "trained"): lambda s: 1.0 + 0.01 * s + (0.3 if s % 2 else -0.3)}, seeds=seeds)  # 4 of 7
    lines = reading(rows)
    text = "\n".join(lines)
    p = wilcoxon([0.5 + 0.01 * s for s in seeds], [1.0] * 7).pvalue
    assert p < 0.05
    assert f"  QRNN normal [ridge] beats persistence [baseline] (p = {p:.2g}, better on 7 of 7 seeds)." in lines
    qlstm = [0.01 if s < 2 else 1.05 for s in seeds]
    assert np.mean(qlstm) < 1.0 and wilcoxon(qlstm, [1.0] * 7).pvalue >= 0.05
    assert not any("QLSTM" in line and "beats" in line for line in lines)
    assert "ties with it, better on fewer than half the seeds (p >= " in text and "QLSTM normal [ridge]" in text
    gru = [1.0 + 0.01 * s + (0.3 if s % 2 else -0.3) for s in seeds]
    assert f"ties with it: GRU [trained] {np.mean(gru):.2e} (p = {wilcoxon(gru, [1.0] * 7).pvalue:.2g}, better on 4 " \
           "of 7 seeds)." in text
    assert "loses to it (p <= 0.016 each): GRU [ridge]." in text
    # reservoir + ridge against fully trained, by the same test
    r = compare({s: 0.5 + 0.01 * s for s in seeds}, {s: 0.9 + 0.01 * s for s in seeds}, lower_is_better=True)
    assert r["verdict"] == "beats" and f"reservoir + ridge beats fully trained (p = {r['p_value']:.2g}, " \
                                      "better on 7 of 7 seeds)" in text
    assert f"GRU: test MSE, reservoir + ridge 5.00e+00 vs fully trained {np.mean(gru):.2e}: reservoir + ridge loses " \
           "to fully trained (p = 0.016, better on 0 of 7 seeds)" in text
    assert "the best quantum cell, QRNN normal [ridge] 5.30e-01, against the best classical one in its mode, " \
           "GRU [ridge] 5.00e+00: QRNN normal [ridge] beats GRU [ridge] (p = 0.016, better on 7 of 7 seeds)." in text


def test_accuracy_is_higher_is_better_and_five_seeds_say_they_cannot_tell():
    rows = [{"task": "c", "kind": "classification", "model": "majority class", "init": "-", "mode": "baseline",
             "seed": 0, "test_accuracy": 0.3}]
    rows += [{"task": "c", "kind": "classification", "model": "ESN-100", "init": "-", "mode": "ridge", "seed": s,
              "test_accuracy": 0.9} for s in range(5)]
    text = "\n".join(reading(rows))
    assert "c: the best baseline is majority class (test accuracy 0.300); 5 seeds: no comparison can reach " \
           "p < 0.05 (the smallest two-sided p of 5 seeds is 0.0625), so every one ties" in text
    assert "no model beats it at p < 0.05" in text
    assert "ties with it: ESN-100 [ridge] 0.900 (p = 0.062, better on 5 of 5 seeds)." in text
    assert model_families(rows)[1][-1] == "ESN-100"


def test_the_committed_reading_states_its_claims_with_their_tests():
    """The paper's claims on 7 hand-made seeds: the reservoir better than fully trained on every seed (p = 0.016),
    within 2x on every seed, cheaper on every seed; fewer epochs on means but on only 4 of 7 seeds (a tie)."""
    rows = []

    def add(model, init, mode, seed, mse, **extra):
        rows.append({"task": "t", "kind": "forecast", "model": model, "init": init, "mode": mode, "seed": str(seed),
                     "test_mse": str(mse), "seconds": str(extra.get("seconds", 0.01)),
                     "seconds_per_epoch": str(extra.get("spe", "")), "epochs": str(extra.get("epochs", 0)),
                     "epochs_to_5pct": str(extra.get("e5", "")), "condition": "exact"})

    add("persistence", "-", "baseline", 0, 1.0)
    for s in range(7):
        add("QRNN", "normal", "ridge", s, 0.5 + 0.01 * s)
        add("QRNN", "normal", "epochs", s, 0.8, epochs=10, spe=0.1, e5=3 if s < 4 else 6)
        add("QRNN", "normal", "trained", s, 0.9 + 0.01 * s, epochs=10, spe=0.5)
        add("RNN", "-", "epochs", s, 0.8, epochs=10, spe=0.1, e5=5)
    text = committed_reading.reading(rows, [])
    assert "With 7 seeds the smallest two-sided p is 0.0156." in text
    p = wilcoxon([0.5 + 0.01 * s for s in range(7)], [0.9 + 0.01 * s for s in range(7)]).pvalue
    assert "Paired over seeds, within 2x (the reservoir's MSE against twice the trained one's): holds in 1, ties in " \
           "0, fails in 0; better: holds in 1, ties in 0, fails in 0. On every seed: within 2x in 1 cases, better " \
           "in 1." in text
    assert f"| t | QRNN | normal | ridge | 0.57 | {p:.2g}, 7 of 7 | {p:.2g}, 7 of 7 |" in text
    assert "cheaper: holds in 1, ties in 0, fails in 0; cheaper on every seed in 1 of 1 cases (p = 0.016 each)" in text
    epochs = compare({s: 3 if s < 4 else 6 for s in range(7)}, {s: 5 for s in range(7)}, lower_is_better=True)
    assert epochs["verdict"] == "ties" and epochs["wins"] == 4
    assert "on means, holds on 1 of 1 tasks; paired over seeds (each seed's mean over the quantum cells against its " \
           f"mean over the classical ones): holds in 0, ties in 1, fails in 0. Per task: t 4.3 vs 5.0 " \
           f"(p = {epochs['p_value']:.2g}, fewer on 4 of 7 seeds)." in text


def test_the_headline_claims_are_holm_adjusted_across_tasks():
    # the best quantum cell against the best classical one on 4 tasks of 10 seeds: better on every seed on c
    # (p = 0.002), worse on every seed on d, better on 8 of 10 on a and b (p = 0.037 each, "beats" alone);
    # Holm over the 4 keeps c and d (0.0078) and drops a and b (2 x 0.037 = 0.074)
    seeds = range(10)
    some = {s: -0.01 * (s + 1) if s < 8 else (0.015, 0.035)[s - 8] for s in seeds}
    gaps = {"a": some, "b": some, "c": {s: -0.1 for s in seeds}, "d": {s: 0.1 for s in seeds}}
    rows = []
    for task, gap in gaps.items():
        rows += _forecast(task, {("QRNN", "normal", "ridge"): lambda s, g=gap: 1.0 + 0.01 * s + g[s],
                                 ("GRU", "-", "ridge"): lambda s: 1.0 + 0.01 * s}, seeds=seeds)
    lines = reading(rows)
    c = compare({s: 1.0 + 0.01 * s + some[s] for s in seeds}, {s: 1.0 + 0.01 * s for s in seeds},
                lower_is_better=True)
    assert c["verdict"] == "beats" and c["p_value"] == pytest.approx(0.037109375)
    assert sum("QRNN normal [ridge] beats GRU [ridge] (p = 0.037" in line for line in lines) == 2
    adjusted = holm([0.001953125, 0.001953125, c["p_value"], c["p_value"]])
    assert adjusted == pytest.approx([4 * 0.001953125] * 2 + [2 * c["p_value"]] * 2)
    assert lines[-2] == ("Across the 4 tasks, the best quantum cell against the best classical one, Holm-adjusted for "
                         "4 tests at p < 0.05 (each task's best cells are picked by their test means):")
    assert lines[-1] == "  beats on c (p_holm = 0.0078); loses on d (p_holm = 0.0078); holds neither way on 2."
