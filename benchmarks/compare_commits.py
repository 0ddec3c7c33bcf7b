"""Before/after timing of the engine's paths at two commits, interleaved, on a noisy machine.

Each tree (a git worktree of one commit) is timed by a fresh process of
this script in ``--worker`` mode, with ``PYTHONPATH`` set to the tree, so
that it imports that tree's ``qrnn`` (the worker reports ``qrnn.__file__``
and the driver checks it). The rows are the figures of
``bench_stream`` (stream kernels, step by step, crossover batches),
``bench_training`` (one epoch with the adjoint kernels and with autograd)
``bench_throughput`` (QLSTM at B = 1024 for each torch form, and the
2-to-10-qubit scaling) and ``bench_scaling`` (qrnn's side: one VQC at 4 to 14
qubits), at sizes that keep one worker run short. Only
public API present at both commits is used.

The driver runs the trees alternately (before, after, before, after, ...)
for ``--pairs`` pairs per section, records the load average before each
pair, and reports each row's minimum over all runs (each run is itself the
best of a few repeats after a warm-up) and the after/before ratio.

Run: ``python -m benchmarks.compare_commits --tree before=/tmp/bench-before --tree after=/tmp/bench-after
[--pairs 3] [--sections stream,training,throughput] [--threads 1] [--clock cpu] [--rows REGEX]
[--out benchmarks/results/compare-commits.json]``, with the worktrees made by
``git worktree add --detach /tmp/bench-before <sha>`` (and the same for after).

``--threads 1`` runs every worker on one thread (torch, MKL, numba): on a
machine whose cores other work also uses, a two-thread parallel region
waits for both threads to be scheduled, and its time swings by far more
than any difference between the trees. ``--clock cpu`` (with
``--threads 1``) times the process's CPU time instead of wall time, which
other processes on the same cores disturb far less.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

SECTIONS = ("stream", "training", "throughput", "vqc")
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter  # the worker's, set from the driver's --clock


def _best_ms(fn, repeats: int, budget_s: float = 1.0, most: int = 200) -> float:
    """Best of at least ``repeats`` timed calls after a warm-up, more while under ``budget_s`` (at most ``most``):
    on a loaded machine the minimum of many short calls is the figure least disturbed."""
    fn()  # warm-up: numba's cache, compiled circuits, torch.compile
    best, spent, n = float("inf"), 0.0, 0
    while n < repeats or (spent < budget_s and n < most):
        t0 = _clock()
        fn()
        dt = _clock() - t0
        best, spent, n = min(best, dt), spent + dt, n + 1
    return 1e3 * best


def _stream_rows():
    """``(row, measure)`` pairs of bench_stream's figures; ``measure()`` returns milliseconds."""
    import numpy as np

    from qrnn import QGRU, QLSTM, QRNN
    from qrnn.backends import TorchBackend
    from qrnn.classical import ESN, LSTM

    u_long = np.random.default_rng(0).uniform(0.0, 0.5, size=(1, 2000, 1))
    u_short = u_long[:, :200]
    stepwise = TorchBackend(stream_max_batch=0)

    def transform(make, u, repeats):
        def measure():
            res = make()
            return _best_ms(lambda: res.transform(u), repeats)
        return measure

    for cls in (QRNN, QLSTM, QGRU):
        yield (f"stream: {cls.__name__}(1, 3) kernel, B=1, 2000 steps",
               transform(lambda cls=cls: cls(1, 3, seed=0), u_long, 7))
        yield (f"stream: {cls.__name__}(1, 3) torch step by step, B=1, 200 steps",
               transform(lambda cls=cls: cls(1, 3, seed=0, backend=stepwise), u_short, 3))
    yield ("stream: QLSTM(1, 3) torch.compile, B=1, 200 steps",
           transform(lambda: QLSTM(1, 3, seed=0, backend=stepwise, use_torch_compile=True), u_short, 3))
    # classical reservoirs: code issue 17 left alone, a control for the machine's noise
    yield "stream: ESN(1, 100) (control), B=1, 2000 steps", transform(lambda: ESN(1, 100, seed=0), u_long, 5)
    yield "stream: LSTM(1, 3) (control), B=1, 2000 steps", transform(lambda: LSTM(1, 3, seed=0), u_long, 5)
    for T, B, torch_too in ((4, 1, True), (4, 16, False), (4, 256, True), (4, 1024, True), (4, 4096, False),
                            (100, 1, False), (100, 64, True), (100, 1024, False)):
        X = np.random.default_rng(1).uniform(-1, 1, size=(B, T, 1))
        yield f"crossover: QLSTM kernel, T={T}, B={B}", transform(lambda: QLSTM(1, 3, seed=0), X, 5)
        if torch_too:
            yield (f"crossover: QLSTM torch, T={T}, B={B}",
                   transform(lambda: QLSTM(1, 3, seed=0, backend=stepwise), X, 3))


