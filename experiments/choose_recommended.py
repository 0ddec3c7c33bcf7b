"""Choose the recommended reservoir fairly: by validation error across tasks, from the equal-budget search.

The strong study under the search (``experiments/configs/strong-search.toml``) chose a configuration per
cell. This script takes the configurations its reservoir + ridge cells chose most often (the discrete
choices: ensemble size, hidden size, features, correlators, init), and the ESN's (its most chosen size and
sparsity, the median of the rest), each at every input scaling of ``SCALINGS``, and scores each on every task of the
study, of every kind, for every quantum cell kind and seeds 0..``--seeds``-1, by the search's own validation
score (``experiments.study.cells.validation_objective``; the test data is never read), each on the scale of
its values, not squared: a forecast's RMSE (the root of the search's MSE) on the last 20 % of the training
windows, a classification's error rate on a stratified 20 % of the training sequences, a generation's RMSE
over the fitted stream's last part, generated from the first 80 %. Its mean over seeds is divided by the
mean of the same score of the task's linear baseline (ridge on the raw window, on the pooled raw sequence,
or a linear autoregression of order 10 in closed loop), fitted on the same parts. A classification's error
rate is read as ``(errors + 0.5) / (n + 1)`` (the Jeffreys estimate: a validation part with no error is not a
ratio of 0). A configuration's score is the geometric mean of these ratios over tasks (below 1: better than
the baselines); since a task's ratios all have the same denominator, the ranking does not depend on the
baselines. (On squared errors, MSE, the forecasting tasks would weigh twice as much in the mean.) The lowest score among the quantum configurations is the recommendation; the best ESN's score
stands beside it, said plainly if it is lower.

A task too costly to score every candidate on (``--costly``; the Japanese vowels by default, on 14 to 16
qubits) is left to a second stage: every candidate is screened on the other tasks, and the best ``--screen``
quantum configurations and ESNs there are scored on every task; the choice is made among those. The
candidates are then drawn from the screened tasks' choices alone.

Run: ``python -m experiments.choose_recommended [--configs CONFIG ...] [--top 8] [--seeds 3] [--tasks T ...]
[--costly T ...] [--screen 2] [--out experiments/results/recommended] [--reuse candidates.json]`` (``--configs``: :data:`CONFIGS` by default;
``--reuse``: an earlier run's validation errors, reused where all they depend on matches).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from qrnn import Ridge
from qrnn.metrics import mse
from qrnn.tasks import chronological_split

DISCRETE = ("ensemble", "hidden_size", "features", "correlators")
#: The input scalings every candidate is scored at (quantum and ESN alike).
SCALINGS = (0.125, 0.25, 0.5, 1.0, 2.0)
#: The searched studies scored by default: strong-search and its Japanese vowels.
CONFIGS = ("experiments/configs/strong-search.toml", "experiments/configs/strong-search-vowels.toml")
#: Tasks screened out by default: the Japanese vowels' 14 to 16 qubits cost about a minute a candidate and seed.
COSTLY = ("japanese_vowels",)


def _jeffreys(error_rate: float, n: int) -> float:
    return (round(error_rate * n) + 0.5) / (n + 1)


def reference(task: str, cfg, seed: int) -> float:
    """The validation score of the task's linear baseline, on the search's split for ``seed``."""
    from experiments.study import classification, generation
    from experiments.study.tasks import Stream, _data, classification_data, generation_data, task_kind, \
        task_train_fraction

    fraction = cfg.search.validation_fraction
    kind = task_kind(task)
    if kind == "forecast":
        Xtr, _, ytr, _ = _data(task, task_train_fraction(task, cfg))
        Xa, Xv, ya, yv = chronological_split(Xtr, ytr, 1.0 - fraction)
        return math.sqrt(mse(yv, Ridge(alpha="loo").fit(Xa[:, :, 0], ya).predict(Xv[:, :, 0])))
    if kind == "generation":
        stream = generation_data(task)
        a, h = generation.validation_part(stream, fraction)
        part = Stream(stream.series[:a + 1 + h], a, h, stream.washout, stream.chunk)
        _, generated = generation._autoregression(part, min(generation.AR_ORDER, stream.washout + 1))
        return float(np.sqrt(mse(part.truth(), generated)))
    data = classification_data(task)
    fit, val = classification.validation_split(data.y_train, fraction, seed)
    decide = classification.raw_ridge([data.X_train[i] for i in fit], data.y_train[fit], data.classes,
                                      **classification._options(task))
    predicted = decide([data.X_train[i] for i in val])
    return _jeffreys(float(np.mean(predicted != data.y_train[val])), len(val))


def candidates(rows, top: int) -> list[dict]:
    """The ``top`` most chosen discrete configurations of the quantum ridge cells, each with the median
    input scaling of the cells that chose it (rounded to a power of 2), and its init."""
    from experiments.study.models import is_quantum

    chosen = defaultdict(list)
    for r in rows:
        if r["mode"] == "ridge" and is_quantum(r["model"]) and r.get("params"):
            p = json.loads(r["params"])
            chosen[(*[p[k] for k in DISCRETE], r["init"])].append(p["input_scaling"])
    ranked = sorted(chosen.items(), key=lambda kv: -len(kv[1]))[:top]
    out = []
    for key, scalings in ranked:
        params = dict(zip(DISCRETE, key[:-1]))
        params["input_scaling"] = float(2.0 ** round(math.log2(float(np.median(scalings)))))
        out.append({"init": key[-1], "params": params, "chosen_by": len(scalings)})
    return out


def esn_candidates(rows, top: int) -> list[dict]:
    """The ESN configurations of the ridge cells, the ``top`` most chosen sizes with their median values."""
    chosen = defaultdict(list)
    for r in rows:
        if r["mode"] == "ridge" and r["model"] == "ESN" and r.get("params"):
            p = json.loads(r["params"])
            chosen[(p.get("size"), p.get("sparsity"))].append(p)
    out = []
    for (size, sparsity), ps in sorted(chosen.items(), key=lambda kv: -len(kv[1]))[:top]:
        params = {"size": size, "sparsity": sparsity}
        for k in ("spectral_radius", "input_scaling", "leak_rate"):
            params[k] = float(np.median([p[k] for p in ps]))
        out.append({"init": "-", "params": params, "chosen_by": len(ps)})
    return out


def _key(model: str, cand: dict, task: str, seed: int, cfg) -> str:
    """What a candidate's validation error on one task and seed depends on (a reused error must match it all)."""
    from experiments.study.store import cell_settings

    described = json.dumps({"model": model, "init": cand["init"], "params": cand["params"], "task": task,
                            "seed": seed, "settings": cell_settings(cfg, task)}, sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()  # the settings are long: a digest of them all


def score(model: str, cand: dict, configs: dict, tasks, seeds, references: dict, errors: dict | None = None) -> dict:
    """Per task, the validation score (mean over seeds; a forecast's as an RMSE) and its ratio to the
    baseline's mean over the same seeds (``references[task, seed]``); the geometric mean of the ratios over
    tasks. ``configs``
    maps each task to the study config it was searched under. ``errors`` (``{key: error}``, filled in):
    the validation errors already measured, each under the key of all it depends on (:func:`_key`)."""
    from experiments.study.cells import validation_objective
    from experiments.study.grid import Cell

    from experiments.study.tasks import task_kind

    errors = {} if errors is None else errors
    per_task = {}
    for task in tasks:
        errs = []
        for seed in seeds:
            key = _key(model, cand, task, seed, configs[task])
            if key not in errors:
                objective = validation_objective(Cell(task, model, "ridge", seed, cand["init"]), configs[task])
                errors[key] = {"error": objective(cand["params"]), "n": getattr(objective, "n_validation", None)}
            err, n = errors[key]["error"], errors[key].get("n")
            # the search's forecast score is an MSE: its root puts it on the scale of the other kinds' scores
            errs.append(_jeffreys(err, n) if n else math.sqrt(err) if task_kind(task) == "forecast" else err)
        ref = float(np.mean([references[task, seed] for seed in seeds]))
        per_task[task] = {"validation": float(np.mean(errs)), "ratio": float(np.mean(errs)) / ref}
    gmean = float(np.exp(np.mean([np.log(v["ratio"]) for v in per_task.values()])))
    return {"model": model, "init": cand["init"], "params": cand["params"], "chosen_by": cand["chosen_by"],
            "score": gmean, "per_task": per_task}


def _rank(scored) -> tuple[list, list]:
    """``(quantum, esns)``: each quantum configuration ``(score, key, its three kinds' scores)`` and each ESN
    score, best first. A quantum configuration's score is the geometric mean over the three cell kinds
    (recommended_reservoir takes the kind as an argument, so the configuration must serve all of them)."""
    by_config = defaultdict(list)
    for s in scored:
        if s["model"] != "ESN":
            by_config[json.dumps({"init": s["init"], **s["params"]}, sort_keys=True)].append(s)
    ranked = sorted(((float(np.exp(np.mean([np.log(s["score"]) for s in ss]))), key, ss)
                     for key, ss in by_config.items()), key=lambda t: t[0])
    return ranked, sorted((s for s in scored if s["model"] == "ESN"), key=lambda s: s["score"])


def _tables(ranked, esns, n_esns: int = 10) -> list[str]:
    from experiments.study.models import quantum_models

    lines = ["| rank | configuration | chosen by (cells) | score | QRNN | QLSTM | QGRU |", "|---|---|---|---|---|---|---|"]
    for i, (gm, key, ss) in enumerate(ranked, 1):
        kinds = {s["model"]: s["score"] for s in ss}
        lines.append(f"| {i} | `{key}` | {ss[0]['chosen_by']} | {gm:.3g} | "
                     + " | ".join(f"{kinds.get(m, float('nan')):.3g}" for m in quantum_models()) + " |")
    lines += ["", "| ESN configuration | chosen by | score |", "|---|---|---|"]
    lines += [f"| `{json.dumps(s['params'], sort_keys=True)}` | {s['chosen_by']} | {s['score']:.3g} |"
              for s in esns[:n_esns]]
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), help="the searched studies whose choices "
                    "and tasks are scored; each one's results are read from its [study] out")
    ap.add_argument("--top", type=int, default=8)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--tasks", nargs="+", default=None, help="the tasks scored (default: every task of the "
                    "config that the results hold)")
    ap.add_argument("--costly", nargs="+", default=list(COSTLY), help="tasks too costly to score every "
                    "candidate on: every candidate is screened on the others, and the best --screen of each "
                    "family are scored on all; the candidates are drawn from the others' choices alone")
    ap.add_argument("--screen", type=int, default=2)
    ap.add_argument("--out", default="experiments/results/recommended")
    ap.add_argument("--reuse", default=None, help="a candidates.json of an earlier run of the same code: its "
                    "validation errors are reused where everything they depend on matches (candidate, task, seed, "
                    "the study's settings); the key does not hold the code, so a changed objective needs a fresh run")
    args = ap.parse_args(argv)
    from tqdm.auto import tqdm

    from experiments.study import load_config
    from experiments.study.models import quantum_models

    rows, configs = [], {}
    for path in args.configs:
        cfg = load_config(path)
        if cfg.search is None:
            ap.error(f"--configs: {path} has no [search]: its cells chose nothing")
        results = Path(cfg.out) / "results.csv"
        mine = []
        if results.is_file():
            with open(results) as fh:
                mine = [r for r in csv.DictReader(fh) if r["mode"] != "baseline"]
        rows += mine
        # a costly task needs its config, not its results (its choices are not candidates)
        configs.update({t: cfg for t in cfg.tasks if t in args.costly or any(r["task"] == t for r in mine)})
    fractions = {c.search.validation_fraction for c in configs.values()}
    if len(fractions) > 1:
        ap.error(f"--configs: their searches hold out different validation fractions {sorted(fractions)}")
    tasks = list(configs)
    if args.tasks is not None:
        unknown = sorted(set(args.tasks) - set(tasks))
        if unknown:
            ap.error(f"--tasks: {unknown} are not tasks of the results; valid: {tasks}")
        tasks = [t for t in tasks if t in args.tasks]
    costly = [t for t in tasks if t in args.costly]
    screened = [t for t in tasks if t not in costly]
    if not screened:
        ap.error(f"--costly: every task {tasks} is costly: nothing to screen the candidates on")
    rows = [r for r in rows if r["task"] in screened]
    seeds = list(range(args.seeds))
    references = {(t, s): reference(t, configs[t], s) for t in tasks for s in seeds}
    # every candidate at every input scaling of SCALINGS: the search's continuous choices are too spread to
    # stand for their configuration by one value (the median of those chosen scored 3x worse than the best)
    def at(c, scaling):
        return {**c, "params": {**c["params"], "input_scaling": scaling}}

    jobs = [(m, at(c, x)) for c in candidates(rows, args.top) for x in SCALINGS for m in quantum_models()]
    jobs += [("ESN", at(c, x)) for c in esn_candidates(rows, 3) for x in SCALINGS]
    errors = {}
    if args.reuse is not None:
        errors = {e["key"]: {"error": e["error"], "n": e.get("n")}
                  for e in json.loads(Path(args.reuse).read_text()).get("errors", [])}
    scored = [score(m, c, configs, screened, seeds, references, errors)
              for m, c in tqdm(jobs, desc="candidates", unit="config")]
    ranked, esns = _rank(scored)
    final = scored
    if costly:
        keep = {key for _, key, _ in ranked[:args.screen]}
        keep |= {json.dumps({"init": s["init"], **s["params"]}, sort_keys=True) for s in esns[:args.screen]}
        best = [(m, c) for m, c in jobs if json.dumps({"init": c["init"], **c["params"]}, sort_keys=True) in keep]
        final = [score(m, c, configs, tasks, seeds, references, errors)
                 for m, c in tqdm(best, desc="the best, on every task", unit="config")]
    screened_ranked, screened_esns = ranked, esns
    ranked, esns = _rank(final)
    studies = ", ".join(f"`{o}`" for o in dict.fromkeys(str(c.out) for c in configs.values()))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "candidates.json").write_text(json.dumps({"tasks": tasks, "screened_on": screened, "seeds": seeds,
                                                     "scored": scored, "final": final, "errors": [
        {"key": k, **v} for k, v in errors.items()]}, indent=1))
    lines = ["# The recommended reservoir, chosen by validation error across tasks", "",
             f"From {studies} (the equal-budget search's choices), scored by the search's validation score "
             f"(the last {fractions.pop():.0%} of each task's training data; see `experiments/choose_recommended.py`) "
             f"on {len(tasks)} tasks ({', '.join(tasks)}), seeds {seeds}. "
             "Score: geometric mean over tasks of the validation score (a forecast's as an RMSE) / the task's "
             "linear baseline's (below 1 beats it); a quantum configuration's score is the geometric mean over "
             "QRNN, QLSTM and QGRU."]
    if costly:
        lines += ["", f"Every candidate was screened on the {len(screened)} other tasks (second table); the best "
                  f"{args.screen} quantum configurations and the best {args.screen} ESNs there were then scored on "
                  f"all {len(tasks)}, {', '.join(costly)} included (first table). The candidates are the "
                  "configurations most chosen on the screened tasks. A configuration here is a discrete one at one "
                  "input scaling, so the best few may be one discrete configuration at neighbouring scalings: "
                  "then the costly tasks test the scaling, not the discrete choice.", "",
                  f"## On all {len(tasks)} tasks", ""] + _tables(ranked, esns)
        lines += ["", f"## Screened on {len(screened)} tasks ({', '.join(screened)})", ""]
        lines += _tables(screened_ranked, screened_esns)
    else:
        lines += [""] + _tables(ranked, esns)
    lines += ["", "Caveats: the candidates were chosen by searches on these same validation windows and seeds, so "
              "every score is optimistic, for both families alike. The ESN has fewer candidates (its 3 most chosen "
              "sizes and sparsities, the median of the rest, at every scaling) than the quantum side "
              f"({args.top} discrete configurations): a bias against the ESN, if any. A configuration's score is the "
              "geometric mean over the three cell kinds; its best kind's own score is in its row."]
    best_q, best_e = ranked[0][0], esns[0]["score"] if esns else math.inf
    lines += ["", f"Best quantum configuration: `{ranked[0][1]}`, score {best_q:.3g}. Best ESN: {best_e:.3g}. "
              + ("**A classical reservoir, the ESN, scores lower: on validation error across these tasks it is the "
                 "better reservoir.**" if best_e < best_q else "The quantum configuration scores lower."), ""]
    (out / "choice.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return ranked, esns


if __name__ == "__main__":
    main()
