"""What a run prints: a compact table of the test metric, then a few plain sentences, each task kind by its metric.

The table (:func:`terminal_table`) has one block per task, a row per model
and init, a column per mode, the mean over seeds of the task's metric (test
MSE, test accuracy, valid time), the task's best marked; every line at most
:data:`WIDTH` characters. The files (``results.csv``, ``results.md``) keep
every column.

The sentences (:func:`reading`) state comparisons only through their paired
Wilcoxon test over seeds (:mod:`~experiments.study.comparisons`): "beats"
only where the test says so at p < 0.05, "ties with" otherwise, each with its
p-value and the seeds won; with one seed nothing is tested, and the sentence
says so and gives the numbers as numbers.

Examples
--------
>>> rows = [{"task": "t", "kind": "forecast", "model": "persistence", "init": "-", "mode": "baseline", "seed": 0,
...          "test_mse": 0.5}] + [{"task": "t", "kind": "forecast", "model": "GRU", "init": "-", "mode": "ridge",
...          "seed": s, "test_mse": 0.1 + 0.01 * s} for s in range(7)]
>>> print("\\n".join(terminal_table(rows)[2:]))
t: test MSE (lower is better)
  model + init  baseline          ridge
  persistence   5.00e-01
  GRU                      1.30e-01 (7)*
>>> reading(rows)[1]
'  GRU [ridge] beats persistence [baseline] (p = 0.016, better on 7 of 7 seeds).'
"""
from __future__ import annotations

import math
import textwrap

import numpy as np

from .comparisons import JUDGED_BY, LEVEL, holm, smallest_p, study_comparisons, verdict_phrase
from .models import classical_models, is_esn, quantum_models

#: The widest line :func:`terminal_table` prints.
WIDTH = 100

_MODES = ("baseline", "ridge", "epochs", "trained")


def model_families(rows) -> tuple[tuple, tuple]:
    """The quantum and the classical model names of a study's comparisons: the registered cells of each
    family, the classical ones with the ESNs the rows hold (``"ESN"``, ``"ESN-N"``; a baseline's ESN is a
    baseline, never a model, whatever its name).

    >>> model_families([{"model": "ESN-300", "mode": "ridge"}, {"model": "ESN(4)", "mode": "baseline"}])
    (('QRNN', 'QLSTM', 'QGRU'), ('RNN', 'LSTM', 'GRU', 'ESN-300'))
    """
    esns = dict.fromkeys(r["model"] for r in rows if r["mode"] != "baseline"
                         and (is_esn(r["model"]) or r["model"].startswith("ESN")))
    classical = classical_models()
    return quantum_models(), classical + tuple(m for m in esns if m not in classical)


def _value(r, key) -> float:
    try:
        return float(r.get(key))
    except (TypeError, ValueError):  # None, "" (a metric the row's kind has not)
        return math.nan


def _kind(rows) -> str:
    return rows[0].get("kind") or "forecast"


def _name(model: str, init) -> str:
    return model if init in ("-", "", None) else f"{model} {init}"


def _rank_key(kind: str, rows):
    """A sort key of a cell's rows, best first: the metric's mean; a generation's valid time, then the NRMSE
    over the horizon (many reach the whole horizon)."""
    key, higher = JUDGED_BY[kind][:2]

    def rank(rs):
        vals = [v for v in (_value(r, key) for r in rs) if math.isfinite(v)]
        if not vals:
            return (math.inf, math.inf)
        mean = float(np.mean(vals))
        second = 0.0
        if kind == "generation":
            nr = [v for v in (_value(r, "horizon_nrmse") for r in rs) if math.isfinite(v)]
            second = float(np.mean(nr)) if nr else math.inf
        return (-mean if higher else mean, second)
    return rank


