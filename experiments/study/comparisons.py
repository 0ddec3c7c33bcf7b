"""Paired significance of the study's comparisons: a Wilcoxon signed-rank test over seeds.

Two models compared on a task are paired by seed (the same seed gives the
same data split and the same draw of everything else a cell draws), and the
test asks whether their per-seed difference is centred at zero (scipy's
``wilcoxon``, two-sided, exact for few seeds). A comparison is read as
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
    from scipy.stats import wilcoxon

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
        a_ahead = (np.median(diff) < 0) if lower_is_better else (np.median(diff) > 0)
        row["verdict"] = "beats" if a_ahead else "loses"
    elif smallest_p(nonzero) >= level:
        row["note"] = (f"{nonzero} differing seeds cannot reach p < {level:g} (the smallest two-sided p is "
                       f"{smallest_p(nonzero):.3g}); more seeds are needed to tell")
    return row


def verdict_phrase(row: dict, a: str, b: str) -> str:
    """``"A beats B (p = 0.016, 7 of 7 seeds)"``, or "ties with", for a reading."""
    verb = {"beats": "beats", "loses": "loses to", "ties": "ties with"}[row["verdict"]]
    p = "p n/a" if row["p_value"] is None else f"p = {row['p_value']:.2g}"
    return f"{a} {verb} {b} ({p}, better on {row['wins']} of {row['n_seeds']} seeds)"
