"""A shot-aware readout against plain ridge at low shot counts (issue 19, a research option).

The recommended reservoir (QLSTM ensemble, ``recommended_reservoir("QLSTM", 1)``)
and the paper's single QLSTM, on ``TorchBackend(shots=N)``, fitted by
``ReservoirRegressor(alpha="loo")`` and by the same with ``shot_penalty=True``
(feature ``j`` penalised by ``alpha`` plus its shot variance summed over the
training windows, the variance estimated from a second, independent draw).
Test MSE on the study's tasks (its windows and split), per seed; the ratio is
shot-aware / plain (below 1: the shot-aware readout is better).

Run: ``python -m benchmarks.bench_shot_readout [--seeds 5] [--out benchmarks/results/shot-readout-cpu.json]``
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from qrnn import QLSTM, ReservoirRegressor, recommended_reservoir
from qrnn.backends import TorchBackend
from qrnn.metrics import mse

TASKS = ("damped_shm", "narma5", "narma10")
SHOTS = (100, 1000, 10000)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/shot-readout-cpu.json")
    args = ap.parse_args(argv)
    from experiments.study.tasks import _data

    configs = {"recommended (QLSTM x5)": lambda s, be: recommended_reservoir("QLSTM", 1, seed=s, backend=be),
               "paper (QLSTM)": lambda s, be: QLSTM(1, 3, seed=s, backend=be)}
    rows = []
    for task in TASKS:
        Xtr, Xte, ytr, yte = _data(task, 0.67)
        for name, make in configs.items():
            for shots in SHOTS:
                plain, aware = [], []
                for seed in range(args.seeds):
                    be = TorchBackend(shots=shots, seed=seed)
                    for est, out in ((ReservoirRegressor(make(seed, be), alpha="loo"), plain),
                                     (ReservoirRegressor(make(seed, be), alpha="loo", shot_penalty=True), aware)):
                        out.append(mse(yte, est.fit(Xtr, ytr).predict(Xte)))
                ratio = np.array(aware) / np.array(plain)
                row = {"task": task, "reservoir": name, "shots": shots, "plain_mse": float(np.mean(plain)),
                       "shot_aware_mse": float(np.mean(aware)), "median_ratio": float(np.median(ratio)),
                       "seeds_better": int((ratio < 1).sum()), "seeds": args.seeds}
                rows.append(row)
                print(f"{task:10s} {name:24s} shots={shots:6d}  plain {row['plain_mse']:.3e}  shot-aware "
                      f"{row['shot_aware_mse']:.3e}  median ratio {row['median_ratio']:.3f}  better on "
                      f"{row['seeds_better']}/{args.seeds} seeds", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": "python -m benchmarks.bench_shot_readout", "rows": rows},
                                         indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
