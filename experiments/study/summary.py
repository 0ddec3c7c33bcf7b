"""A few plain sentences on a study's table, printed after a run: each task kind by its own metric."""
from __future__ import annotations

import numpy as np

# per kind: the metric a sentence ranks by, whether higher is better, and how it is written
_METRIC = {"forecast": ("test_mse", False, "test MSE {:.2e}"),
           "classification": ("test_accuracy", True, "test accuracy {:.3f}")}


def _generation_key(valid_time: float, nrmse: float) -> tuple:
    """A generation ranks by valid time, then by the NRMSE over the horizon (many reach the whole horizon)."""
    return (-valid_time, nrmse)


def reading(rows) -> list[str]:
    """A few plain sentences on the table: baselines beaten, reservoir against trained."""
    lines = []
    for task in dict.fromkeys(r["task"] for r in rows):
        here = [r for r in rows if r["task"] == task]
        kind = here[0].get("kind") or "forecast"
        if kind == "generation":
            lines += _generation(task, here)
            continue
        key, higher, fmt = _METRIC[kind]
        sign = -1.0 if higher else 1.0
        base = {r["model"]: r[key] for r in here if r["mode"] == "baseline"}
        best_base = min(base, key=lambda m: sign * base[m])
        mean = {}
        for r in here:
            if r["mode"] != "baseline":
                mean.setdefault((r["model"], r["mode"]), []).append(r[key])
        mean = {k: float(np.mean(v)) for k, v in mean.items()}
        beat = sorted(f"{m} [{mode}]" for (m, mode), v in mean.items() if sign * v < sign * base[best_base])
        lines.append(f"{task}: the best baseline is {best_base} ({fmt.format(base[best_base])}); "
                     + (f"beaten by {', '.join(beat)}." if beat else "no model beats it."))
        for m in dict.fromkeys(k[0] for k in mean):
            if (m, "ridge") in mean and (m, "trained") in mean:
                r_, t_ = mean[(m, "ridge")], mean[(m, "trained")]
                if kind == "forecast":
                    lines.append(f"  {m}: reservoir + ridge {r_:.2e} vs fully trained {t_:.2e}: "
                                 f"{'reservoir + ridge' if r_ < t_ else 'fully trained'} is better.")
                else:
                    verdict = ("reservoir + ridge is better" if r_ > t_ else "fully trained is better" if t_ > r_
                               else "the same")
                    lines.append(f"  {m}: test accuracy, reservoir + ridge {r_:.3f} vs fully trained {t_:.3f}: "
                                 f"{verdict}.")
    return lines


def _generation(task: str, here) -> list[str]:
    def score(rs):
        return float(np.mean([r["valid_time"] for r in rs])), float(np.mean([r["horizon_nrmse"] for r in rs]))

    base = {r["model"]: score([r]) for r in here if r["mode"] == "baseline"}
    best_base = min(base, key=lambda m: _generation_key(*base[m]))
    groups = {}
    for r in here:
        if r["mode"] != "baseline":
            groups.setdefault((r["model"], r["mode"]), []).append(r)
    mean = {k: score(v) for k, v in groups.items()}
    beat = sorted(f"{m} [{mode}]" for (m, mode), v in mean.items()
                  if _generation_key(*v) < _generation_key(*base[best_base]))
    vt, nr = base[best_base]
    lines = [f"{task}: the best baseline is {best_base} (valid time {vt:.0f} steps, NRMSE {nr:.2e} over the "
             "horizon); " + (f"beaten by {', '.join(beat)}." if beat else "no model beats it.")]
    if mean:
        (m, mode), (vt, nr) = min(mean.items(), key=lambda kv: _generation_key(*kv[1]))
        lines.append(f"  the longest valid generation: {m} [{mode}], {vt:.1f} steps (mean over seeds), NRMSE {nr:.2e}.")
    return lines
