"""The study's reading: the paper's three claims and the strong configuration, from the committed tables.

Reads the ``results.csv`` of the paper-configuration study (``full.toml``), of
the strong-configuration study (``strong.toml``) and of the new task kinds'
study (``tasks-issue20.toml``) and writes a Markdown summary: per forecasting
task, mean test MSE over seeds of every model in every mode beside the
baselines, then the paper's three claims checked on these numbers (they are
claims about forecasting; the other kinds are not read into them):

1. quantum reservoirs (frozen, readout only) come close to the same models
   fully trained;
2. at a fraction of the cost (seconds to a final model: ridge's whole fit against
   the training epochs of full training);
3. quantum reservoirs trained by epochs reach their final loss in fewer epochs
   than classical reservoirs (epochs to come within 5 % of the final test loss).

A task is read only where every cell it needs is present; missing ones are
listed, never guessed.

Every claim comes with its paired test over seeds
(:func:`experiments.study.comparisons.compare`: two-sided Wilcoxon
signed-rank on the per-seed differences, the same seed pairing the same data
split): a claim "holds" only at p < 0.05, it "ties" otherwise, and the p-values
and the seeds won are written beside the means. Five seeds cannot reach
p < 0.05 (the smallest two-sided p is 2 / 2^5 = 0.0625), and the reading says so.

Then each classification task (mean test accuracy over seeds, and the mean
seconds of a fit) and each closed-loop generation task (mean valid time and
NRMSE over the generated horizon), each study's in a section of its own, by
the metric of its kind.

Run: ``python -m experiments.reading [--full experiments/results/full] [--strong experiments/results/strong]
[--tasks experiments/results/tasks-issue20] [--out experiments/results/READING.md]``
"""
from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from experiments.study.comparisons import LEVEL, compare, smallest_p, verdict_phrase
from qrnn.circuit import INITS
from qrnn.registry import MODELS


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path) as fh:
        # the exact condition's rows (a study with [conditions] has others: they have a reading of their own)
        return [r for r in csv.DictReader(fh) if r.get("condition") in (None, "", "exact")]


def _num(v):
    return None if v in ("", "-", None) else float(v)


def _mean(rows, key="test_mse"):
    vals = [_num(r[key]) for r in rows if _num(r[key]) is not None]
    return float(np.mean(vals)) if vals else None


def _by_seed(rows, key="test_mse") -> dict:
    """``{seed: value}`` of a cell's rows (the seeds it has a value for)."""
    return {int(r["seed"]): _num(r[key]) for r in rows if _num(r[key]) is not None}


def _p(c) -> str:
    return "n/a" if c["p_value"] is None else f"{c['p_value']:.2g}"


def _tally(tests) -> str:
    """How many of ``tests`` (compare rows) hold, tie and fail at the level."""
    count = {v: sum(c["verdict"] == v for c in tests) for v in ("beats", "ties", "loses")}
    return f"holds in {count['beats']}, ties in {count['ties']}, fails in {count['loses']}"


def _seeds_sentence(rows) -> str:
    """What the seeds' count of a study's model cells lets its paired tests say."""
    per_cell = defaultdict(set)
    for r in rows:
        if r["mode"] != "baseline":
            per_cell[(r["task"], r["model"], r["init"], r["mode"])].add(r["seed"])
    n = max((len(v) for v in per_cell.values()), default=0)
    if n < 2:
        return "With fewer than 2 seeds nothing can be tested."
    if smallest_p(n) >= LEVEL:
        return (f"With {n} seeds the smallest two-sided p is {smallest_p(n):.4g}, so no claim on them can hold at "
                f"{LEVEL:g}, however large the difference: the seeds won are given beside each p, and more seeds "
                "are needed to tell.")
    return f"With {n} seeds the smallest two-sided p is {smallest_p(n):.3g}."


def _p_range(tests) -> str:
    ps = sorted(c["p_value"] for c in tests if c["p_value"] is not None)
    if not ps:
        return "p n/a"
    return f"p = {ps[0]:.2g} each" if f"{ps[0]:.2g}" == f"{ps[-1]:.2g}" else f"p = {ps[0]:.2g} to {ps[-1]:.2g}"


def _group(rows):
    out = defaultdict(list)
    for r in rows:
        out[(r["task"], r["model"], r["init"], r["mode"])].append(r)
    return out


def _fmt(v, spec=".2e"):
    return "–" if v is None else format(v, spec)


def _kind(row) -> str:
    return row.get("kind") or "forecast"  # a table written before other kinds has no kind column


