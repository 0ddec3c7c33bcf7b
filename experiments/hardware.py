"""A QLSTM reservoir on an IBM backend against the exact simulator: estimate, run, compare.

1. Estimate what the run costs (primitive calls, PUBs, circuits, shots, QPU
   seconds) and stop if it exceeds ``--max-qpu-seconds``.
2. Run the reservoir on the backend over the task's windows, every call
   written to the ledger under ``OUT/store`` before its result is awaited
   (run the same command again after a crash: finished calls are replayed,
   submitted ones are fetched by job id, nothing is paid twice).
3. Fit a ridge readout on the device's training features, and one on the
   exact engine's, and compare their test errors and the features' drift.

Writes ``OUT/hardware.json`` and ``OUT/hardware.md``. The default device is the
fake ``fake_manila`` (an offline rehearsal with its noise model); a real
device (``--device ibm_brisbane``) needs IBM Quantum credentials.

Run: ``python -m experiments.hardware [--device fake_manila] [--shots 1024] [--no-noise] [--windows 30]
[--max-qpu-seconds 300] [--out results/hardware] [--yes]``
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from qrnn import QLSTM, Ridge
from qrnn._validation import check_int
from qrnn.backends import IBMBackend
from qrnn.metrics import mse, nrmse
from qrnn.tasks import chronological_split, damped_shm, make_windows, minmax_scale


def data(n_windows: int):
    """The first ``n_windows`` windows of 4 steps of the damped-SHM task, split 67 / 33 in time order."""
    X, y = make_windows(minmax_scale(damped_shm()), window=4)
    return chronological_split(X[:n_windows], y[:n_windows], 0.67)


def run(device: str = "fake_manila", shots: int = 1024, noise: bool = True, n_windows: int = 30,
        seed: int = 0, max_qpu_seconds: float | None = 300.0, out="results/hardware", confirm=None) -> dict:
    """Estimate, run on ``device`` and on the exact engine, and compare; returns the report.

    ``confirm(cost) -> bool`` is asked after the estimate, before anything is
    submitted (the command line asks on a terminal unless ``--yes``).
    """
    # at least 4 training and 2 test windows; at most the task's 236
    n_windows = check_int(n_windows, "n_windows", minimum=6)
    available = len(make_windows(damped_shm(), window=4)[0])
    if n_windows > available:
        raise ValueError(f"n_windows must be <= {available} (the damped-SHM task's windows), got {n_windows}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    Xtr, Xte, ytr, yte = data(n_windows)
    X = np.concatenate([Xtr, Xte])
    ibm = IBMBackend(device, shots=shots, noise=noise, seed=seed, store=out / "store",
                     max_qpu_seconds=max_qpu_seconds)
    on_device = QLSTM(1, 3, seed=seed, backend=ibm)
    cost = ibm.check_budget(on_device, X)  # raises before anything is submitted
    if confirm is not None and not confirm(cost):
        return {"cost": cost, "ran": False}
    t0 = time.perf_counter()
    F_dev = on_device.transform(X)[:, -1]
    seconds = time.perf_counter() - t0
    F_exact = QLSTM(1, 3, seed=seed).transform(X)[:, -1]
    n = len(Xtr)
    rows = []
    for name, F in (("exact (torch engine)", F_exact), (f"{device} ({'noisy' if noise else 'ideal'}, "
                                                        f"{shots} shots)", F_dev)):
        ridge = Ridge(alpha="loo").fit(F[:n], ytr)
        rows.append({"features": name, "test_mse": mse(yte, ridge.predict(F[n:])),
                     "test_nrmse": nrmse(yte, ridge.predict(F[n:])),
                     "train_mse": mse(ytr, ridge.predict(F[:n]))})
    how = [c["how"] for c in ibm.calls]
    report = {
        "device": device, "shots": shots, "noise": noise, "seed": seed, "windows": n_windows,
        "cost": cost, "calls_made": len(ibm.calls),
        "calls_by_source": {h: how.count(h) for h in ("submitted", "resubmitted", "found", "fetched",
                                                       "recovered", "replayed")},
        "seconds": seconds, "feature_drift_mean": float(np.abs(F_dev - F_exact).mean()),
        "feature_drift_max": float(np.abs(F_dev - F_exact).max()), "rows": rows, "ran": True,
        "store": str(out / "store"),
    }
    (out / "hardware.json").write_text(json.dumps(report, indent=2))
    lines = [f"QLSTM(1, 3) reservoir, seed {seed}, {n_windows} damped-SHM windows ({n} train), "
             f"on {device}: {len(ibm.calls)} primitive calls (estimated {cost['calls']}), "
             f"{cost['circuits']} circuit executions, {cost['shots']} shots, "
             f"~{cost['qpu_seconds']:.0f} QPU s by the estimate's model.", "",
             "| features | test MSE | test NRMSE | train MSE |", "|---|---|---|---|"]
    lines += [f"| {r['features']} | {r['test_mse']:.3e} | {r['test_nrmse']:.3f} | {r['train_mse']:.3e} |"
              for r in rows]
    lines += ["", f"Feature drift from the exact values: mean {report['feature_drift_mean']:.3f}, "
                  f"max {report['feature_drift_max']:.3f}."]
    (out / "hardware.md").write_text("\n".join(lines) + "\n")
    report["table"] = "\n".join(lines)
    return report


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="fake_manila", help="an IBM device, or a fake one such as fake_manila")
    ap.add_argument("--shots", type=int, default=1024)
    ap.add_argument("--no-noise", action="store_true", help="fake devices: simulate without the noise model")
    ap.add_argument("--windows", type=int, default=30, help="windows of the damped-SHM task (67 %% train)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-qpu-seconds", type=float, default=300.0, help="refuse a run estimated above this")
    ap.add_argument("--out", default="results/hardware")
    ap.add_argument("--yes", action="store_true", help="do not ask before submitting to a real device")
    args = ap.parse_args(argv)

    def confirm(cost):
        print(f"estimate: {cost['calls']} calls, {cost['pubs']} PUBs, {cost['circuits']} circuits, "
              f"{cost['shots']} shots, ~{cost['qpu_seconds']:.0f} QPU seconds")
        if args.yes or args.device.startswith("fake_"):
            return True
        return input("submit? [y/N] ").strip().lower() == "y"

    try:
        report = run(args.device, args.shots, not args.no_noise, args.windows, args.seed, args.max_qpu_seconds,
                     args.out, confirm)
    except ValueError as exc:  # bad arguments or over budget: nothing was submitted
        raise SystemExit(f"error: {exc}") from None
    if report["ran"]:
        print(report["table"])
        print(f"ledger and results: {report['store']}; table: {Path(args.out) / 'hardware.md'}")
    return report


if __name__ == "__main__":
    main()