def terminal_table(rows, width: int = WIDTH) -> list[str]:
    """The compact table printed after a run: per task its metric's mean over seeds, a row per model and init,
    a column per mode, the task's best marked ``*``; every line at most ``width`` characters (model names
    cut to fit, ending in ``…``; a width that leaves fewer than 8 characters for them is refused). The seeds'
    count follows a mean of more than one.

    >>> rows = [{"task": "t", "kind": "classification", "model": "ESN-100", "init": "-", "mode": "ridge",
    ...          "seed": s, "test_accuracy": a} for s, a in enumerate((0.9, 0.8))]
    >>> terminal_table(rows)[-1]
    '  ESN-100       0.850 (2)*'
    """
    legend = "Test metric per task: mean over seeds, (n) the seeds' count where more than one, * the task's best."
    lines = textwrap.wrap(legend, width) + [""]
    for task in dict.fromkeys(r["task"] for r in rows):
        here = [r for r in rows if r["task"] == task]
        kind = _kind(here)
        _, higher, metric, fmt = JUDGED_BY[kind]
        by_cell: dict = {}
        for r in here:
            by_cell.setdefault((r["model"], r.get("init", "-"), r["mode"]), []).append(r)
        rank = _rank_key(kind, here)
        best = min(rank(rs) for rs in by_cell.values())
        modes = [m for m in _MODES if any(k[2] == m for k in by_cell)]
        modes += [m for m in dict.fromkeys(k[2] for k in by_cell) if m not in modes]
        names = list(dict.fromkeys((k[0], k[1]) for k in by_cell))
        text = {}
        for (model, init, mode), rs in by_cell.items():
            vals = [v for v in (_value(r, JUDGED_BY[kind][0]) for r in rs) if math.isfinite(v)]
            s = fmt.format(float(np.mean(vals))) if vals else "n/a"
            if len(vals) > 1:
                s += f" ({len(vals)})"
            text[(model, init, mode)] = s + ("*" if vals and rank(rs) == best else " ")
        cols = [max([len(m) + 1] + [len(text[k]) for k in text if k[2] == m]) for m in modes]
        head = f"{task}: {metric} ({'higher' if higher else 'lower'} is better"
        head += ("; ties broken by the NRMSE over the horizon)" if kind == "generation" else ")")
        lines += textwrap.wrap(head, width, subsequent_indent="  ", break_on_hyphens=False) or [head[:width]]
        room = width - 2 - sum(c + 2 for c in cols)
        if room < 8:
            raise ValueError(f"width {width} leaves {room} characters for the model names beside task {task!r}'s "
                             f"{len(modes)} columns ({width - 2 - room} characters); give at least {width + 8 - room}")
        label = [_name(*n) for n in names]
        name_w = max(min(max(len(s) for s in label + ["model + init"]), room), 4)

        def fit(model: str, init="-") -> str:
            # a name too long loses the end of its model's name, never its init (two inits stay two rows)
            s = _name(model, init)
            if len(s) <= name_w:
                return s
            tail = "" if init in ("-", "", None) else " " + init
            return (model[:max(name_w - len(tail) - 1, 1)] + "…" + tail)[-name_w:]

        lines.append(("  " + fit("model + init").ljust(name_w)
                      + "".join("  " + m.rjust(c - 1) + " " for m, c in zip(modes, cols))).rstrip())
        for model, init in names:
            cells = [text.get((model, init, m), "").rjust(c) for m, c in zip(modes, cols)]
            lines.append(("  " + fit(model, init).ljust(name_w) + "".join("  " + c for c in cells)).rstrip())
        lines.append("")
    return lines[:-1] if lines[-1] == "" else lines


def _p(c) -> str:
    return "p n/a" if c["p_value"] is None else f"p = {c['p_value']:.2g}"


def _untested(c) -> str:
    return "1 seed: not tested" if c is not None and c["n_seeds"] == 1 else "no paired seeds: not tested"


def _seeds_phrase(n: int) -> str:
    if n <= 1:
        return f"{n} seed: not tested"
    if smallest_p(n) >= LEVEL:
        return (f"{n} seeds: no comparison can reach p < {LEVEL:g} (the smallest two-sided p of {n} seeds is "
                f"{smallest_p(n):.3g}), so every one ties; more seeds are needed to tell")
    return f"{n} seeds, each comparison a paired two-sided Wilcoxon test at p < {LEVEL:g}"