def _training_rows():
    """``(row, measure)`` pairs of bench_training's qrnn figures, and one trainable group alone."""
    import numpy as np
    import torch

    import qrnn.trainer
    from qrnn import QGRU, QLSTM, QRNN, VQC, ReservoirRegressor, TrainedRegressor
    from qrnn.backends import TorchBackend, warm_up
    from qrnn.tasks import damped_shm, make_windows, minmax_scale

    # the trainer times its epochs with time.perf_counter: on the worker's clock
    qrnn.trainer.time = type(time)("time")
    qrnn.trainer.time.__dict__.update({k: getattr(time, k) for k in dir(time) if not k.startswith("__")})
    qrnn.trainer.time.perf_counter = _clock
    X, y = make_windows(minmax_scale(damped_shm()), window=4)
    X, y = X[:100], y[:100]
    warm_up()

    def epoch(cls, gradient):
        def measure():
            model = cls(1, 3, seed=0, trainable=True, backend=TorchBackend(gradient=gradient))
            est = TrainedRegressor(model, epochs=6, random_state=0, progress=False).fit(X, y)
            # the first epoch pays first-call costs; the best of the rest, as the other rows
            return 1e3 * min(h["seconds"] for h in est.history_[1:])
        return measure

    for cls, gradient in ((QLSTM, "auto"), (QLSTM, "autograd"), (QRNN, "auto"), (QGRU, "auto")):
        yield f"training: {cls.__name__}(1, 3) one epoch, gradient={gradient!r}", epoch(cls, gradient)
    yield ("training: QLSTM reservoir + ridge (alpha='loo') fit",
           lambda: _best_ms(lambda: ReservoirRegressor(QLSTM(1, 3, seed=0), alpha="loo").fit(X, y), 3))

    def group():
        # one trainable group of 4 circuits, B = 10: compile (what every forward pass does), forward, backward
        vqc, backend = VQC(4, 2), TorchBackend()
        w = torch.as_tensor(np.random.default_rng(0).normal(size=(4, 2, 4, 3)) * 0.1).requires_grad_()
        v = torch.as_tensor(np.random.default_rng(1).uniform(-1, 1, size=(4, 10)))

        def call():
            for _ in range(20):
                backend.compile(vqc, w).columns(v, bounded=True).sum().backward()
        return _best_ms(call, 5)

    yield "training: one adjoint group (4 circuits, B=10) compile+forward+backward, x20", group


