"""The main job: quantum against classical reservoirs on the paper's small tasks.

Each reservoir turns windows of 4 consecutive values into features (its state
after the last step); a ridge readout (alpha by leave-one-out cross-validation
on the training windows) is fitted on the first 67 % of windows in time order
and scored on the rest, as in the paper. A linear model on the raw window is
the floor every reservoir should be judged against.

Run: ``python -m experiments.compare [--backend torch] [--seed 0] [--out results/compare.json]``
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


from qrnn.classical import ESN, GRU, LSTM, RNN
from qrnn import QGRU, QLSTM, QRNN, ReservoirRegressor, Ridge
from qrnn.metrics import mse
from qrnn.tasks import (bessel_j2, chronological_split, damped_shm, make_windows, minmax_scale, narma,
                        population_inversion, sine)

TASKS = {
    "sine": lambda: (sine(200, periods=4), None),
    "damped_shm": lambda: (minmax_scale(damped_shm()), None),
    "bessel_j2": lambda: (minmax_scale(bessel_j2()), None),
    "pop_inversion": lambda: (minmax_scale(population_inversion(300, 30.0)), None),
    "narma5": lambda: narma(300, order=5),
}


def target_windows(series, target, window: int = 4, horizon: int = 1):
    """Windows of ``series`` and what each predicts: the series' value ``horizon`` steps after the
    window, or, with a ``target`` (NARMA: windows of the input u ending at t), the target's y_{t+horizon}."""
    X, y = make_windows(series, window=window, horizon=horizon)
    return (X, y) if target is None else (X, target[window - 1 + horizon:window - 1 + horizon + len(X)])


def task_windows(name):
    return target_windows(*TASKS[name]())


def models(backend: str, hidden: int, seed: int):
    for cls in (QRNN, QLSTM, QGRU):
        for init in ("normal", "uniform"):
            yield cls.__name__, init, cls(1, hidden, init=init, seed=seed, backend=backend)
    for cls in (RNN, LSTM, GRU):
        yield cls.__name__, "torch default", cls(1, hidden, seed=seed)
    yield "ESN(100)", "sr 0.9", ESN(1, 100, seed=seed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden-size", type=int, default=3)
    ap.add_argument("--out", default="results/compare.json")
    args = ap.parse_args(argv)

    rows = []
    for task in TASKS:
        X, y = task_windows(task)
        Xtr, Xte, ytr, yte = chronological_split(X, y)
        lin = Ridge(alpha="loo").fit(Xtr[:, :, 0], ytr)
        rows.append({"task": task, "model": "linear (raw window)", "init": "-",
                     "test_mse": mse(yte, lin.predict(Xte[:, :, 0])), "seconds": 0.0})
        for name, init, res in models(args.backend, args.hidden_size, args.seed):
            t0 = time.perf_counter()
            est = ReservoirRegressor(res, alpha="loo").fit(Xtr, ytr)
            rows.append({"task": task, "model": name, "init": init,
                         "test_mse": mse(yte, est.predict(Xte)), "seconds": time.perf_counter() - t0})

    print(f"backend={args.backend} seed={args.seed} hidden_size={args.hidden_size}; test MSE")
    names = list(dict.fromkeys((r["model"], r["init"]) for r in rows))
    print("| model | init | " + " | ".join(TASKS) + " |")
    print("|---|---|" + "---|" * len(TASKS))
    for model, init in names:
        vals = [next(r["test_mse"] for r in rows if r["task"] == t and (r["model"], r["init"]) == (model, init))
                for t in TASKS]
        print(f"| {model} | {init} | " + " | ".join(f"{v:.1e}" for v in vals) + " |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
