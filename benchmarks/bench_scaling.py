"""One VQC from 4 to 24 qubits: the torch engine against PennyLane's lightning.qubit, in the same run.

The circuit is qrnn's VQC (encoding H, RY(arctan x), RZ(arctan x^2) per
wire, 2 layers of CNOT rings and Rot gates, Z on every wire), one circuit,
float64 / complex128, evaluated for a batch of B random inputs: B = 16 at
every size, and B = 256 up to ``--max-qubits-256``. qrnn runs
``TorchBackend("auto")`` (the method it picks by size) under its default
memory budget; lightning.qubit runs the same circuit description through
qrnn's PennyLane backend (broadcast tapes, no gradients). The outputs of
both are compared at every size (max |difference| recorded).

Figures: milliseconds per call and per sample-circuit (call / B), best of
``--repeats`` after a warm-up call (a single call, no warm-up, from 20
qubits, where one call takes seconds). A PNG plots time against qubits.

Run: ``python -m benchmarks.bench_scaling [--max-qubits 24] [--max-qubits-256 20] [--repeats 2]
[--out benchmarks/results/scaling-cpu.json]``
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from qrnn.backends import PennyLaneBackend, TorchBackend, free_memory
from qrnn.circuit import VQC, init_weights


def _time(fn, repeats: int, warm: bool) -> tuple[float, object]:
    out = fn() if warm else None
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def measure(n: int, B: int, repeats: int) -> dict:
    vqc = VQC(n, 2)
    w = torch.as_tensor(init_weights(1, vqc, "uniform", seed=n))
    x = torch.as_tensor(np.random.default_rng(n).normal(size=(B, n)))
    heavy = n >= 20
    reps = 1 if heavy else repeats
    engine = TorchBackend()
    group = engine.compile(vqc, w)
    with torch.no_grad():
        t_qrnn, out_q = _time(lambda: group(x), reps, warm=not heavy)
    lightning = PennyLaneBackend("lightning.qubit").compile(vqc, w)
    t_light, out_l = _time(lambda: lightning(x), reps, warm=not heavy)
    diff = float((torch.as_tensor(np.asarray(out_l)) - out_q).abs().max())
    row = {"n_qubits": n, "B": B, "method": engine.resolve_method(n), "qrnn_ms": 1e3 * t_qrnn,
           "lightning_ms": 1e3 * t_light, "qrnn_ms_per_sample": 1e3 * t_qrnn / B,
           "lightning_ms_per_sample": 1e3 * t_light / B, "qrnn_over_lightning_speed": t_light / t_qrnn,
           "max_abs_difference": diff, "budget_bytes": engine.memory_budget("cpu")}
    print(f"n={n:2d} B={B:3d} {row['method']:10s} qrnn {row['qrnn_ms_per_sample']:10.3f} ms/sample  "
          f"lightning {row['lightning_ms_per_sample']:10.3f}  speed x{row['qrnn_over_lightning_speed']:.2f}  "
          f"|diff| {diff:.1e}", flush=True)
    return row


def plot(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for B, style in ((16, "-"), (256, "--")):
        sel = [r for r in rows if r["B"] == B]
        if not sel:
            continue
        q = [r["n_qubits"] for r in sel]
        ax.plot(q, [r["qrnn_ms_per_sample"] for r in sel], "o" + style, color="C0", label=f"qrnn torch, B = {B}")
        ax.plot(q, [r["lightning_ms_per_sample"] for r in sel], "s" + style, color="C1",
                label=f"lightning.qubit, B = {B}")
    ax.set(yscale="log", xlabel="qubits", ylabel="ms per sample-circuit",
           title="One 2-layer VQC, float64, 2-core CPU (same run)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-qubits", type=int, default=4)
    ap.add_argument("--max-qubits", type=int, default=24)
    ap.add_argument("--max-qubits-256", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/scaling-cpu.json")
    args = ap.parse_args(argv)
    rows = []
    for n in range(args.min_qubits, args.max_qubits + 1, 2):
        rows.append(measure(n, 16, args.repeats))
        if n <= args.max_qubits_256:
            rows.append(measure(n, 256, args.repeats))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"python": platform.python_version(), "torch": torch.__version__,
                               "threads": torch.get_num_threads(), "free_memory_bytes": free_memory("cpu"),
                               "rows": rows}, indent=1))
    plot(rows, out.with_suffix(".png"))
    print(f"written: {out}, {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