def _throughput_rows():
    """``(row, measure)`` pairs of bench_throughput's torch figures (QLSTM, B = 1024; scaling to 10 qubits),
    PennyLane and Aer at small sizes."""
    import numpy as np
    import torch

    from qrnn import QLSTM
    from qrnn.backends import TorchBackend, tune_allocator

    tune_allocator()  # as bench_throughput does
    rng = np.random.default_rng(0)

    def forward(make, X, repeats):
        def measure():
            res, x = make(), torch.as_tensor(X, dtype=torch.float64)
            with torch.no_grad():
                return _best_ms(lambda: res(x), repeats)
        return measure

    for T in (4, 100):
        X = rng.normal(size=(1024, T, 1))
        for label, method, kernel in (("auto (default: stream kernel)", "auto", True),
                                      ("auto, step by step", "auto", False), ("unitary", "unitary", False),
                                      ("gates", "gates", False)):
            backend = TorchBackend(method, stream_max_batch=None if kernel else 0)
            yield (f"throughput: QLSTM B=1024, T={T}, {label}",
                   forward(lambda backend=backend: QLSTM(1, 3, seed=0, backend=backend), X, 3 if T == 4 else 2))
    X = rng.normal(size=(256, 4, 1))
    yield ("throughput: QLSTM B=256, T=4, PennyLane default.qubit",
           forward(lambda: QLSTM(1, 3, seed=0, backend="pennylane"), X, 2))
    yield "throughput: QLSTM B=16, T=4, Aer exact", forward(lambda: QLSTM(1, 3, seed=0, backend="aer"), X[:16], 2)
    for n in (2, 4, 6, 8, 10):
        B = int(max(2, min(1024, 2**18 // 2**n)))
        X = rng.normal(size=(B, 2, 1))
        for method in ("heisenberg", "unitary", "gates"):
            if n > {"heisenberg": 8, "unitary": 10, "gates": 10}[method]:
                continue
            yield (f"scaling: QLSTM {n} qubits, B={B}, T=2, {method}",
                   forward(lambda n=n, method=method: QLSTM(1, n - 1, seed=0, backend=TorchBackend(method)), X, 3))


def _vqc_rows():
    """``(row, measure)`` pairs of bench_scaling's qrnn figure: one 2-layer VQC, ``TorchBackend()``, 4 to 14
    qubits (the sizes issue 18 must not slow down), B = 16 and 256; and one trainable VQC's forward and
    backward pass (the adjoint kernels) at 12 to 18 qubits."""
    import numpy as np
    import torch

    from qrnn.backends import TorchBackend
    from qrnn.circuit import VQC, init_weights

    for n in (4, 6, 8, 10, 12, 14):
        for B in (16, 256):
            def measure(n=n, B=B):
                vqc = VQC(n, 2)
                group = TorchBackend().compile(vqc, torch.as_tensor(init_weights(1, vqc, "uniform", seed=n)))
                x = torch.as_tensor(np.random.default_rng(n).normal(size=(B, n)))
                with torch.no_grad():
                    return _best_ms(lambda: group(x), 3)
            yield f"vqc: {n} qubits, B={B}, auto", measure
    for n in (12, 16, 18):  # training at many qubits: the adjoint kernels, forward and backward
        def adjoint(n=n):
            vqc = VQC(n, 2)
            w0 = torch.as_tensor(init_weights(1, vqc, "uniform", seed=n))
            x = torch.as_tensor(np.random.default_rng(n).normal(size=(4, n)))

            def step():
                w = w0.clone().requires_grad_()
                TorchBackend().compile(vqc, w)(x).sum().backward()
            return _best_ms(step, 3)
        yield f"vqc: adjoint forward+backward, {n} qubits, B=4", adjoint


def worker(section: str) -> None:
    global _clock
    import torch

    import qrnn

    if os.environ.get("OMP_NUM_THREADS"):  # the driver's --threads
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    _clock = CLOCKS[os.environ.get("QRNN_COMPARE_CLOCK", "wall")]

    pattern = re.compile(os.environ.get("QRNN_COMPARE_ROWS", ""))
    rows = {name: measure() for name, measure in
            {"stream": _stream_rows, "training": _training_rows, "throughput": _throughput_rows,
             "vqc": _vqc_rows}[section]()
            if pattern.search(name)}
    print(json.dumps({"qrnn_file": qrnn.__file__, "torch_threads": torch.get_num_threads(),
                      "numba_threads": __import__("numba").get_num_threads(), "rows": rows}))


def _loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", choices=SECTIONS, help=argparse.SUPPRESS)
    ap.add_argument("--tree", action="append", default=[], metavar="LABEL=PATH",
                    help="a worktree to time (give two: the first is 'before')")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--threads", type=int, default=None,
                    help="torch's, MKL's and numba's threads in the workers (default: theirs)")
    ap.add_argument("--rows", default="", help="a regular expression: time only the rows it matches")
    ap.add_argument("--clock", choices=list(CLOCKS), default="wall",
                    help="what the workers time: wall time, or the process's CPU time (with --threads 1)")
    ap.add_argument("--out", default="benchmarks/results/compare-commits.json")
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return
    trees = [t.split("=", 1) for t in args.tree]
    if len(trees) != 2 or any(len(t) != 2 for t in trees):
        ap.error("--tree LABEL=PATH must be given twice (before, then after)")
    if trees[0][0] == trees[1][0]:
        ap.error(f"the two --tree labels must differ, got {trees[0][0]!r} twice")
    sections = args.sections.split(",")
    if set(sections) - set(SECTIONS):
        ap.error(f"--sections takes names from {list(SECTIONS)}, got {args.sections!r}")
    if args.pairs < 1:
        ap.error(f"--pairs must be at least 1, got {args.pairs}")
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu needs --threads 1 (a process's CPU time adds up all its threads)")
    try:
        re.compile(args.rows)
    except re.error as exc:
        ap.error(f"--rows must be a regular expression, got {args.rows!r}: {exc}")
    runs = []
    for section in sections:
        for pair in range(args.pairs):
            load = _loadavg()
            for label, path in trees:
                tree = str(Path(path).resolve())
                env = dict(os.environ, PYTHONPATH=tree, QRNN_COMPARE_CLOCK=args.clock,
                           QRNN_COMPARE_ROWS=args.rows)
                if args.threads is not None:
                    env.update({k: str(args.threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                                 "NUMBA_NUM_THREADS")})
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", section],
                                      cwd=tree, env=env, capture_output=True, text=True)
                if proc.returncode:
                    raise RuntimeError(f"{label} worker for {section} failed:\n{proc.stderr[-3000:]}")
                result = json.loads(proc.stdout.strip().splitlines()[-1])
                if not result["qrnn_file"].startswith(tree + os.sep):
                    raise RuntimeError(f"{label} imported {result['qrnn_file']}, not its tree {tree}")
                runs.append({"section": section, "pair": pair, "tree": label, "load_before_pair": load,
                             "threads": [result["torch_threads"], result["numba_threads"]],
                             "wall_s": time.perf_counter() - t0, "rows": result["rows"]})
                print(f"{section} pair {pair} {label}: load {load}, {runs[-1]['wall_s']:.0f} s", flush=True)
    (before, _), (after, _) = trees
    table = {}
    for run in runs:
        for row, ms in run["rows"].items():
            table.setdefault(row, {}).setdefault(run["tree"], []).append(ms)
    summary = {row: {"before_ms": min(v[before]), "after_ms": min(v[after]),
                     "ratio": min(v[after]) / min(v[before])} for row, v in table.items()}
    print(f"| row | {before} ms | {after} ms | {after}/{before} |\n|---|---|---|---|")
    for row, s in summary.items():
        print(f"| {row} | {s['before_ms']:.4g} | {s['after_ms']:.4g} | {s['ratio']:.2f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"trees": dict(trees), "threads": args.threads, "clock": args.clock, "command": sys.argv,
                               "runs": runs, "summary": summary}, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
