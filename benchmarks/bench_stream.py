"""One long stream (B = 1) and small batches: the compiled recurrence kernels against the torch path.

Part 1: steps per second over one stream of ``--steps`` steps (u ~ U(0, 0.5),
the streaming NARMA-10 input) for QRNN(1, 3), QLSTM(1, 3), QGRU(1, 3) (4
qubits) through the compiled kernels (the default), through the batched
torch path step by step (``TorchBackend(stream_max_batch=0)``), and
with ``use_torch_compile=True``; beside them qrnn's classical reservoirs
(ESN with 100 units, RNN/LSTM/GRU with 3) in the same run.

Part 2: the crossover behind ``TorchBackend(stream_max_batch=None)``:
sample-steps per second of a QLSTM(1, 3) reservoir at batch sizes 1 to 4096,
T = 4 and T = 100, kernel (parallel over sequences) against the torch path.

Each figure is the best of ``--repeats`` runs after one warm-up (numba's
compilation and torch.compile's are not timed).

Run: ``python -m benchmarks.bench_stream [--steps 20000] [--repeats 3] [--out benchmarks/results/stream-cpu.json]``
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from qrnn import QGRU, QLSTM, QRNN
from qrnn.backends import TorchBackend
from qrnn.classical import ESN, GRU, LSTM, RNN


def best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: compilation, caches
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def single_stream(steps: int, repeats: int) -> dict:
    u = np.random.default_rng(0).uniform(0.0, 0.5, size=(1, steps, 1))
    stepwise = TorchBackend(stream_max_batch=0)
    models = {}
    for cls in (QRNN, QLSTM, QGRU):
        name = cls.__name__
        models[f"{name} (kernel, default)"] = cls(1, 3, seed=0)
        models[f"{name} (torch, step by step)"] = cls(1, 3, seed=0, backend=stepwise)
        models[f"{name} (torch.compile)"] = cls(1, 3, seed=0, backend=stepwise, use_torch_compile=True)
    models["ESN(1, 100)"] = ESN(1, 100, seed=0)
    for cls in (RNN, LSTM, GRU):
        models[f"{cls.__name__}(1, 3)"] = cls(1, 3, seed=0)
    out = {}
    for name, res in models.items():
        seconds = best_seconds(lambda: res.transform(u), repeats)
        out[name] = {"seconds": seconds, "steps_per_s": steps / seconds}
        print(f"{name:32s} {steps / seconds:12,.0f} steps/s")
    return out


def crossover(repeats: int) -> dict:
    stepwise = TorchBackend(stream_max_batch=0)
    out = {}
    for T in (4, 100):
        for B in (1, 16, 64, 256, 1024, 4096):
            X = np.random.default_rng(1).uniform(-1, 1, size=(B, T, 1))
            row = {}
            for label, backend in (("kernel", TorchBackend()), ("torch", stepwise)):
                res = QLSTM(1, 3, seed=0, backend=backend)
                row[label] = B * T / best_seconds(lambda: res.transform(X), repeats)
            row["kernel_over_torch"] = row["kernel"] / row["torch"]
            out[f"T={T}, B={B}"] = row
            print(f"T = {T:3d}, B = {B:4d}: kernel {row['kernel']:12,.0f}  torch {row['torch']:12,.0f} "
                  f"sample-steps/s  ratio {row['kernel_over_torch']:.2f}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results/stream-cpu.json")
    args = ap.parse_args(argv)
    result = {
        "python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.machine(), "processor": platform.processor(), "steps": args.steps,
        "repeats": args.repeats, "single_stream": single_stream(args.steps, args.repeats),
        "numba_threads": __import__("numba").get_num_threads(),
        "crossover_qlstm": crossover(args.repeats),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
