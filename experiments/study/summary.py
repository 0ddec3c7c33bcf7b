"""A few plain sentences on a study's table, printed after a run."""
from __future__ import annotations

import numpy as np


def reading(rows) -> list[str]:
    """A few plain sentences on the table: baselines beaten, reservoir against trained."""
    lines = []
    for task in dict.fromkeys(r["task"] for r in rows):
        here = [r for r in rows if r["task"] == task]
        base = {r["model"]: r["test_mse"] for r in here if r["mode"] == "baseline"}
        best_base = min(base, key=base.get)
        models = [r for r in here if r["mode"] != "baseline"]
        mean = {}
        for r in models:
            mean.setdefault((r["model"], r["mode"]), []).append(r["test_mse"])
        mean = {k: float(np.mean(v)) for k, v in mean.items()}
        beat = sorted(f"{m} [{mode}]" for (m, mode), v in mean.items() if v < base[best_base])
        lines.append(f"{task}: the best baseline is {best_base} (test MSE {base[best_base]:.2e}); "
                     + (f"beaten by {', '.join(beat)}." if beat else "no model beats it."))
        for m in dict.fromkeys(k[0] for k in mean):
            if (m, "ridge") in mean and (m, "trained") in mean:
                r_, t_ = mean[(m, "ridge")], mean[(m, "trained")]
                verdict = "reservoir + ridge is better" if r_ < t_ else "fully trained is better"
                lines.append(f"  {m}: reservoir + ridge {r_:.2e} vs fully trained {t_:.2e}: {verdict}.")
    return lines
