"""Offline rehearsal of IBM runs on fake devices: wall time, feature drift, effect on a readout.

Part 1 (issue 9's figure): a QLSTM reservoir (``QLSTM(1, 3)``, 4 qubits),
B = 16 sequences of T = 4 steps, rehearsed on a 27-qubit (``fake_kolkata``) and
the 127-qubit (``fake_sherbrooke``) fake device, device noise model on and off,
at 4096 shots (the service's default precision, 1/64). Each configuration runs in a
fresh backend (``--repeats`` times, median): the first transform pays for the
device, the transpilation and (noise on) the device noise model; a second
transform on the same backend shows the steady per-run cost.

Part 2: what the device noise does to a readout. Windows of 4 steps of a
damped oscillation (``qrnn.tasks.damped_shm``), last-step QLSTM features, a
ridge readout trained on the first 67 % and tested on the rest, with features
from the exact engine, an ideal shot rehearsal and a noisy one on ``fake_manila``.

Run: ``python -m benchmarks.bench_ibm_rehearsal [--repeats 3] [--out benchmarks/results/ibm-rehearsal-cpu.json]``
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from qrnn import QLSTM
from qrnn.backends import IBMBackend
from qrnn.metrics import mse
from qrnn.readout import Ridge
from qrnn.tasks import chronological_split, damped_shm, make_windows, minmax_scale

DEVICES = ("fake_kolkata", "fake_sherbrooke")


def rehearse(device: str, noise: bool, X: np.ndarray, exact: np.ndarray, seed: int) -> dict:
    t0 = time.perf_counter()
    ibm = IBMBackend(device, noise=noise, shots=4096, seed=seed)
    res = QLSTM(1, 3, seed=0, backend=ibm)
    first = res.transform(X)
    t1 = time.perf_counter()
    res.transform(X)
    t2 = time.perf_counter()
    runner = ibm._runner
    active = sorted({r[3] for r in runner._restricted.values()})
    return {"first_transform_s": t1 - t0, "second_transform_s": t2 - t1, "calls_per_transform": len(ibm.calls) // 2,
            "device_qubits": ibm.device_backend().num_qubits, "active_qubits": [list(a) for a in active],
            "shots": ibm.shots_per_circuit(),
            "mean_abs_drift": float(np.abs(first - exact).mean()),
            "max_abs_drift": float(np.abs(first - exact).max())}


def readout_effect(seed: int) -> dict:
    series = minmax_scale(damped_shm())
    X, y = make_windows(series, window=4)
    Xtr, Xte, ytr, yte = chronological_split(X, y)
    out = {"task": "damped_shm, window 4, horizon 1", "n_train": len(Xtr), "n_test": len(Xte)}
    backends = {"exact (torch)": "torch",
                "fake_manila ideal, 4096 shots": IBMBackend("fake_manila", noise=False, shots=4096, seed=seed),
                "fake_manila noisy, 4096 shots": IBMBackend("fake_manila", noise=True, shots=4096, seed=seed)}
    exact_feats = None
    for name, backend in backends.items():
        t = time.perf_counter()
        res = QLSTM(1, 3, seed=0, backend=backend)
        ftr, fte = res.transform(Xtr)[:, -1], res.transform(Xte)[:, -1]
        wall = time.perf_counter() - t
        readout = Ridge(alpha="loo").fit(ftr, ytr)
        row = {"test_mse": mse(yte, np.ravel(readout.predict(fte))), "wall_s": wall}
        if exact_feats is None:
            exact_feats = np.concatenate([ftr, fte])
        else:
            row["mean_abs_feature_drift"] = float(np.abs(np.concatenate([ftr, fte]) - exact_feats).mean())
        out[name] = row
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="benchmarks/results/ibm-rehearsal-cpu.json")
    args = parser.parse_args(argv)
    X = np.random.default_rng(args.seed).normal(size=(16, 4, 1)) * 2.0
    exact = QLSTM(1, 3, seed=0).transform(X)
    runs = {}
    for device in DEVICES:
        for noise in (False, True):
            reps = [rehearse(device, noise, X, exact, args.seed + r) for r in range(args.repeats)]
            row = dict(reps[0])
            for k in ("first_transform_s", "second_transform_s", "mean_abs_drift", "max_abs_drift"):
                row[k] = statistics.median(r[k] for r in reps)
                row[k + "_all"] = [r[k] for r in reps]
            runs[f"{device} noise={'on' if noise else 'off'}"] = row
            print(f"{device:16s} noise={'on ' if noise else 'off'}  first {row['first_transform_s']:6.2f} s  "
                  f"second {row['second_transform_s']:6.2f} s  {row['calls_per_transform']} calls  "
                  f"mean |drift| {row['mean_abs_drift']:.4f}")
    effect = readout_effect(args.seed)
    for name, row in effect.items():
        if isinstance(row, dict):
            print(f"{name:32s} test MSE {row['test_mse']:.5f}  ({row['wall_s']:.1f} s)")
    result = {"python": platform.python_version(), "machine": platform.machine(), "repeats": args.repeats,
              "reservoir": "QLSTM(1, 3), 4 qubits, B = 16, T = 4", "rehearsal": runs, "readout": effect}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
