"""The command line: ``python -m experiments.study CONFIG.toml [--out DIR] [--quiet] [--ray [ADDRESS]] [--collect]``."""
from __future__ import annotations

import argparse
import sys
import time

from .config import load_config
from .grid import grid
from .runner import run
from .conditions import EXACT, condition_reading
from .summary import reading, terminal_table


def main(argv=None) -> dict:
    # the package's docstring describes the study
    ap = argparse.ArgumentParser(prog="python -m experiments.study",
                                 description=sys.modules[__package__].__doc__.splitlines()[0])
    ap.add_argument("config", help="a study TOML file, e.g. experiments/configs/quick.toml")
    ap.add_argument("--out", default=None, help="output folder (default: the config's [study] out)")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    ap.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                    help="run the cells as Ray tasks: on a local Ray, or on the cluster at ADDRESS")
    ap.add_argument("--collect", action="store_true",
                    help="run nothing: build the tables and plots from the cells already stored")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)  # every field is checked before any work starts
    t0 = time.perf_counter()
    result = run(cfg, args.out, progress=not args.quiet, ray=args.ray, collect_only=args.collect)
    exact = [r for r in result["rows"] if r.get("condition", EXACT) == EXACT]
    # the compact table fits a terminal; results.csv and results.md have every column
    print("\n".join(terminal_table(exact)))
    capacities = result["out"] / "capacities.csv"
    if cfg.capacities is not None and cfg.search is not None:
        # per task and cell, too long for a terminal (a capacities.csv there is an older run's, not these)
        print(f"\nCapacities of the reservoirs the search chose: {result['out'] / 'capacities-chosen.md'}")
    elif cfg.capacities is not None and capacities.is_file():
        print("\n" + "\n".join(capacity_lines(capacities)))
    print()
    print("\n".join(reading(exact)))
    if len(cfg.conditions) > 1:
        print(f"\nUnder the device conditions ({result['out'] / 'conditions.md'}):")
        print("\n".join(condition_reading(result["rows"], cfg.conditions)))
    if result["reused"]:
        print(f"\n{result['reused']} cells reused from {result['out'] / 'cells'} (same settings).")
    if result["missing"]:
        print(f"{len(result['missing'])} of {len(grid(cfg))} cells not run yet; "
              f"tasks without any: {[t for t in cfg.tasks if t not in {r['task'] for r in result['rows']}]}.")
    print(f"\n{len(result['rows'])} rows in {time.perf_counter() - t0:.0f} s; tables: {result['out']}/results.csv, "
          f"results.md; paired tests: comparisons.csv; plots: " + ", ".join(p.name for p in result["plots"]))
    return result


def capacity_lines(path) -> list[str]:
    """The capacities beside the table: per model and init (first seed, scaling 1 or the first), the
    information processing capacity of its readout's features against their rank, split into memory
    (degree 1) and nonlinearity (degrees 2, 3), so a reader sees which one a winner has."""
    import csv

    with open(path) as fh:
        rows = list(csv.DictReader(fh))
    seen, lines = set(), ["Capacities (IPC of each reservoir's features, of their rank; memory: degree 1; "
                          "nonlinear: 2-3):"]
    for r in rows:
        key = (r["model"], r["init"])
        if key in seen:
            continue
        seen.add(key)
        nonlinear = float(r["ipc_degree2"]) + float(r["ipc_degree3"])
        name = r["model"] if r["init"] in ("-", "") else f"{r['model']} {r['init']}"
        lines.append(f"  {name:<16} {float(r['ipc_total']):7.2f} of {int(r['rank']):<4} memory "
                     f"{float(r['ipc_degree1']):6.2f}  nonlinear {nonlinear:6.2f}")
    return lines


if __name__ == "__main__":
    main()