def reading(full_rows: list[dict], strong_rows: list[dict], task_rows: list[dict] | None = None) -> str:
    """The Markdown reading of the full and strong studies' tables (and of ``task_rows``, the new task
    kinds' study: ``tasks-issue20.toml``)."""
    # the registered cells, so that a cell of your own is read as the built-in ones are
    quantum, classical = MODELS.names(tag="quantum"), MODELS.names(tag="classical")
    full, strong = _group(full_rows), _group(strong_rows)
    tasks = list(dict.fromkeys(r["task"] for r in full_rows if _kind(r) == "forecast"))
    lines = ["# The study, read from its tables", "",
             "Mean test MSE over seeds (5 unless the count says otherwise). Modes: `ridge` (frozen "
             "reservoir + closed-form ridge), `epochs` (frozen reservoir, readout trained by epochs), "
             "`trained` (everything trained end to end), `strong` (strong.toml: 5-reservoir ensembles, "
             "all features + correlators, input scaling chosen on a validation split; ridge readout).", "",
             "Every claim below comes with its paired test over seeds: a two-sided Wilcoxon signed-rank test "
             "of the per-seed differences (paired by seed index: both sides see the same data and split, and each draws its own weights from its seed). A claim "
             f"holds only at p < {LEVEL:g}; otherwise it ties, whatever the means say. "
             + _seeds_sentence(full_rows), ""]
    claims = {1: [], 2: [], 3: []}
    for task in tasks:
        base = {k[1]: _mean(v) for k, v in full.items() if k[0] == task and k[3] == "baseline"}
        lines += [f"## {task}", "", "Baselines: " + ", ".join(f"{m} {_fmt(v)}" for m, v in base.items()), ""]
        esn100 = _mean(full.get((task, "ESN", "-", "ridge"), []))
        lines += [f"ESN(100) + ridge: {_fmt(esn100)}.", "",
                  "| model | init | ridge | epochs | trained | strong | n |", "|---|---|---|---|---|---|---|"]
        for model in quantum + classical:
            for init in (INITS if model in quantum else ("-",)):
                cells = {mode: full.get((task, model, init, mode), []) for mode in ("ridge", "epochs", "trained")}
                if not any(cells.values()):
                    continue
                st = strong.get((task, model, init, "ridge"), []) if model in quantum else []
                n = max(len(v) for v in cells.values())
                lines.append(f"| {model} | {init} | " + " | ".join(_fmt(_mean(cells[m])) for m in cells)
                             + f" | {_fmt(_mean(st)) if st else '–'} | {n} |")
                r, e, t = (_mean(cells[m]) for m in ("ridge", "epochs", "trained"))
                complete = len({len(v) for v in cells.values()}) == 1  # every mode has every seed
                if model in quantum and complete and None not in (r, t):
                    best_mode = min((m for m, x in (("ridge", r), ("epochs", e)) if x is not None),
                                    key=lambda m: _mean(cells[m]))
                    best_res = _mean(cells[best_mode])
                    res, tr = _by_seed(cells[best_mode]), _by_seed(cells["trained"])
                    # "better": the reservoir's MSE below the trained one's; "close": below twice it
                    better = compare(res, tr, lower_is_better=True)
                    close = compare(res, {s: 2 * v for s, v in tr.items()}, lower_is_better=True)
                    claims[1].append((task, model, init, best_res, t, best_mode, better, close))
                    sec_r = np.mean([_num(c["seconds"]) for c in cells["ridge"]])
                    # training epochs only: the per-epoch test-loss pass of the learning curves is not
                    # part of the cost of a model (this understates full training slightly)
                    sec_t = np.mean([_num(c["seconds_per_epoch"]) * _num(c["epochs"]) for c in cells["trained"]])
                    cost = compare(_by_seed(cells["ridge"], "seconds"),
                                   {int(c["seed"]): _num(c["seconds_per_epoch"]) * _num(c["epochs"])
                                    for c in cells["trained"]}, lower_is_better=True)
                    claims[2].append((task, model, init, sec_r, sec_t, cost))
                if e is not None:
                    ep = _by_seed(cells["epochs"], "epochs_to_5pct")
                    claims[3].append((task, model, init, float(np.mean(list(ep.values()))) if ep else None, ep))
        ep = _by_seed(full.get((task, "ESN", "-", "epochs"), []), "epochs_to_5pct")
        if ep:
            claims[3].append((task, "ESN", "-", float(np.mean(list(ep.values()))), ep))
        lines.append("")
    lines += ["## The paper's claims on these numbers", ""]
    if claims[1]:
        close = [c for c in claims[1] if c[3] <= 2 * c[4]]
        better = [c for c in claims[1] if c[3] < c[4]]
        lines += [f"1. **Reservoir close to fully trained** (best reservoir mode within 2x of the trained "
                  f"test MSE): on means, {len(close)} of {len(claims[1])} (task, model, init) cases; the reservoir "
                  f"is better outright on means in {len(better)}. Paired over seeds, within 2x (the reservoir's MSE "
                  f"against twice the trained one's): {_tally([c[7] for c in claims[1]])}; better: "
                  f"{_tally([c[6] for c in claims[1]])}. On every seed: within 2x in "
                  f"{sum(c[7]['wins'] == c[7]['n_seeds'] for c in claims[1])} cases, better in "
                  f"{sum(c[6]['wins'] == c[6]['n_seeds'] for c in claims[1])}. Case by case in the table after "
                  "these claims."]
    if claims[2]:
        ratio = [tr / max(r, 1e-9) for *_, r, tr, _ in claims[2]]
        cost = [c[5] for c in claims[2]]
        every = sum(c["wins"] == c["n_seeds"] for c in cost)
        tested = (f"Paired over seeds (seconds): cheaper: {_tally(cost)}; cheaper on every seed in {every} of "
                  f"{len(cost)} cases ({_p_range(cost)})." if any(c["p_value"] is not None for c in cost)
                  else "Not tested: fewer than 2 paired seeds.")
        lines += [f"2. **At a fraction of the cost**: reservoir + ridge took {np.median([c[3] for c in claims[2]]):.2g} s "
                  f"(median, the whole fit) against {np.median([c[4] for c in claims[2]]):.3g} s for fully "
                  "training (its epochs only, without the per-epoch test-loss pass); "
                  f"fully trained costs {np.min(ratio):.0f}x to {np.max(ratio):.0f}x more. {tested}"]
    if claims[3]:
        per_task = []
        for task in tasks:
            q = [c for c in claims[3] if c[0] == task and c[1] in quantum and c[3] is not None]
            cl = [c for c in claims[3] if c[0] == task and c[1] not in quantum and c[3] is not None]
            if q and cl:
                # per seed, the mean over the quantum cells against the mean over the classical ones
                def per_seed(cs):
                    seeds = set.intersection(*(set(c[4]) for c in cs))
                    return {s: float(np.mean([c[4][s] for c in cs])) for s in seeds}

                test = compare(per_seed(q), per_seed(cl), lower_is_better=True)
                per_task.append((task, float(np.mean([c[3] for c in q])), float(np.mean([c[3] for c in cl])), test))
        if per_task:
            holds = sum(q < c for _, q, c, _ in per_task)
            lines += ["3. **Fewer epochs than classical reservoirs** (readout trained by epochs, epochs to "
                      "within 5 % of the final test loss, quantum against RNN/LSTM/GRU/ESN): on means, holds on "
                      f"{holds} of {len(per_task)} tasks; paired over seeds (each seed's mean over the quantum "
                      f"cells against its mean over the classical ones): {_tally([t[3] for t in per_task])}. Per task: "
                      + ", ".join(f"{t} {q:.1f} vs {c:.1f} (p = {_p(x)}, fewer on {x['wins']} of {x['n_seeds']} "
                                  "seeds)" for t, q, c, x in per_task)
                      + ". (Fewer epochs to a plateau is not a lower loss: compare the `epochs` columns.)"]
    if claims[1]:
        lines += ["", "Claim 1 case by case: the best reservoir mode's mean test MSE over the trained one's, and "
                  "the paired tests over seeds (p; the seeds on which the reservoir is below twice the trained "
                  "MSE, and below it).", "",
                  "| task | model | init | reservoir | reservoir / trained | within 2x: p, seeds | "
                  "better: p, seeds |", "|---|---|---|---|---|---|---|"]
        for t, m, i, r, tr, mode, better, close in claims[1]:
            lines.append(f"| {t} | {m} | {i} | {mode} | {r / tr:.2g} | {_p(close)}, {close['wins']} of "
                         f"{close['n_seeds']} | {_p(better)}, {better['wins']} of {better['n_seeds']} |")
    lines.append("")
    lines += kind_sections({"full.toml": full_rows, "strong.toml": strong_rows, "tasks-issue20.toml": task_rows or []})
    return "\n".join(lines)


