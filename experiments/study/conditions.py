"""Device conditions of a study: shots and noise for the quantum reservoirs (the ``[conditions]`` section).

::

    [conditions]
    shots = ["exact", 1000, 10000]      # "exact": no shot noise; ints: shots per circuit
    noise = ["exact", "fake_manila", {p1 = 0.001, p2 = 0.01, readout = 0.02}]

The conditions are every pair of a noise entry and a shots entry; the exact
one (no noise, no shots) is always run, first, as the reference. A noise
entry is ``"exact"``, a fake IBM device by name (its calibration for the
qubits its transpiler picks: ``Noise.from_device``), or a table of
:class:`qrnn.backends.Noise` arguments. They run on the torch engine
(``TorchBackend(shots=, seed=, noise=)``), for the quantum reservoirs in
the modes whose circuits are frozen (``ridge`` and ``epochs``); classical
models, baselines and fully trained cells run exact only (shots have no
gradient).
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

EXACT = "exact"
_NOISE_KEYS = ("p1", "p2", "readout", "t1", "t2", "gate_time", "gate_time_2q")


@dataclass(frozen=True)
class Condition:
    """One device condition: ``shots`` (None: exact values) and ``noise`` (None, a device name, or
    ``(key, value)`` pairs of :class:`~qrnn.backends.Noise` arguments)."""

    shots: int | None = None
    noise: str | tuple | None = None

    @property
    def label(self) -> str:
        """``"exact"``, or e.g. ``"fake_manila shots=1000"`` (the cells, tables and plots name it so)."""
        parts = []
        if isinstance(self.noise, str):
            parts.append(self.noise)
        elif self.noise is not None:
            parts.append(",".join(f"{k}={v!r}" for k, v in self.noise))  # repr: distinct values, distinct labels
        if self.shots is not None:
            parts.append(f"shots={self.shots}")
        return " ".join(parts) or EXACT

    @property
    def slug(self) -> str:
        """The label as a file name part."""
        return re.sub(r"[^A-Za-z0-9.=_-]+", "_", self.label)

    def backend(self, seed: int, n_qubits: int):
        """The torch engine under this condition for a reservoir of ``n_qubits``, or None (exact)."""
        if self.shots is None and self.noise is None:
            return None
        from qrnn.backends import TorchBackend

        return TorchBackend(shots=self.shots, seed=seed, noise=_noise(self.noise, n_qubits))


@functools.lru_cache(maxsize=32)
def _noise(spec, n_qubits: int):
    from qrnn.backends import IBMBackend, Noise
    from qrnn.circuit import VQC

    if spec is None:
        return None
    if isinstance(spec, str):
        return Noise.from_device(spec, qubits=IBMBackend(spec, seed=0).layout(VQC(n_qubits)))
    return Noise(**dict(spec))


def parse_conditions(table, error) -> tuple:
    """The ``[conditions]`` table -> the conditions, exact first; ``error(where, message)`` builds the errors."""
    if not isinstance(table, dict):
        raise error("[conditions]", "must be a table with shots = [...] and noise = [...]")
    unknown = set(table) - {"shots", "noise"}
    if unknown:
        raise error(f"conditions.{sorted(unknown)[0]}", "unknown field; [conditions] takes ['noise', 'shots']")
    shots = table.get("shots", [EXACT])
    noises = table.get("noise", [EXACT])
    for name, values in (("shots", shots), ("noise", noises)):
        if not isinstance(values, list) or not values:
            raise error(f"conditions.{name}", f"must be a non-empty list, got {values!r}")
    parsed_shots = []
    for s in shots:
        if s == EXACT:
            parsed_shots.append(None)
        elif isinstance(s, int) and not isinstance(s, bool) and s >= 1:
            parsed_shots.append(s)
        else:
            raise error("conditions.shots", f"entries are \"exact\" or integers >= 1, got {s!r}")
    parsed_noise = [_parse_noise(n, error) for n in noises]
    conditions = [Condition()]
    for nz in parsed_noise:
        for s in parsed_shots:
            c = Condition(s, nz)
            if c.label in [k.label for k in conditions] and c != Condition():
                raise error("[conditions]", f"condition {c.label!r} is given twice")
            if c not in conditions:
                conditions.append(c)
    return tuple(conditions)


def device_qubits(conditions) -> dict:
    """``{device name: its number of qubits}`` for the device conditions."""
    from qrnn.backends.ibm.devices import fake_backend

    return {c.noise: fake_backend(c.noise).num_qubits for c in conditions if isinstance(c.noise, str)}


def _parse_noise(entry, error):
    from qrnn.backends import Noise

    if entry == EXACT:
        return None
    if isinstance(entry, str):
        from qrnn.backends.ibm.devices import fake_device_names

        names = fake_device_names()
        if entry not in names:
            raise error("conditions.noise", f"{entry!r} is not \"exact\" nor a fake device; devices: "
                        f"{sorted(names)[:6]}... (qrnn.backends.ibm.devices.fake_device_names())")
        return entry
    if isinstance(entry, dict):
        bad = set(entry) - set(_NOISE_KEYS)
        if bad:
            raise error("conditions.noise", f"a noise table takes {list(_NOISE_KEYS)}, got {sorted(bad)}")
        try:
            Noise(**entry)  # every value checked now, before any work
        except (TypeError, ValueError) as exc:
            raise error("conditions.noise", str(exc)) from None
        if any(isinstance(v, list) for v in entry.values()):
            raise error("conditions.noise", "give one value for all wires in a study's noise table (the "
                        "reservoirs' sizes vary); per-wire values come with a device name")
        return tuple(sorted((k, float(v)) for k, v in entry.items()))
    raise error("conditions.noise", f"entries are \"exact\", a fake device name or a table, got {entry!r}")


def condition_of(label: str, conditions) -> Condition:
    for c in conditions:
        if c.label == label:
            return c
    raise KeyError(label)


# --- the conditions' table and plots ---------------------------------------------------------------

CONDITION_COLUMNS = ("task", "model", "init", "mode", "condition", "test_mse", "seeds", "window_mse", "esn_mse",
                     "beats_window", "beats_esn")


def condition_rows(rows) -> list[dict]:
    """Mean test MSE over seeds of each quantum reservoir under each condition, beside the ridge on the raw
    window and the ESN baseline of the same size (both exact: they have no circuits)."""
    import numpy as np

    out = []
    for task in dict.fromkeys(r["task"] for r in rows):
        here = [r for r in rows if r["task"] == task]
        base = {r["model"]: r["test_mse"] for r in here if r["mode"] == "baseline"}
        window = base.get("ridge on the raw window")
        esn = next((v for k, v in base.items() if k.startswith("ESN(")), None)
        groups = {}
        for r in here:
            if r["mode"] != "baseline" and r.get("init", "-") != "-":  # quantum reservoirs
                key = (r["model"], r["init"], r["mode"], r.get("condition", EXACT))
                groups.setdefault(key, []).append(r["test_mse"])
        for (model, init, mode, cond), vals in groups.items():
            m = float(np.mean(vals))
            out.append({"task": task, "model": model, "init": init, "mode": mode, "condition": cond, "test_mse": m,
                        "seeds": len(vals), "window_mse": window, "esn_mse": esn,
                        "beats_window": None if window is None else bool(m < window),
                        "beats_esn": None if esn is None else bool(m < esn)})
    return out


def write_conditions(cfg, rows, out) -> list:
    """``conditions.csv``, ``conditions.md`` and ``TASK-conditions.png`` (test MSE against condition)."""
    import csv

    table = condition_rows(rows)
    with open(out / "conditions.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CONDITION_COLUMNS)
        writer.writeheader()
        writer.writerows(table)
    labels = [c.label for c in cfg.conditions]
    lines = []
    for task in dict.fromkeys(r["task"] for r in table):
        here = [r for r in table if r["task"] == task]
        lines += [f"### {task}", "", f"ridge on the raw window {here[0]['window_mse']:.3g}, "
                  f"same-size ESN {here[0]['esn_mse']:.3g} (test MSE); each cell: mean test MSE over seeds, "
                  "then W if it beats the window, E if it beats the ESN", "",
                  "| model | init | mode | " + " | ".join(labels) + " |", "|---|---|---|" + "---|" * len(labels)]
        for key in dict.fromkeys((r["model"], r["init"], r["mode"]) for r in here):
            by = {r["condition"]: r for r in here if (r["model"], r["init"], r["mode"]) == key}
            cells = []
            for lab in labels:
                r = by.get(lab)
                cells.append("-" if r is None else f"{r['test_mse']:.3g} {'W' if r['beats_window'] else ''}"
                             f"{'E' if r['beats_esn'] else ''}".rstrip())
            lines.append(f"| {key[0]} | {key[1]} | {key[2]} | " + " | ".join(cells) + " |")
        lines.append("")
    (out / "conditions.md").write_text("\n".join(lines))
    return _plot_conditions(table, labels, out)


def _plot_conditions(table, labels, out) -> list:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import _colours

    paths = []
    for task in dict.fromkeys(r["task"] for r in table):
        here = [r for r in table if r["task"] == task]
        colours = _colours(list(dict.fromkeys(r["model"] for r in here)))
        fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(labels) + 3), 4), layout="constrained")
        x = range(len(labels))
        for key in dict.fromkeys((r["model"], r["init"], r["mode"]) for r in here):
            by = {r["condition"]: r["test_mse"] for r in here if (r["model"], r["init"], r["mode"]) == key}
            ys = [by.get(lab, float("nan")) for lab in labels]
            ax.plot(x, ys, marker="o", color=colours.get(key[0]), ls="-" if key[2] == "ridge" else ":",
                    alpha=1.0 if key[1] == "uniform" else 0.6, label=f"{key[0]} {key[1]} [{key[2]}]")
        ax.axhline(here[0]["window_mse"], color="black", ls="--", lw=1, label="ridge on the raw window")
        if here[0]["esn_mse"] is not None:
            ax.axhline(here[0]["esn_mse"], color="tab:pink", ls="--", lw=1, label="same-size ESN")
        ax.set_xticks(list(x), labels, rotation=30, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("test MSE (mean over seeds)")
        ax.set_title(f"{task}: the quantum reservoirs under shots and device noise", fontsize=10)
        ax.legend(fontsize=7, ncol=2)
        path = out / f"{task}-conditions.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def condition_reading(rows, conditions) -> list[str]:
    """One line per task and condition: which quantum reservoirs still beat the raw window and the ESN."""
    table = condition_rows(rows)
    lines = []
    for task in dict.fromkeys(r["task"] for r in table):
        for c in conditions:
            here = [r for r in table if r["task"] == task and r["condition"] == c.label and r["mode"] == "ridge"]
            if not here:
                continue
            both = sorted(f"{r['model']} {r['init']}" for r in here if r["beats_window"] and r["beats_esn"])
            lines.append(f"{task}, {c.label}: " + (f"{', '.join(both)} beat both the raw window and the "
                                                    "same-size ESN." if both else
                                                    "no quantum reservoir + ridge beats both the raw window and "
                                                    "the same-size ESN."))
    return lines
