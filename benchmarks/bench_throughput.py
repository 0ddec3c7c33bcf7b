"""QLSTM reservoir throughput: torch engine against PennyLane and Qiskit Aer, in one run.

Measures, on the machine it runs on:

1. the machine's complex matrix-product rate (complex128 GEMM, 1024^3);
2. QLSTM(1, 3) reservoir throughput (4 qubits, B = 1024, T = 4 and T = 100) in
   sample-steps per second for every backend, and the torch engine's rate as
   a fraction of (1);
3. the torch engine's scaling from 2 to 20 qubits for each compilation method.

All ratios are taken within the same run. Results go to a JSON file; the
figures quoted in ``benchmarks/RESULTS.md`` come from these files.

The torch engine's glibc allocator tuning (:func:`qrnn.backends.tune_allocator`)
is opt-in; this script applies it unless ``--no-tune-allocator`` is given, and
records which in its output. ``--allocator-ab`` measures only its effect: one
circuit group of 6 circuits per method and size, in fresh processes that
alternate tuned and untuned (the tuning cannot be undone within a process),
as median milliseconds and minor page faults per call.

Run: ``python -m benchmarks.bench_throughput [--device cuda] [--skip-aer-long] [--skip-scaling] [--no-tune-allocator]``
or ``python -m benchmarks.bench_throughput --allocator-ab [--rounds 3]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

import qrnn
from qrnn import QLSTM
from qrnn.backends import TorchBackend, tune_allocator


def machine_info(device: str) -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": device,
    }
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        info["cpu"] = names[0] if names else "unknown"
    except OSError:
        info["cpu"] = platform.processor()
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def gemm_rate(device: str, dtype=torch.complex128, n: int = 1024, reps: int = 5) -> float:
    """Real floating-point operations per second of a complex GEMM (8 flops per complex MAC)."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 8 * n**3 * reps / (time.perf_counter() - t)


def time_transform(res, X, device, repeats: int = 3) -> float:
    """Best wall time of ``repeats`` runs of the reservoir over X (after one warm-up)."""
    x = torch.as_tensor(X, device=device, dtype=torch.float64)
    with torch.no_grad():
        res(x[:, :2])
        best = float("inf")
        for _ in range(repeats):
            sync(device)
            t = time.perf_counter()
            res(x)
            sync(device)
            best = min(best, time.perf_counter() - t)
    return best


def qlstm_flops_per_sample_step(n: int, method: str) -> float:
    """Real flops of the dense products of one QLSTM step per sample (6 circuits)."""
    D = 2**n
    if method == "unitary":
        return 8.0 * 6 * D * D  # complex (1, D) @ (D, D) per circuit
    if method == "heisenberg":
        return 2.0 * 6 * n * 4**n  # real (1, 4^n) @ (4^n, n) per circuit
    return float("nan")


def throughput_section(device: str, B: int, T: int, skip_aer: bool, rng) -> list[dict]:
    X = rng.normal(size=(B, T, 1))
    rows = []
    # torch variants: (method, stream kernel allowed, use_torch_compile)
    variants = {"auto (default: stream kernel)": ("auto", True, False),
                "auto, step by step": ("auto", False, False),
                "auto, step by step, use_torch_compile=True": ("auto", False, True),
                "heisenberg, step by step": ("heisenberg", False, False),
                "unitary": ("unitary", False, False), "gates": ("gates", False, False)}
    configs = [("torch", v) for v in variants]
    if device == "cpu":
        configs += [("pennylane", "default.qubit (broadcast, no grad)")]
        if not skip_aer:
            configs += [("aer", "statevector, exact")]
    for backend, variant in configs:
        if backend == "torch":
            method, kernel, compiled = variants[variant]
            res = QLSTM(1, 3, seed=0, device=device, use_torch_compile=compiled,
                        backend=TorchBackend(method, stream_max_batch=None if kernel else 0))
            repeats = 3
        else:
            res = QLSTM(1, 3, seed=0, backend=backend)
            repeats = 1
        seconds = time_transform(res, X, device, repeats)
        method = TorchBackend(variants[variant][0]).resolve_method(4) if backend == "torch" else None
        rows.append({
            "backend": backend, "variant": variant, "method": method, "B": B, "T": T,
            "seconds": seconds, "sample_steps_per_s": B * T / seconds,
            "dense_flops_per_s": (qlstm_flops_per_sample_step(4, method) * B * T / seconds
                                  if method in ("unitary", "heisenberg") else None),
        })
        print(f"  T={T:<4} {backend:<10} {variant:<44} {B * T / seconds:12.4g} sample-steps/s", flush=True)
    return rows


