"""Paired significance of the study's comparisons: a Wilcoxon signed-rank test over seeds.

Two models compared on a task are paired by seed index. Every seed of a
task sees the same data and split (the tasks are fixed); the seed draws a
model's own weights, initial readout and batch order, so the pairs share
the data, not their random draws. The test asks whether the seed-paired
differences are centred at zero (scipy's ``wilcoxon``, two-sided, exact for
few seeds; zero differences are dropped, as ``zero_method="wilcox"``
does, and the direction of a significant result is that of the signed
ranks of the others). A comparison is read as
"beats" only where the difference holds at the stated level; "ties"
otherwise, never "beats" from means alone. With few seeds the test cannot
reach a small p-value however large the difference (five seeds: at best
p = 2 / 2^5 = 0.0625 two-sided), and the row says so.

Examples
--------
>>> a = {0: 1.0, 1: 1.1, 2: 0.9, 3: 1.2, 4: 1.0, 5: 0.95, 6: 1.05}
>>> b = {s: v + 0.5 for s, v in a.items()}
>>> row = compare(a, b, lower_is_better=True)
>>> row["verdict"], row["wins"], row["n_seeds"], round(row["p_value"], 4)
('beats', 7, 7, 0.0156)
"""
from __future__ import annotations

import math

import numpy as np

LEVEL = 0.05


def smallest_p(n: int) -> float:
    """The smallest two-sided p-value an exact Wilcoxon signed-rank test of ``n`` nonzero pairs can give."""
    return min(1.0, 2.0 / 2**n) if n > 0 else 1.0


