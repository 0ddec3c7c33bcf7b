"""One VQC from 4 to 24 qubits: the torch engine against PennyLane's lightning.qubit, in the same run.

The circuit is qrnn's VQC (encoding H, RY(arctan x), RZ(arctan x^2) per
wire, 2 layers of CNOT rings and Rot gates, Z on every wire), one circuit,
float64 / complex128, evaluated for a batch of B random inputs: B = 16 at
every size, and B = 256 up to ``--max-qubits-256``. qrnn runs
``TorchBackend("auto")`` (the method it picks by size) under its default
memory budget. lightning.qubit runs the same circuit two ways: through
qrnn's PennyLane backend (broadcast tapes, no gradients), and as a user
writes it, a plain ``qml.qnode`` with ``diff_method=None`` called on the
whole batch (written here from docs/models.md, not from qrnn's circuit
description). The ratio is taken against the faster of the two. The outputs
of all three are compared at every size (max |difference| recorded).

A reference that ran slow on the day would make any ratio look good. Each
row's reference time is compared with the last figure recorded for the same
size and batch in ``--out`` (when that file exists): a row whose reference
is more than ``--slow-factor`` (1.5) times slower is flagged, its ratio is
withheld (``null`` in the JSON, "withheld" in the output) and the file keeps
the earlier reference figure as the one later runs compare against.

Figures: milliseconds per call and per sample-circuit (call / B), best of
at least ``--repeats`` calls, and of more (up to 10) while a row has taken
under 2 s, after a warm-up call; from 20 qubits, where one call takes
seconds, after a warm-up on one sample, at least one call and up to three
while under 30 s. A PNG plots time against qubits.

Run: ``python -m benchmarks.bench_scaling [--min-qubits 4] [--max-qubits 24] [--max-qubits-256 20]
[--repeats 2] [--slow-factor 1.5] [--out benchmarks/results/scaling-cpu.json]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import cpu_name

from qrnn.backends import PennyLaneBackend, TorchBackend, free_memory
from qrnn.circuit import VQC, init_weights


def _time(fn, x, repeats: int, heavy: bool, budget_s: float = 2.0, most: int = 10) -> tuple[float, object]:
    """Best of at least ``repeats`` calls ``fn(x)``, more while under ``budget_s`` (at most ``most``), after
    a warm-up call (on one sample when ``heavy``), so that one-time costs (numba loading its cached
    kernels, PennyLane building its device) are not timed. On this shared machine one call of
    lightning.qubit at 10 to 12 qubits swings up to 2.5x from call to call: the best of two was not
    enough to reproduce its own record, and raised the slow-reference flag."""
    fn(x[:1] if heavy else x)
    best, out, spent, n = float("inf"), None, 0.0, 0
    while n < repeats or (spent < budget_s and n < most):
        t0 = time.perf_counter()
        out = fn(x)
        dt = time.perf_counter() - t0
        best, spent, n = min(best, dt), spent + dt, n + 1
    return best, out


def plain_qnode(n: int, n_layers: int, weights: np.ndarray):
    """The circuit as a PennyLane user writes it for lightning.qubit: ``f(x (B, n)) -> (B, n)``.

    From docs/models.md: H, RY(arctan x_i), RZ(arctan x_i^2) on every wire;
    per layer CNOT rings at distance 1 and 2, then Rot(a, b, c) on every wire;
    <Z_i> on every wire. ``weights`` is ``(n_layers, n, 3)``.
    """
    import pennylane as qml

    dev = qml.device("lightning.qubit", wires=n)

    @qml.qnode(dev, diff_method=None)
    def circuit(x):
        for i in range(n):
            qml.Hadamard(i)
            qml.RY(np.arctan(x[:, i]), wires=i)
            qml.RZ(np.arctan(x[:, i] ** 2), wires=i)
        for layer in range(n_layers):
            for d in (1, 2):
                for i in range(n):
                    if (i + d) % n != i:
                        qml.CNOT(wires=[i, (i + d) % n])
            for i in range(n):
                qml.Rot(*weights[layer, i], wires=i)
        return [qml.expval(qml.Z(i)) for i in range(n)]

    return lambda x: np.stack(circuit(x), axis=-1)


def reference_baselines(path: Path) -> dict:
    """``(n_qubits, B) -> ms per call`` of the reference in the last recorded run at ``path``.

    A row flagged there carries the figure it was itself compared against, so a
    slow day never becomes the baseline.
    """
    if not path.exists():
        return {}
    out = {}
    recorded = json.loads(path.read_text())
    if recorded.get("cpu") not in (None, cpu_name()):
        print(f"note: the last record was made on {recorded['cpu']!r}, this run is on {cpu_name()!r}: "
              "a reference slower than its record may be the other processor", flush=True)
    for r in recorded.get("rows", []):
        ms = r.get("reference_baseline_ms") if r.get("flagged") else r.get("reference_ms", r.get("lightning_ms"))
        if ms is not None:
            out[(r["n_qubits"], r["B"])] = float(ms)
    return out


def measure(n: int, B: int, repeats: int, baseline_ms: float | None, slow_factor: float) -> dict:
    vqc = VQC(n, 2)
    w_np = init_weights(1, vqc, "uniform", seed=n)
    w = torch.as_tensor(w_np)
    x_np = np.random.default_rng(n).normal(size=(B, n))
    x = torch.as_tensor(x_np)
    heavy = n >= 20
    reps = 1 if heavy else repeats
    budget, most = (30.0, 3) if heavy else (2.0, 10)  # heavy: up to 3 calls while under 30 s
    engine = TorchBackend()
    group = engine.compile(vqc, w)
    with torch.no_grad():
        t_qrnn, out_q = _time(group, x, reps, heavy, budget, most)
    out_q = out_q.numpy()[0]
    lightning = PennyLaneBackend("lightning.qubit").compile(vqc, w)
    t_backend, out_b = _time(lightning, x, reps, heavy, budget, most)
    qnode = plain_qnode(n, 2, w_np[0])
    t_qnode, out_n = _time(qnode, x_np, reps, heavy, budget, most)
    diff = max(float(np.abs(np.asarray(out_b)[0] - out_q).max()), float(np.abs(out_n - out_q).max()))
    t_ref = min(t_backend, t_qnode)
    slow = baseline_ms is not None and 1e3 * t_ref > slow_factor * baseline_ms
    row = {"n_qubits": n, "B": B, "method": engine.resolve_method(n), "qrnn_ms": 1e3 * t_qrnn,
           "lightning_backend_ms": 1e3 * t_backend, "lightning_qnode_ms": 1e3 * t_qnode,
           "reference_ms": 1e3 * t_ref, "qrnn_ms_per_sample": 1e3 * t_qrnn / B,
           "reference_ms_per_sample": 1e3 * t_ref / B,
           "qrnn_over_lightning_speed": None if slow else t_ref / t_qrnn,
           "flagged": slow, "reference_baseline_ms": baseline_ms if slow else 1e3 * t_ref,
           "reference_last_recorded_ms": baseline_ms,
           "max_abs_difference": diff, "budget_bytes": engine.memory_budget("cpu")}
    speed = (f"withheld: reference {1e3 * t_ref:.1f} ms > {slow_factor} x last recorded {baseline_ms:.1f} ms"
             if slow else f"x{t_ref / t_qrnn:.2f}")
    print(f"n={n:2d} B={B:3d} {row['method']:10s} qrnn {row['qrnn_ms_per_sample']:10.3f} ms/sample  "
          f"lightning backend {1e3 * t_backend / B:10.3f} qnode {1e3 * t_qnode / B:10.3f}  "
          f"speed {speed}  |diff| {diff:.1e}", flush=True)
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
        ax.plot(q, [r["reference_ms_per_sample"] for r in sel], "s" + style, color="C1",
                label=f"lightning.qubit (faster of backend, qnode), B = {B}")
        flagged = [r for r in sel if r["flagged"]]
        if flagged:
            ax.plot([r["n_qubits"] for r in flagged], [r["reference_ms_per_sample"] for r in flagged], "x",
                    color="red", ms=10, label="reference slower than its record: ratio withheld")
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
    ap.add_argument("--slow-factor", type=float, default=1.5)
    ap.add_argument("--out", default="benchmarks/results/scaling-cpu.json")
    args = ap.parse_args(argv)
    out = Path(args.out)
    baselines = reference_baselines(out)
    rows = []
    for n in range(args.min_qubits, args.max_qubits + 1, 2):
        for B in (16, 256):
            if B == 16 or n <= args.max_qubits_256:
                rows.append(measure(n, B, args.repeats, baselines.get((n, B)), args.slow_factor))
    from importlib.metadata import version

    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.bench_scaling " + " ".join(sys.argv[1:] if argv is None else argv)
    out.write_text(json.dumps({"command": command.strip(), "cpu": cpu_name(), "cores": os.cpu_count(),
                               "python": platform.python_version(), "torch": torch.__version__,
                               "pennylane": version("pennylane"),
                               "pennylane_lightning": version("pennylane_lightning"),
                               "threads": torch.get_num_threads(), "free_memory_bytes": free_memory("cpu"),
                               "slow_factor": args.slow_factor, "flagged_rows": sum(r["flagged"] for r in rows),
                               "rows": rows}, indent=1))
    plot(rows, out.with_suffix(".png"))
    flagged = [f"{r['n_qubits']} qubits, B = {r['B']}" for r in rows if r["flagged"]]
    if flagged:
        print(f"FLAGGED: the reference ran more than {args.slow_factor}x slower than its last record at "
              f"{'; '.join(flagged)}; those ratios are withheld. Find out why before quoting this run.")
    print(f"written: {out}, {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
