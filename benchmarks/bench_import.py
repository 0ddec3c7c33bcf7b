"""Import time of qrnn against torch alone, each in fresh interpreters.

``import qrnn`` should cost little beyond ``import torch``: scikit-learn,
PennyLane and Qiskit load only when used. Each statement runs in ``--runs``
fresh interpreters, alternating, and the medians are reported.

Run: ``python -m benchmarks.bench_import [--runs 15] [--out benchmarks/results/import-cpu.json]``
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

STATEMENTS = {
    "import torch": "import torch",
    "import qrnn": "import qrnn",
    "from qrnn import ReservoirRegressor (loads scikit-learn)": "from qrnn import ReservoirRegressor",
}


def time_statement(stmt: str) -> float:
    code = f"import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--out", default="benchmarks/results/import-cpu.json")
    args = parser.parse_args(argv)
    samples = {name: [] for name in STATEMENTS}
    for _ in range(args.runs):  # alternate, so that load on the machine hits every statement alike
        for name, stmt in STATEMENTS.items():
            samples[name].append(time_statement(stmt))
    medians = {name: statistics.median(v) for name, v in samples.items()}
    result = {
        "python": platform.python_version(), "runs": args.runs,
        "median_s": medians, "samples_s": samples,
        "qrnn_over_torch_s": medians["import qrnn"] - medians["import torch"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    for name, m in medians.items():
        print(f"{name:58s} {m:6.3f} s (median of {args.runs})")
    print(f"import qrnn costs {result['qrnn_over_torch_s']:+.3f} s over import torch")
    return result


if __name__ == "__main__":
    main()