def _generation_key(cell: tuple) -> tuple:
    """Rank generations by valid time, then NRMSE over the horizon (many reach the whole horizon)."""
    return (-cell[0], cell[1])


def kind_sections(studies: dict) -> list[str]:
    """A section per classification and generation task of each study (``{label: rows}``), by its kind's metric.

    Classification: mean test accuracy over seeds, and the mean seconds of a fit. Generation: mean valid
    time (steps) and NRMSE over the generated horizon. Baselines first, then one row per model and init,
    one column per mode; then the best cell, the best ESN and the best quantum reservoir.
    """
    lines = []
    for label, rows in studies.items():
        for task in dict.fromkeys(r["task"] for r in rows if _kind(r) != "forecast"):
            here = [r for r in rows if r["task"] == task]
            kind = _kind(here[0])
            groups = _group(here)
            if kind == "classification":
                def score(rs):
                    return _mean(rs, "test_accuracy"), _mean(rs, "seconds")

                def show(v):
                    return f"{v[0]:.3f}" + (f" ({v[1]:.2g} s)" if v[1] else "")

                def rank(v):
                    return -v[0]

                title = "classification"
                intro = "Mean test accuracy over seeds (higher is better), and in brackets the mean seconds of a fit."
            else:
                def score(rs):
                    return _mean(rs, "valid_time"), _mean(rs, "horizon_nrmse")

                def show(v):
                    return f"{v[0]:.1f} / {v[1]:.3g}"

                rank = _generation_key
                title = "closed-loop generation"
                intro = ("Mean over seeds of the valid time (steps until the error first exceeds 0.4 standard "
                         "deviations of the fitted stream; higher is better) / the NRMSE over the generated horizon "
                         "(lower is better).")
            base = {k[1]: score(v) for k, v in groups.items() if k[3] == "baseline"}
            lines += [f"## {task} ({title}, {label})", "", intro, "",
                      "Baselines: " + ", ".join(f"{m} {show(v)}" for m, v in base.items()), "",
                      "| model | init | ridge | epochs | trained | n |", "|---|---|---|---|---|---|"]
            cells = {}
            for model, init in dict.fromkeys((r["model"], r["init"]) for r in here if r["mode"] != "baseline"):
                by_mode = {mode: groups.get((task, model, init, mode), []) for mode in ("ridge", "epochs", "trained")}
                for mode, rs in by_mode.items():
                    if rs:
                        cells[(model, init, mode)] = score(rs)
                lines.append(f"| {model} | {init} | " + " | ".join(
                    show(cells[(model, init, m)]) if (model, init, m) in cells else "–" for m in by_mode)
                    + f" | {max(len(v) for v in by_mode.values())} |")
            lines.append("")
            if cells:
                def best(keep):
                    found = [(k, v) for k, v in cells.items() if keep(k[0])]
                    return min(found, key=lambda kv: rank(kv[1])) if found else None

                quantum = set(MODELS.names(tag="quantum"))
                parts, found = [], {}
                for what, keep in (("Best", lambda m: True), ("best ESN", lambda m: m.startswith("ESN")),
                                   ("best quantum reservoir", lambda m: m in quantum)):
                    b = best(keep)
                    if b is not None:
                        (m, i, mode), v = b
                        found[what] = b[0]
                        parts.append(f"{what}: {m}{'' if i == '-' else ' ' + i} [{mode}] {show(v)}")
                lines += ["; ".join(parts) + "."]
                if "best ESN" in found and "best quantum reservoir" in found:
                    # the ranking above is by means; the paired test says whether it holds over the seeds
                    metric = "test_accuracy" if kind == "classification" else "valid_time"
                    (qm, qi, qmode), (em, ei, emode) = found["best quantum reservoir"], found["best ESN"]
                    test = compare(_by_seed(groups[(task, qm, qi, qmode)], metric),
                                   _by_seed(groups[(task, em, ei, emode)], metric), lower_is_better=False)
                    name = f"{qm}{'' if qi == '-' else ' ' + qi} [{qmode}]"
                    what = "test accuracy" if kind == "classification" else "valid time"
                    lines += ["", f"Paired over seeds ({what}): " + (
                        verdict_phrase(test, name, f"{em} [{emode}]") if test["n_seeds"] > 1
                        else f"{name} against {em} [{emode}]: {test['n_seeds']} paired seed, not tested")
                        + (f"; {test['note']}" if test["note"] else "") + "."]
                lines.append("")
    return lines


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", default="experiments/results/full")
    ap.add_argument("--strong", default="experiments/results/strong")
    ap.add_argument("--tasks", default="experiments/results/tasks-issue20",
                    help="the classification and generation tasks' study (tasks-issue20.toml)")
    ap.add_argument("--out", default="experiments/results/READING.md")
    args = ap.parse_args(argv)
    text = reading(_read(Path(args.full) / "results.csv"), _read(Path(args.strong) / "results.csv"),
                   _read(Path(args.tasks) / "results.csv"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
