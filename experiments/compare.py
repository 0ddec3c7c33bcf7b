"""The main job: a small comparison of the quantum reservoirs on the default simulator.

Each reservoir (QRNN, QLSTM, QGRU; both weight inits) turns windows of 4
consecutive values into features; a ridge readout is fitted on the first 67 %
of windows (in time order) and scored on the rest, as in the paper. A linear
model on the raw window is the floor every reservoir should be judged against.

Run: ``python -m experiments.compare [--backend torch] [--seed 0] [--out results/compare.json]``
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import Ridge

from qrnn import QGRU, QLSTM, QRNN
from qrnn.tasks import chronological_split, damped_shm, make_windows, minmax_scale, sine

TASKS = {
    "sine": lambda: sine(200, periods=4),
    "damped_shm": lambda: minmax_scale(damped_shm()),
}


def evaluate(features_train, features_test, y_train, y_test, alpha=1e-6):
    model = Ridge(alpha=alpha).fit(features_train, y_train)
    pred = model.predict(features_test)
    assert pred.shape == y_test.shape, (pred.shape, y_test.shape)
    return float(np.mean((pred - y_test) ** 2))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden-size", type=int, default=3)
    ap.add_argument("--out", default="results/compare.json")
    args = ap.parse_args(argv)

    rows = []
    for task, make in TASKS.items():
        X, y = make_windows(make(), window=4)
        Xtr, Xte, ytr, yte = chronological_split(X, y)
        rows.append({"task": task, "model": "linear (raw window)", "init": "-",
                     "test_mse": evaluate(Xtr[:, :, 0], Xte[:, :, 0], ytr, yte), "seconds": 0.0})
        for cls in (QRNN, QLSTM, QGRU):
            for init in ("normal", "uniform"):
                res = cls(1, args.hidden_size, init=init, seed=args.seed, backend=args.backend)
                t0 = time.perf_counter()
                Ftr = res.transform(Xtr)[:, -1]
                Fte = res.transform(Xte)[:, -1]
                rows.append({"task": task, "model": cls.__name__, "init": init,
                             "test_mse": evaluate(Ftr, Fte, ytr, yte),
                             "seconds": time.perf_counter() - t0})

    print(f"backend={args.backend} seed={args.seed} hidden_size={args.hidden_size}")
    print(f"{'task':<11} {'model':<20} {'init':<8} {'test MSE':>10} {'seconds':>8}")
    for r in rows:
        print(f"{r['task']:<11} {r['model']:<20} {r['init']:<8} {r['test_mse']:>10.3e} {r['seconds']:>8.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
