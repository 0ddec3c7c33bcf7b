"""Where the time of one many-qubit circuit goes: the fused program's passes against this machine's memory bandwidth.

For the paper's 2-layer VQC at ``--qubits`` (default 20), one sample, one
circuit, float64: each pass of the fused program (``qrnn.backends.torch.fused``)
is timed on its own, with the bytes it moves (each amplitude is 16 bytes; a
pass that reads and writes the state moves it twice) and the arithmetic it
does, beside the bandwidth of a plain copy, an in-place scale and a read-only
sum over arrays of the same size, measured in the same run with the same
threads (numba, ``prange``). So the distance of each pass to the memory floor,
and the whole circuit's, is known.

Best of ``--repeats`` calls per figure, after a warm-up. Nothing else should
run on the machine.

Run: ``python -m benchmarks.bench_passes [--qubits 20] [--repeats 15] [--out benchmarks/results/passes-cpu.json]``
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

from qrnn.backends.torch import fused
from qrnn.backends.torch.encoding import _encoding
from qrnn.circuit import VQC, init_weights


def _best(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bandwidth(nbytes: int, repeats: int) -> dict:
    """GiB/s of a copy (read + write), an in-place scale (read + write) and a sum (read) over ``nbytes``."""
    from numba import njit, prange

    @njit(parallel=True)
    def copy(a, b):
        for i in prange(a.shape[0]):
            b[i] = a[i]

    @njit(parallel=True)
    def scale(a, s):
        for i in prange(a.shape[0]):
            a[i] = a[i] * s

    @njit(parallel=True, fastmath=True)
    def total(a):
        acc = 0.0
        for i in prange(a.shape[0]):
            acc += a[i]
        return acc

    a = np.random.default_rng(0).random(nbytes // 8)
    b = np.empty_like(a)
    gib = nbytes / 2**30
    return {"copy_gib_s": 2 * gib / _best(lambda: copy(a, b), repeats),
            "scale_gib_s": 2 * gib / _best(lambda: scale(a, 1.0), repeats),
            "sum_gib_s": gib / _best(lambda: total(a), repeats),
            "numpy_copyto_gib_s": 2 * gib / _best(lambda: np.copyto(b, a), repeats)}


def passes(n: int, repeats: int) -> tuple[list, float]:
    """Each pass of the 2-layer program on one sample: (rows, whole-circuit seconds)."""
    from numba import get_num_threads

    from qrnn.backends.torch import fused_kernels as fk

    vqc = VQC(n, 2)
    w = torch.as_tensor(init_weights(1, vqc, "uniform", seed=n))
    x = torch.as_tensor(np.random.default_rng(n).normal(size=(1, n)))
    prog = fused.FusedProgram(vqc, w)
    arrays = prog.arrays()
    amps = np.ascontiguousarray(_encoding(vqc, torch.float64, torch.device("cpu"))
                                .wire_amplitudes(x.T.contiguous()).permute(2, 0, 1).numpy())
    l, C, D = prog.l, prog.C, 2**n
    ehi, elo = np.empty(2 ** (n - l), np.complex128), np.empty(2**l, np.complex128)
    fk.product_tables(amps[0], l, ehi, elo)
    a, b = np.empty(D, np.complex128), np.empty(D, np.complex128)
    part = np.empty((2**l // C, prog.kind.shape[0]))
    threads = get_num_threads()
    state = 16 * D
    low, high = l, n - l
    # (name, call, bytes moved, real multiplies and adds: 6 per amplitude per rotation, 6 per phase)
    rows = [("layer 1, pass A: product state, phases, RY on the low bits",
             lambda: fk.pass_a_all(arrays, 0, 0, a, a, ehi, elo), state, 6 * D * (low + 2)),
            ("layer 1, pass B: phases, RY on the high bits, written back",
             lambda: fk.pass_b_all(arrays, 0, 0, a, part, threads), 2 * state, 6 * D * (high + 2)),
            ("layer 2, pass A: CNOT gather, phases, RY on the low bits",
             lambda: fk.pass_a_all(arrays, 0, 1, a, b, ehi, elo), 2 * state, 6 * D * (low + 1)),
            ("layer 2, pass B: phases, RY on the high bits, Z products read",
             lambda: fk.pass_b_all(arrays, 0, 1, b, part, threads), state, 6 * D * (high + 1) + 3 * D)]
    out = []
    for name, call, nbytes, flops in rows:
        t = _best(call, repeats)
        out.append({"pass": name, "ms": 1e3 * t, "bytes": nbytes, "gib_s": nbytes / 2**30 / t,
                    "gflop_s": flops / 1e9 / t})
    whole = _best(lambda: prog.run(amps), repeats)
    return out, whole


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--qubits", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", default="benchmarks/results/passes-cpu.json")
    args = ap.parse_args(argv)
    n = args.qubits
    bw = bandwidth(16 * 2**n, args.repeats)
    rows, whole = passes(n, args.repeats)
    floor = sum(r["bytes"] for r in rows) / 2**30 / bw["copy_gib_s"]
    print(f"{n} qubits, one sample, one circuit; state {16 * 2**n / 2**20:.0f} MiB")
    print(f"bandwidth over {16 * 2**n / 2**20:.0f} MiB: copy {bw['copy_gib_s']:.1f} GiB/s, scale "
          f"{bw['scale_gib_s']:.1f}, sum {bw['sum_gib_s']:.1f} (numpy copyto {bw['numpy_copyto_gib_s']:.1f})")
    for r in rows:
        print(f"  {r['pass']:66s} {r['ms']:7.2f} ms  {r['bytes'] / 2**20:5.0f} MiB  {r['gib_s']:6.1f} GiB/s  "
              f"{r['gflop_s']:5.1f} GFLOP/s")
    print(f"whole circuit {1e3 * whole:.2f} ms (passes {sum(r['ms'] for r in rows):.2f}); the copy bandwidth "
          f"would move its {sum(r['bytes'] for r in rows) / 2**20:.0f} MiB in {1e3 * floor:.2f} ms")
    from importlib.metadata import version

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.bench_passes " + " ".join(sys.argv[1:] if argv is None else argv)
    out.write_text(json.dumps({"command": command.strip(), "cpu": cpu_name(), "cores": os.cpu_count(),
                               "python": platform.python_version(), "numba": version("numba"),
                               "qubits": n, "row_bits": fused._split(n), "bandwidth": bw, "passes": rows,
                               "whole_ms": 1e3 * whole, "copy_floor_ms": 1e3 * floor}, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
