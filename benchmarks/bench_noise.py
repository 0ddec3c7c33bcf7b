"""Shots and device noise: the torch engine against Qiskit Aer, same run (issue 19).

A QLSTM(1, 3) reservoir (4 qubits, 6 VQCs per step), B sequences of T steps,
transformed on each backend:

- exact, no noise: ``TorchBackend()`` against ``AerBackend()`` (EstimatorV2), the anchor of
  Aer's speed in this run against its earlier records;
- shots: ``TorchBackend(shots=N)`` against ``AerBackend(shots=N)`` (SamplerV2),
  noiseless, and both with the same depolarizing and readout noise;
- exact noise: ``TorchBackend(noise=...)`` against ``AerBackend(method="density_matrix",
  noise_model=...)`` (EstimatorV2 at precision 0), with agreement.

So that both place the channels alike, the reservoir's ansatz is the paper's
written out gate by gate (``Ansatz`` of the same gates, not ``Ansatz.paper``):
every RZ, RY and RZ then carries its own channel on both sides, as Aer's
``NoiseModel.add_all_qubit_quantum_error`` puts one after every gate.
Last, ``Noise.from_device("fake_manila")`` against the noisy rehearsal of the
same reservoirs (``IBMBackend("fake_manila")``, 200,000 shots): how much
closer its features come than the exact ones.

Each torch figure is the best of ``--repeats`` runs after one warm-up; Aer's is one run
after a warm-up on two sequences (one run takes seconds to minutes).

Run: ``python -m benchmarks.bench_noise [--batch 256] [--steps 4] [--shots 1000] [--out benchmarks/results/noise-cpu.json]``
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from qrnn import QLSTM
from qrnn.backends import AerBackend, Noise, TorchBackend
from qrnn.circuit import Ansatz, Weight

P1, P2, READOUT = 2e-3, 2e-2, 2e-2


def paper_gates(n: int, n_layers: int = 2) -> Ansatz:
    """The paper's ansatz written out as plain gates (its channels then follow every rotation)."""
    gates = []
    for layer in range(n_layers):
        for d in (1, 2):
            gates += [("CNOT", (i, (i + d) % n)) for i in range(n) if (i + d) % n != i]
        for k, name in enumerate(("RZ", "RY", "RZ")):
            gates += [(name, q, Weight(layer * n * 3 + 3 * q + k)) for q in range(n)]
    return Ansatz(n, gates)


def aer_noise_model(readout: bool):
    from qiskit_aer.noise import NoiseModel, ReadoutError, depolarizing_error

    nm = NoiseModel()
    nm.add_all_qubit_quantum_error(depolarizing_error(P1, 1), ["h", "rx", "ry", "rz"])
    nm.add_all_qubit_quantum_error(depolarizing_error(P2, 2), ["cx"])
    if readout:
        nm.add_all_qubit_readout_error(ReadoutError([[1 - READOUT, READOUT], [READOUT, 1 - READOUT]]))
    return nm


def best(fn, repeats: int, warm=None):
    """Best of ``repeats`` timed runs of ``fn`` (and its result) after a warm-up: ``warm()`` if given, else ``fn()``."""
    (warm or fn)()
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def calibration() -> list[dict]:
    """How close ``Noise.from_device`` comes to the noisy rehearsal of the same reservoirs on ``fake_manila``:
    mean |difference| of the features (3 windows of 3 steps, correlators on), exact and calibrated."""
    from qrnn import QGRU, QRNN
    from qrnn.backends import IBMBackend

    X = np.random.default_rng(19).uniform(-1, 1, size=(3, 3, 1))
    rows = []
    for cls in (QRNN, QLSTM, QGRU):
        for init in ("normal", "uniform"):
            cell = dict(input_size=1, hidden_size=3, seed=2, init=init, correlators=True)
            rehearsal = IBMBackend("fake_manila", shots=200_000, seed=1)
            layout = rehearsal.layout(cls(**cell).circuit(0))
            noise = Noise.from_device("fake_manila", qubits=layout)
            ref = cls(**cell, backend=rehearsal).transform(X)
            d_exact = float(np.abs(cls(**cell).transform(X) - ref).mean())
            d_cal = float(np.abs(cls(**cell, backend=TorchBackend(noise=noise)).transform(X) - ref).mean())
            rows.append({"cell": cls.__name__, "init": init, "layout": layout, "exact_vs_rehearsal": d_exact,
                         "calibrated_vs_rehearsal": d_cal, "ratio": d_cal / d_exact})
            print(f"{cls.__name__:5s} {init:7s} layout {layout}: mean |exact - rehearsal| {d_exact:.4f}, "
                  f"|calibrated - rehearsal| {d_cal:.4f} ({d_cal / d_exact:.2f}x)", flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--shots", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/noise-cpu.json")
    args = ap.parse_args(argv)
    X = np.random.default_rng(0).uniform(-1, 1, size=(args.batch, args.steps, 1))
    ansatz = paper_gates(4)
    noise = Noise(p1=P1, p2=P2, readout=READOUT)
    exact_noise = Noise(p1=P1, p2=P2)
    pairs = {
        # the anchor: Aer's exact figure here against its own record (RESULTS.md, QLSTM reservoir throughput)
        "exact, no noise (Aer: EstimatorV2)": (TorchBackend(), AerBackend()),
        f"shots={args.shots}, no noise": (TorchBackend(shots=args.shots, seed=1), AerBackend(shots=args.shots, seed=1)),
        f"shots={args.shots}, depolarizing + readout": (
            TorchBackend(shots=args.shots, seed=1, noise=noise),
            # the density-matrix method samples each circuit's noisy distribution once (trajectories, Aer's
            # default for noisy state vectors, draw one per shot and took over 17 minutes here)
            AerBackend(shots=args.shots, seed=1, method="density_matrix", noise_model=aer_noise_model(readout=True))),
        "exact, depolarizing (density matrix)": (
            TorchBackend(noise=exact_noise),
            AerBackend(method="density_matrix", noise_model=aer_noise_model(readout=False))),
    }
    rows = []
    sample_steps = args.batch * args.steps
    for name, (ours, aer) in pairs.items():
        t_ours, f_ours = best(lambda: QLSTM(1, 3, seed=0, ansatz=ansatz, backend=ours).transform(X), args.repeats)
        t_aer, f_aer = best(lambda: QLSTM(1, 3, seed=0, ansatz=ansatz, backend=aer).transform(X), 1,
                            warm=lambda: QLSTM(1, 3, seed=0, ansatz=ansatz, backend=aer).transform(X[:2]))
        diff = float(np.abs(f_ours - f_aer).max())
        row = {"case": name, "torch_s": t_ours, "aer_s": t_aer, "speedup": t_aer / t_ours,
               "torch_sample_steps_per_s": sample_steps / t_ours, "aer_sample_steps_per_s": sample_steps / t_aer,
               "max_abs_diff": diff, "mean_abs_diff": float(np.abs(f_ours - f_aer).mean())}
        rows.append(row)
        print(f"{name:42s} torch {t_ours * 1e3:9.1f} ms  aer {t_aer * 1e3:9.1f} ms  x{t_aer / t_ours:7.1f}  "
              f"max|diff| {diff:.2e}", flush=True)
    cal = calibration()
    result = {"command": "python -m benchmarks.bench_noise", "calibration_fake_manila": cal, "cpu": platform.processor() or platform.machine(),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "batch": args.batch,
              "steps": args.steps, "shots": args.shots, "p1": P1, "p2": P2, "readout": READOUT, "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