def compare(a: dict, b: dict, *, lower_is_better: bool, level: float = LEVEL) -> dict:
    """``a`` against ``b``, each ``{seed: metric}``, over the seeds both have.

    Returns a row: ``n_seeds``, ``mean_a``, ``mean_b``, ``wins`` (seeds where
    ``a`` is better), ``p_value`` (None with fewer than 2 paired seeds or no
    difference at all), ``verdict`` ("beats", "loses" or "ties" at
    ``level``) and ``note`` (why a tie may be the seeds' count).
    """
    from scipy.stats import rankdata, wilcoxon

    seeds = sorted(set(a) & set(b))
    x = np.array([a[s] for s in seeds], dtype=float)
    y = np.array([b[s] for s in seeds], dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = len(x)
    diff = x - y
    better = diff < 0 if lower_is_better else diff > 0
    row = {"n_seeds": n, "mean_a": float(x.mean()) if n else math.nan, "mean_b": float(y.mean()) if n else math.nan,
           "wins": int(better.sum()), "p_value": None, "verdict": "ties", "note": ""}
    nonzero = int((diff != 0).sum())
    if n < 2 or nonzero == 0:
        row["note"] = "fewer than 2 paired seeds" if n < 2 else "identical on every seed"
        return row
    p = float(wilcoxon(x, y, zero_method="wilcox", alternative="two-sided", method="auto").pvalue)
    row["p_value"] = p
    if p < level:
        # the direction the test found: the signed ranks of the nonzero differences (the ties it drops)
        d = diff[diff != 0]
        ranks = rankdata(np.abs(d))  # average ranks for ties in |d|, as the test's statistic
        a_better = d < 0 if lower_is_better else d > 0
        row["verdict"] = "beats" if ranks[a_better].sum() > ranks[~a_better].sum() else "loses"
    elif smallest_p(nonzero) >= level:
        row["note"] = (f"{nonzero} differing seeds cannot reach p < {level:g} (the smallest two-sided p is "
                       f"{smallest_p(nonzero):.3g}); more seeds are needed to tell")
    return row


def holm(p_values) -> list:
    """Holm's step-down adjustment of a family of p-values. A comparison the test could not give a p-value
    (None: identical on every seed, or fewer than 2 paired seeds) stays None, but counts in the family as
    p = 1, so that the family's size is every comparison made. Sorted ascending, p_(1) <= ... <= p_(m), the
    adjusted p of p_(i) is the running maximum of ``(m - i + 1) * p_(i)``, capped at 1. A claim holds for
    the family at level alpha where its adjusted p < alpha.

    >>> holm([0.01, 0.04, None, 0.03])
    [0.04, 0.09, None, 0.09]
    """
    m = len(p_values)
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    out, running = [None] * m, 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def verdict_phrase(row: dict, a: str, b: str) -> str:
    """``"A beats B (p = 0.016, 7 of 7 seeds)"``, or "ties with", for a reading."""
    verb = {"beats": "beats", "loses": "loses to", "ties": "ties with"}[row["verdict"]]
    p = "p n/a" if row["p_value"] is None else f"p = {row['p_value']:.2g}"
    return f"{a} {verb} {b} ({p}, better on {row['wins']} of {row['n_seeds']} seeds)"


#: Per task kind: the test metric it is judged by, whether higher is better, its name and how a value is written.
JUDGED_BY = {"forecast": ("test_mse", False, "test MSE", "{:.2e}"),
             "classification": ("test_accuracy", True, "test accuracy", "{:.3f}"),
             "generation": ("valid_time", True, "valid time", "{:.1f}")}

#: The columns of ``comparisons.csv``, in order.
COLUMNS = ("task", "kind", "metric", "comparison", "a", "b", "n_seeds", "mean_a", "mean_b", "wins", "p_value",
           "p_holm", "verdict", "note")


def _label(r) -> str:
    init = r.get("init", "-")
    return f"{r['model']} {init} [{r['mode']}]" if init not in ("-", "", None) else f"{r['model']} [{r['mode']}]"


def study_comparisons(rows, quantum, classical, level: float = LEVEL) -> list[dict]:
    """Every comparison a study's reading states, each a paired Wilcoxon test over seeds.

    ``rows`` are the results rows (dicts, of one condition); ``quantum`` and
    ``classical`` the model names of each family. Per task, on its kind's
    metric (:data:`JUDGED_BY`):

    - ``baseline``: every model (each init and mode) against every baseline;
      a baseline does not depend on the seed, so its one value pairs with
      every seed of the model (a signed-rank test of the model's seeds
      against it);
    - ``reservoir vs trained``: each model's reservoir modes (``ridge``,
      ``epochs``) against its ``trained`` mode, same init;
    - ``quantum vs classical``: each quantum model against each classical
      model (the ESNs included) in the same mode.

    Each row's ``verdict`` is its own test's, at ``level``; ``p_holm`` is its p-value
    Holm-adjusted (:func:`holm`) within its family, the rows of its task and comparison.

    Rows missing their metric (NaN, empty) are left out of their pairs.
    """
    def value(r, key):
        v = r.get(key)
        try:
            return float(v)
        except (TypeError, ValueError):
            return math.nan

    by_task: dict = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r)
    out = []
    for task, task_rows in by_task.items():
        kind = task_rows[0].get("kind") or "forecast"
        metric, higher = JUDGED_BY.get(kind, JUDGED_BY["forecast"])[:2]
        lower = not higher
        groups: dict = {}
        for r in task_rows:
            groups.setdefault((r["model"], r.get("init", "-"), r["mode"]), {})[int(r["seed"])] = value(r, metric)
        base = {k: next(iter(v.values())) for k, v in groups.items() if k[2] == "baseline"}
        models = {k: v for k, v in groups.items() if k[2] != "baseline"}

        def add(kind_of, ka, a, kb, b):
            row = compare(a, b, lower_is_better=lower, level=level)
            out.append({"task": task, "kind": kind, "metric": metric, "comparison": kind_of,
                        "a": _label(dict(zip(("model", "init", "mode"), ka))),
                        "b": _label(dict(zip(("model", "init", "mode"), kb))), **row})

        for ka, a in models.items():
            for kb, v in base.items():
                add("baseline", ka, a, kb, {s: v for s in a})
        for (model, init, mode), a in models.items():
            trained = models.get((model, init, "trained"))
            if mode in ("ridge", "epochs") and trained is not None:
                add("reservoir vs trained", (model, init, mode), a, (model, init, "trained"), trained)
        for (model, init, mode), a in models.items():
            if model not in quantum:
                continue
            for (other, oinit, omode), b in models.items():
                if other in classical and omode == mode:
                    add("quantum vs classical", (model, init, mode), a, (other, oinit, omode), b)
    # each (task, comparison) is a family: p_holm says what holds once all its pairs are counted
    families: dict = {}
    for r in out:
        families.setdefault((r["task"], r["comparison"]), []).append(r)
    for family in families.values():
        for r, p in zip(family, holm([r["p_value"] for r in family])):
            r["p_holm"] = p
    return out
