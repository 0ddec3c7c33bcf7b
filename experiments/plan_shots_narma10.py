"""How many shots the recommended reservoir needs on NARMA-10: ``plan_shots`` with fake_manila's noise and costs.

The recommended QRNN ensemble (``recommended_reservoir("QRNN", 1, seed=0)``),
reservoir + ridge (alpha by LOO), the study's NARMA-10 windows and split,
1000 to 10^7 shots, 2 repeats each, noiseless and under fake_manila's noise
(``Noise.from_device`` for the transpiler's layout), QPU seconds from
``IBMBackend("fake_manila").estimate``.

Run: ``python -m experiments.plan_shots_narma10`` → ``experiments/results/plan-shots/narma10.json``,
``narma10.png`` and ``narma10.txt`` (the summary).
"""
from __future__ import annotations

import json
from pathlib import Path

from qrnn import ReservoirRegressor, plan_shots, recommended_reservoir

from .study.tasks import _data


def main(out="experiments/results/plan-shots") -> None:
    import matplotlib

    matplotlib.use("Agg")
    Xtr, Xte, ytr, yte = _data("narma10", 0.67)
    est = ReservoirRegressor(recommended_reservoir("QRNN", 1, seed=0), alpha="loo")
    plan = plan_shots(est, Xtr, ytr, X_test=Xte, y_test=yte, shots=(1000, 10_000, 100_000, 1_000_000, 10_000_000),
                      device="fake_manila", repeats=2)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"command": "python -m experiments.plan_shots_narma10", "shots": list(plan.shots),
              "mse": plan.mse.tolist(), "mse_std": plan.mse_std.tolist(), "exact_mse": plan.exact_mse,
              "noisy_mse": plan.noisy_mse.tolist(), "noisy_mse_std": plan.noisy_mse_std.tolist(),
              "exact_noisy_mse": plan.exact_noisy_mse, "needed_shots": plan.needed_shots,
              "needed_shots_noisy": plan.needed_shots_noisy, "qpu_seconds": plan.qpu_seconds.tolist(),
              "layout": plan.layout, "windows": len(Xtr) + len(Xte)}
    (out / "narma10.json").write_text(json.dumps(record, indent=1) + "\n")
    (out / "narma10.txt").write_text(plan.summary() + "\n")
    plan.plot().figure.savefig(out / "narma10.png", dpi=110)
    print(plan.summary())


if __name__ == "__main__":
    main()
