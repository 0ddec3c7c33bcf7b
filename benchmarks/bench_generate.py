"""Closed-loop generation: one reservoir step per generated value (``generate``) against rerunning the
whole history at every step (QuantumReservoirPy's way for a quantum reservoir, quadratic in the horizon).

Both run on qrnn's engine, from the same fitted model (Mackey-Glass, tau 17, fitted one step ahead on
1000 steps), so the ratio is the algorithm's, not an implementation's; both give the same values (the
largest difference is printed). Seconds per generated step at each horizon: ``generate``'s stays flat.

Run: ``python -m benchmarks.bench_generate [--out benchmarks/results/generate-cpu.json]``
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from qrnn import QLSTM, QRNN, ReservoirRegressor
from qrnn.classical import ESN
from qrnn.tasks import mackey_glass

HORIZONS = (25, 50, 100, 200)
WARMUP = 200


def _rerun(est, warmup, n_steps):
    history = list(warmup)
    for _ in range(n_steps):
        history.append(float(est.predict(np.array(history)[None, :, None])[0, -1]))
    return np.array(history[len(warmup):])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/results/generate-cpu.json")
    args = ap.parse_args(argv)
    x = np.tanh(mackey_glass(1400, tau=17.0) - 1.0)
    models = {"QRNN(1, 3)": lambda: QRNN(1, 3, seed=0), "QLSTM(1, 3)": lambda: QLSTM(1, 3, seed=0),
              "ESN(1, 300)": lambda: ESN(1, 300, seed=0)}
    rows = []
    for name, make in models.items():
        est = ReservoirRegressor(make(), readout="all", washout=100, alpha=1e-8)
        est.fit(x[None, :999, None], x[None, 1:1000])
        warm = x[1000 - WARMUP:1000]
        est.generate(warm, 5)  # compile and warm up outside the timings
        for n in HORIZONS:
            t0 = time.perf_counter()
            fast = est.generate(warm, n)
            t1 = time.perf_counter()
            slow = _rerun(est, warm, n)
            t2 = time.perf_counter()
            row = {"model": name, "horizon": n, "generate_s_per_step": (t1 - t0) / n,
                   "rerun_s_per_step": (t2 - t1) / n, "ratio": (t2 - t1) / (t1 - t0),
                   "max_abs_difference": float(np.abs(fast - slow).max())}
            rows.append(row)
            print(f"{name:12s} horizon {n:4d}  generate {row['generate_s_per_step'] * 1e3:7.3f} ms/step  rerun "
                  f"{row['rerun_s_per_step'] * 1e3:8.3f} ms/step  ratio {row['ratio']:6.1f}x  "
                  f"max |diff| {row['max_abs_difference']:.1e}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": "python -m benchmarks.bench_generate", "warmup": WARMUP,
                                          "rows": rows}, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