def scaling_section(device: str, max_qubits: int, rng) -> list[dict]:
    rows = []
    limits = {"heisenberg": 8, "unitary": 11, "gates": max_qubits}
    for n in range(2, max_qubits + 1):
        # Keep the state-vector work per step roughly constant as n grows.
        B = int(max(2, min(1024, 2**18 // 2**n)))
        X = rng.normal(size=(B, 2, 1))
        for method in ("heisenberg", "unitary", "gates"):
            if n > limits[method]:
                continue
            res = QLSTM(1, n - 1, seed=0, backend=TorchBackend(method), device=device)
            seconds = time_transform(res, X, device, repeats=1 if n > 14 else 2)
            rows.append({"n_qubits": n, "method": method, "B": B, "T": 2, "seconds": seconds,
                         "sample_steps_per_s": 2 * B / seconds,
                         "amplitude_steps_per_s": 2 * B * 2**n / seconds})
            print(f"  n={n:<3} {method:<11} B={B:<5} {2 * B / seconds:12.4g} sample-steps/s", flush=True)
    return rows


# (qubits, method, B): Heisenberg is auto's choice at 4 qubits, the others allocate a state per step.
ALLOCATOR_CASES = ((4, "heisenberg", 1024), (4, "unitary", 1024), (4, "gates", 1024),
                   (6, "unitary", 1024), (10, "gates", 256))


def allocator_probe(tune: bool, calls: int = 60) -> dict:
    """This process, tuned or not: median ms and minor page faults per call of one 6-circuit group."""
    import resource

    out = {"allocator_tuned": tune_allocator() if tune else False}
    for n, method, B in ALLOCATOR_CASES:
        vqc = qrnn.VQC(n, 2)
        group = TorchBackend(method).compile(vqc, torch.as_tensor(qrnn.init_weights(6, vqc, "uniform", seed=0)))
        v = torch.randn(n, B, dtype=torch.float64)
        times = []
        with torch.no_grad():
            for _ in range(10):
                group.columns(v, bounded=True)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(calls):
                t = time.perf_counter()
                group.columns(v, bounded=True)
                times.append(time.perf_counter() - t)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        out[f"{method}, n={n}, B={B}"] = {"ms": 1e3 * float(np.median(times)), "page_faults": faults / calls}
    return out


def allocator_ab(rounds: int) -> list[dict]:
    runs = []
    for _ in range(rounds):
        for tune in (True, False):
            cmd = [sys.executable, "-m", "benchmarks.bench_throughput", "--allocator-probe",
                   "tune" if tune else "none"]
            runs.append(json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout))
            print(json.dumps(runs[-1]), flush=True)
    return runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--max-qubits", type=int, default=20)
    ap.add_argument("--skip-aer-long", action="store_true", help="run Aer at T=4 only")
    ap.add_argument("--skip-scaling", action="store_true", help="leave out the 2-to-20-qubit scaling section")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-tune-allocator", action="store_true", help="leave glibc's malloc as it is")
    ap.add_argument("--allocator-ab", action="store_true",
                    help="measure only tune_allocator's effect, in fresh processes (CPU)")
    ap.add_argument("--rounds", type=int, default=3, help="tuned/untuned process pairs for --allocator-ab")
    ap.add_argument("--allocator-probe", choices=["tune", "none"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.allocator_probe:
        print(json.dumps(allocator_probe(args.allocator_probe == "tune")))
        return
    if args.allocator_ab:
        info = machine_info("cpu")
        out = Path(args.out or "benchmarks/results/allocator-cpu.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"machine": info, "runs": allocator_ab(args.rounds),
                                   "qrnn_version": qrnn.__version__}, indent=1))
        print(f"written: {out}")
        return
    rng = np.random.default_rng(0)

    info = machine_info(args.device)
    info["allocator_tuned"] = False if args.no_tune_allocator else tune_allocator()
    print(json.dumps(info, indent=1))
    rate = gemm_rate(args.device)
    print(f"complex128 GEMM 1024^3: {rate / 1e9:.1f} GFLOP/s")
    rows = []
    for T in (4, 100):
        rows += throughput_section(args.device, 1024, T, args.skip_aer_long and T == 100, rng)
    scaling = [] if args.skip_scaling else scaling_section(args.device, args.max_qubits, rng)

    summary = {}
    for T in (4, 100):
        by = {(r["backend"], r["variant"]): r for r in rows if r["T"] == T}
        torch_auto = by[("torch", "auto (default: stream kernel)")]["sample_steps_per_s"]
        torch_step = by[("torch", "auto, step by step")]["sample_steps_per_s"]
        torch_comp = by[("torch", "auto, step by step, use_torch_compile=True")]["sample_steps_per_s"]
        s = {"torch_auto_sample_steps_per_s": torch_auto, "torch_step_by_step_sample_steps_per_s": torch_step,
             "torch_compiled_sample_steps_per_s": torch_comp}
        for (b, _), r in by.items():
            if b != "torch":
                s[f"torch_over_{b}"] = torch_auto / r["sample_steps_per_s"]
                s[f"torch_step_by_step_over_{b}"] = torch_step / r["sample_steps_per_s"]
                s[f"torch_compiled_over_{b}"] = torch_comp / r["sample_steps_per_s"]
        dense = [r["dense_flops_per_s"] for r in by.values() if r.get("dense_flops_per_s")]
        s["best_dense_fraction_of_gemm"] = max(dense) / rate if dense else None
        summary[f"T={T}"] = s
    print(json.dumps(summary, indent=1))

    out = Path(args.out or f"benchmarks/results/throughput-{args.device}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "gemm_complex128_flops_per_s": rate,
                               "qlstm_4_qubits": rows, "scaling": scaling,
                               "summary": summary, "qrnn_version": qrnn.__version__}, indent=1))
    print(f"written: {out}")


if __name__ == "__main__":
    main()