def reading(rows) -> list[str]:
    """A few plain sentences on the table, every comparison through its paired test over seeds.

    Per task, by its kind's metric: the best baseline and each model cell
    against it ("beats" only at p < 0.05, "ties with" otherwise, with the
    p-value and the seeds won); each model's reservoir + ridge against its
    fully trained mode; the best quantum cell against the best classical one
    in the same mode. With one seed nothing is tested: the sentences give
    the numbers and say "1 seed: not tested".
    """
    quantum, classical = model_families(rows)
    comparisons = study_comparisons(rows, quantum, classical)
    lines, headline = [], {}
    for task in dict.fromkeys(r["task"] for r in rows):
        here = [r for r in rows if r["task"] == task]
        kind = _kind(here)
        key, higher, metric, fmt = JUDGED_BY[kind]
        rank = _rank_key(kind, here)
        groups: dict = {}
        for r in here:
            groups.setdefault((r["model"], r.get("init", "-"), r["mode"]), []).append(r)
        base = {k: rs for k, rs in groups.items() if k[2] == "baseline"}
        models = {k: rs for k, rs in groups.items() if k[2] != "baseline"}
        mine = [c for c in comparisons if c["task"] == task]

        def label(k):
            return f"{_name(k[0], k[1])} [{k[2]}]"

        def find(what, a, b):
            return next((c for c in mine if c["comparison"] == what and c["a"] == a and c["b"] == b), None)

        def avg(k, column=key):
            vals = [v for v in (_value(r, column) for r in groups[k]) if math.isfinite(v)]
            return float(np.mean(vals)) if vals else math.nan

        def mean(k):
            return "n/a" if math.isnan(avg(k)) else fmt.format(avg(k))

        if not base:
            lines.append(f"{task}: no baseline.")
        else:
            kb = min(base, key=lambda k: rank(base[k]))
            shown = f"{metric} {mean(kb)}"
            if kind == "generation":
                shown = f"valid time {avg(kb):.0f} steps, NRMSE {avg(kb, 'horizon_nrmse'):.2e} over the horizon"
            vs = [(k, find("baseline", label(k), label(kb))) for k in models]
            vs = [(k, c) for k, c in vs if c is not None]
            n = max((c["n_seeds"] for _, c in vs), default=0)
            if not vs:
                lines.append(f"{task}: the best baseline is {kb[0]} ({shown}); no model cells.")
            else:
                lines.append(f"{task}: the best baseline is {kb[0]} ({shown}); {_seeds_phrase(n)}.")
            if vs and n <= 1:
                better = sorted((k for k, c in vs if c["n_seeds"] == 1 and rank(models[k]) < rank(base[kb])),
                                key=lambda k: rank(models[k]))
                word = "higher" if higher else "lower"
                lines.append(f"  {metric} {word} than it on that seed: "
                             + (", ".join(f"{label(k)} {mean(k)}" for k in better) if better else "none") + ".")
            elif vs:
                for k, c in vs:
                    if c["verdict"] == "beats":
                        lines.append(f"  {verdict_phrase(c, label(k), label(kb))}.")
                if not any(c["verdict"] == "beats" for _, c in vs):
                    lines.append(f"  no model beats it at p < {LEVEL:g}.")
                ties = sorted(((k, c) for k, c in vs if c["verdict"] == "ties"), key=lambda kc: rank(models[kc[0]]))
                # the ties a reader may take for wins, each with its test; the others by name, with the bound
                same = [(k, c) for k, c in ties if c["note"] == "identical on every seed"]
                ties = [(k, c) for k, c in ties if c["note"] != "identical on every seed"]
                close = [(k, c) for k, c in ties if 2 * c["wins"] >= c["n_seeds"]]
                behind = [(k, c) for k, c in ties if 2 * c["wins"] < c["n_seeds"]]
                if close:
                    lines.append("  ties with it: " + "; ".join(
                        f"{label(k)} {mean(k)} ({_p(c)}, better on {c['wins']} of {c['n_seeds']} seeds)"
                        for k, c in close) + ".")
                if behind:
                    ps = [c["p_value"] for _, c in behind if c["p_value"] is not None]
                    bound = f"p >= {min(ps):.2g}" if ps else "p n/a"
                    lines.append(f"  {'also ' if close else ''}ties with it, better on fewer than half the seeds "
                                 f"({bound}): " + ", ".join(label(k) for k, _ in behind) + ".")
                if same:
                    lines.append("  the same as it on every seed: " + ", ".join(label(k) for k, _ in same) + ".")
                lost = [(k, c) for k, c in vs if c["verdict"] == "loses"]
                if lost:
                    lines.append(f"  loses to it (p <= {max(c['p_value'] for _, c in lost):.2g} each): "
                                 + ", ".join(label(k) for k, _ in lost) + ".")
        for model, init in dict.fromkeys((k[0], k[1]) for k in models):
            kr, kt = (model, init, "ridge"), (model, init, "trained")
            if kr not in models or kt not in models:
                continue
            c = find("reservoir vs trained", label(kr), label(kt))
            head = f"  {_name(model, init)}: {metric}, reservoir + ridge {mean(kr)} vs fully trained {mean(kt)}"
            if c is None or c["n_seeds"] <= 1:
                lines.append(f"{head} ({_untested(c)}).")
            else:
                lines.append(f"{head}: {verdict_phrase(c, 'reservoir + ridge', 'fully trained')}.")
        q = [k for k in models if k[0] in quantum]
        if q:
            kq = min(q, key=lambda k: rank(models[k]))
            cl = [k for k in models if k[0] in classical and k[2] == kq[2]]
            if cl:
                kc = min(cl, key=lambda k: rank(models[k]))
                c = find("quantum vs classical", label(kq), label(kc))
                head = (f"  the best quantum cell, {label(kq)} {mean(kq)}, against the best classical one in its "
                        f"mode, {label(kc)} {mean(kc)}")
                lines.append(f"{head} ({_untested(c)})." if c is None or c["n_seeds"] <= 1
                             else f"{head}: {verdict_phrase(c, label(kq), label(kc))}.")
                if c is not None and c["n_seeds"] > 1:
                    headline[task] = c  # a comparison without a p-value (identical seeds) counts as p = 1
        if kind == "generation" and models:
            kg = min(models, key=lambda k: rank(models[k]))
            count = len(models[kg])
            over = f"mean over {count} seeds" if count > 1 else "one seed"
            lines.append(f"  the longest valid generation: {label(kg)}, {mean(kg)} steps ({over}), "
                         f"NRMSE {avg(kg, 'horizon_nrmse'):.2e}.")
    if len(headline) > 1:
        lines += _across_tasks(headline)
    return lines


def _across_tasks(headline: dict) -> list[str]:
    """The best quantum cell against the best classical one on every task, Holm-adjusted over the tasks:
    what holds once the study's headline claims are counted together."""
    adjusted = dict(zip(headline, holm([c["p_value"] for c in headline.values()])))

    def held(verdict):
        return [f"{t} (p_holm = {adjusted[t]:.2g})" for t, c in headline.items()
                if c["verdict"] == verdict and adjusted[t] is not None and adjusted[t] < LEVEL]

    beats, loses = held("beats"), held("loses")
    rest = len(headline) - len(beats) - len(loses)
    return [f"Across the {len(headline)} tasks, the best quantum cell against the best classical one, Holm-adjusted "
            f"for {len(headline)} tests at p < {LEVEL:g} (each task's best cells are picked by their test means):",
            "  beats on " + (", ".join(beats) if beats else "no task") + "; loses on "
            + (", ".join(loses) if loses else "no task") + f"; holds neither way on {rest}."]
