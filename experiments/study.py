"""Reservoir against fully trained, quantum against classical: a study from a TOML config.

Every cell of the grid tasks x models x modes x seeds x inits is one model
fitted on the first part of a task's windows (in time order) and scored on
the rest. Modes:

- ``ridge``: the reservoir, frozen, and a closed-form ridge readout (alpha by
  leave-one-out cross-validation);
- ``epochs``: the reservoir, frozen, and its readout trained by epochs (the
  paper's reservoir protocol);
- ``trained``: the model and its readout trained end to end (``trainable=True``).

Baselines in every table: persistence (the last known value of the
forecast series: the window's last value, or on the NARMA tasks, whose
windows hold the input, the previous output), ridge on the raw window, and an
ESN with as many units as a model's quantum reservoirs have qubits in all
(``ensemble x (1 + hidden_size)``). The ESN model has no trainable weights,
so its ``trained`` cell is left out of the grid.

Columns: ``seconds`` is the wall-clock time of the cell's fit (choosing the
input scaling, building the model, fitting; in modes ``epochs`` and
``trained`` it includes the test-loss pass after every epoch that draws the
learning curves); ``seconds_per_epoch`` is training only. Circuit
evaluations count the forward passes that fit and predict (the training
windows every epoch, the final predictions, the fits that choose the input
scaling); the per-epoch test-loss passes and the backward passes (about two
forward passes each with the adjoint method) are not counted.

Outputs under ``[study] out``: ``results.csv`` and ``results.md`` (one row
per cell), ``histories.json`` (per-epoch records), and PNG plots per task:
test loss against epoch and against seconds, and predictions against the
truth with the train/test boundary marked.

Every finished cell is stored under ``OUT/cells/`` as it finishes; a run
reuses the stored cells made with the same settings, so an interrupted study
resumes, and ``--collect`` builds the tables from what is stored so far. A
damaged stored cell (cut off, edited) is named in a warning and run again.

Run: ``python -m experiments.study CONFIG.toml [--out DIR] [--quiet] [--ray [ADDRESS]] [--collect]``
(``experiments/configs/quick.toml`` is the small one.)
"""
from __future__ import annotations

import argparse
import csv
import functools
import gzip
import json
import time
import tomllib
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qrnn import QGRU, QLSTM, QRNN, Ensemble, ReservoirRegressor, Ridge, TrainedRegressor
from qrnn.backends import warm_up
from qrnn.classical import ESN, GRU, LSTM, RNN
from qrnn._validation import check_choice
from qrnn.metrics import mse, nrmse
from qrnn.reservoir import FEATURES
from qrnn.tasks import (chronological_split, delayed_quantum_control, minmax_scale, narma,
                        narma10_stream, split_point)

from .compare import TASKS as _COMPARE_TASKS
from .compare import target_windows

# Every task of SPEC section 4 that the paper used, plus the classic NARMA-10
# stream and the sine smoke test: (series, target or None, window). Windows of
# 4 predict the next value, as in the paper; on NARMA a window of the input u
# ending at t predicts the output y_{t+1}. The stream's target needs the input
# 10 steps back, so its windows are 10 long (1000 steps of one seeded stream,
# no rescaling).
_EXTRA_TASKS = {
    "narma10": lambda: (*narma(300, order=10), 4),
    "delayed_control": lambda: (minmax_scale(delayed_quantum_control()), None, 4),
    "narma10_stream": lambda: (*narma10_stream(1000, seed=0), 10),
}
TASKS = (*_COMPARE_TASKS, *_EXTRA_TASKS)


def _series(task: str):
    check_choice(task, "task", TASKS)
    if task in _EXTRA_TASKS:
        return _EXTRA_TASKS[task]()
    return (*_COMPARE_TASKS[task](), 4)


def task_windows(task: str):
    """``(X, y)`` for a study task: windows ``(n, T, 1)`` and next values ``(n,)``."""
    return target_windows(*_series(task))


@functools.lru_cache(maxsize=None)
def _shape(task: str) -> tuple[int, int]:
    """``(windows, steps per window)`` of a task."""
    return task_windows(task)[0].shape[:2]


def persistence(task: str) -> np.ndarray:
    """The last known value of the forecast series at every window of :func:`task_windows`: the
    window's last value, or on NARMA (windows of the input, targets from the output) the previous output."""
    u, target, window = _series(task)
    X, _ = target_windows(u, target, window)
    return X[:, -1, 0] if target is None else target[window - 1:window - 1 + len(X)]

QUANTUM = {"QRNN": QRNN, "QLSTM": QLSTM, "QGRU": QGRU}
CLASSICAL = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
MODELS = (*QUANTUM, *CLASSICAL, "ESN")
MODES = ("ridge", "epochs", "trained")
INITS = ("normal", "uniform")
OPTIMIZERS = ("rmsprop", "adam", "sgd")


@dataclass(frozen=True)
class StudyConfig:
    """A validated study configuration (see :func:`load_config` for the TOML layout)."""

    name: str
    tasks: tuple
    models: tuple
    modes: tuple
    seeds: tuple
    inits: tuple = ("normal",)
    hidden_size: int = 3
    esn_size: int = 100
    train_fraction: float = 0.67
    epochs: int = 100
    batch_size: int = 10
    optimizer: str = "rmsprop"
    lr: float = 0.01
    out: str = "results/study"
    # [reservoir]: richer quantum reservoirs (the strong configuration); the defaults are the paper's
    features: str = "output"
    correlators: bool = False
    ensemble: int = 1
    input_scalings: tuple = (1.0,)
    validation_fraction: float = 0.2


# The [reservoir] fields and their paper defaults (see cell_settings).
RESERVOIR_DEFAULTS = {"features": "output", "correlators": False, "ensemble": 1, "input_scalings": (1.0,),
                      "validation_fraction": 0.2}


_SCHEMA = {
    "study": {"name": str, "out": str, "tasks": list, "models": list, "modes": list, "seeds": list,
              "inits": list, "train_fraction": float},
    "models": {"hidden_size": int, "esn_size": int},
    "reservoir": {"features": str, "correlators": bool, "ensemble": int, "input_scalings": list,
                  "validation_fraction": float},
    "training": {"epochs": int, "batch_size": int, "optimizer": str, "lr": float},
}


def _field_error(where: str, message: str) -> ValueError:
    return ValueError(f"config field {where}: {message}")


def _choices(values, where: str, valid) -> tuple:
    if not values:
        raise _field_error(where, f"must name at least one of {list(valid)}")
    for v in values:
        if v not in valid:
            raise _field_error(where, f"{v!r} is not one of {list(valid)}")
    if len(set(values)) != len(values):
        raise _field_error(where, f"has duplicates: {values}")
    return tuple(values)


def parse_config(raw: dict) -> StudyConfig:
    """Check every field of a parsed TOML document before any work starts; errors name the field."""
    if not isinstance(raw, dict):
        raise ValueError("the config must be a TOML document")
    for section in raw:
        if section not in _SCHEMA:
            raise _field_error(f"[{section}]", f"unknown section; expected {sorted(_SCHEMA)}")
    values = {}
    for section, fields in _SCHEMA.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise _field_error(f"[{section}]", "must be a table")
        for key, value in table.items():
            where = f"{section}.{key}"
            if key not in fields:
                raise _field_error(where, f"unknown field; [{section}] takes {sorted(fields)}")
            want = fields[key]
            ok = isinstance(value, want) and not (want is int and isinstance(value, bool))
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                value, ok = float(value), True
            if not ok:
                raise _field_error(where, f"must be of type {want.__name__}, got {type(value).__name__} {value!r}")
            # TOML has inf and nan; no field means them
            if any(isinstance(v, float) and not np.isfinite(v) for v in (value if want is list else [value])):
                raise _field_error(where, f"must hold finite numbers, got {value!r}")
            values[key] = value
    for required in ("name", "tasks", "models", "modes", "seeds"):
        if required not in values:
            raise _field_error(f"study.{required}", "is required")
    cfg = {
        "name": values["name"],
        "tasks": _choices(values["tasks"], "study.tasks", TASKS),
        "models": _choices(values["models"], "study.models", MODELS),
        "modes": _choices(values["modes"], "study.modes", MODES),
        "inits": _choices(values.get("inits", ["normal"]), "study.inits", INITS),
        "optimizer": _choices([values.get("optimizer", "rmsprop")], "training.optimizer", OPTIMIZERS)[0],
    }
    seeds = values["seeds"]
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise _field_error("study.seeds", f"must be a non-empty list of integers >= 0, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise _field_error("study.seeds", f"has duplicates: {seeds}")
    cfg["seeds"] = tuple(seeds)
    for key, low in (("hidden_size", 1), ("esn_size", 1), ("epochs", 1), ("batch_size", 1)):
        if key in values and values[key] < low:
            raise _field_error(f"{'training' if key in ('epochs', 'batch_size') else 'models'}.{key}",
                               f"must be >= {low}, got {values[key]}")
    if "lr" in values and not values["lr"] > 0:
        raise _field_error("training.lr", f"must be > 0, got {values['lr']}")
    if "train_fraction" in values and not 0 < values["train_fraction"] < 1:
        raise _field_error("study.train_fraction", f"must be in (0, 1), got {values['train_fraction']}")
    if "features" in values:
        cfg["features"] = _choices([values["features"]], "reservoir.features", FEATURES)[0]
    if "ensemble" in values and values["ensemble"] < 1:
        raise _field_error("reservoir.ensemble", f"must be >= 1, got {values['ensemble']}")
    if "input_scalings" in values:
        scalings = values["input_scalings"]
        if (not scalings or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
                                for v in scalings) or len(set(scalings)) != len(scalings)):
            raise _field_error("reservoir.input_scalings",
                               f"must be a non-empty list of distinct numbers > 0, got {scalings!r}")
        cfg["input_scalings"] = tuple(float(v) for v in scalings)
    if "validation_fraction" in values and not 0 < values["validation_fraction"] < 1:
        raise _field_error("reservoir.validation_fraction",
                           f"must be in (0, 1), got {values['validation_fraction']}")
    for key in ("hidden_size", "esn_size", "train_fraction", "epochs", "batch_size", "lr", "out", "correlators",
                "ensemble", "validation_fraction"):
        if key in values:
            cfg[key] = values[key]
    return _check_against_tasks(StudyConfig(**cfg))


# A quantum cell of hidden size H runs on 1 + H qubits; at 24 one state vector is 256 MiB per window.
MAX_QUBITS = 24


def _check_against_tasks(cfg: StudyConfig) -> StudyConfig:
    """The fields that depend on the tasks' sizes: every split leaves data on both sides, and a
    batch fits in the training windows of every task (nothing is shrunk silently); and the
    quantum models' qubit count."""
    if set(cfg.models) & set(QUANTUM) and 1 + cfg.hidden_size > MAX_QUBITS:
        raise _field_error("models.hidden_size", f"{cfg.hidden_size} needs {1 + cfg.hidden_size} qubits for the "
                           f"quantum models; the study runs them up to {MAX_QUBITS} (hidden_size <= {MAX_QUBITS - 1})")
    for task in cfg.tasks:
        n_windows = _shape(task)[0]
        n_train = split_point(n_windows, cfg.train_fraction)
        if n_train < 2 or n_train >= n_windows:
            raise _field_error("study.train_fraction", f"{cfg.train_fraction} leaves {n_train} training and "
                               f"{n_windows - n_train} test windows of the {n_windows} of task {task!r}; "
                               "it needs at least 2 and 1")
        if {"epochs", "trained"} & set(cfg.modes) and cfg.batch_size > n_train:
            raise _field_error("training.batch_size", f"{cfg.batch_size} is larger than the {n_train} "
                               f"training windows of task {task!r}")
        if len(cfg.input_scalings) > 1:
            n_fit = split_point(n_train, 1.0 - cfg.validation_fraction)
            if n_fit < 2 or n_fit >= n_train:
                raise _field_error("reservoir.validation_fraction",
                                   f"{cfg.validation_fraction} leaves {n_fit} fitting and {n_train - n_fit} "
                                   f"validation windows of the {n_train} training windows of task {task!r}; "
                                   "it needs at least 2 and 1")
    return cfg


def load_config(path) -> StudyConfig:
    """Read and validate a study config::

        [study]
        name = "quick"
        out = "results/study-quick"        # optional
        tasks = ["damped_shm", "narma5"]   # from experiments.study.TASKS
        models = ["QRNN", "QLSTM", "QGRU", "RNN", "LSTM", "GRU", "ESN"]
        modes = ["ridge", "epochs", "trained"]
        seeds = [0]
        inits = ["normal", "uniform"]      # quantum models; optional
        train_fraction = 0.67              # optional

        [models]
        hidden_size = 3                    # quantum and classical cells; quantum: <= 23 (1 + hidden_size qubits)
        esn_size = 100                     # the ESN model

        [reservoir]                        # quantum models; optional, defaults are the paper's
        features = "output"                # or "state", "all"
        correlators = false                # add <Z_i Z_j> of the output circuit
        ensemble = 1                       # reservoirs per model, features side by side
        input_scalings = [1.0]             # several: chosen per cell on a validation split
        validation_fraction = 0.2          # the last part of the training windows

        [training]                         # modes "epochs" and "trained"
        epochs = 100
        batch_size = 10
        optimizer = "rmsprop"
        lr = 0.01
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no study config at {path}")
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))  # TOML is UTF-8, whatever the locale
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not UTF-8 text, as TOML must be: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from None
    return parse_config(raw)


# -- the grid --

@dataclass(frozen=True)
class Cell:
    task: str
    model: str
    mode: str
    seed: int
    init: str  # "-" for classical models

    @property
    def label(self) -> str:
        return f"{self.model}" + (f" {self.init}" if self.init != "-" else "") + f" [{self.mode}]"


def grid(cfg: StudyConfig) -> list[Cell]:
    cells = []
    for task in cfg.tasks:
        for model in cfg.models:
            for mode in cfg.modes:
                if model == "ESN" and mode == "trained":
                    continue  # nothing to train but the readout
                inits = cfg.inits if model in QUANTUM else ("-",)
                for seed in cfg.seeds:
                    for init in inits:
                        cells.append(Cell(task, model, mode, seed, init))
    return cells


def build_model(cell: Cell, cfg: StudyConfig, input_scaling: float = 1.0, trainable=None):
    trainable = cell.mode == "trained" if trainable is None else trainable
    if cell.model in QUANTUM:
        # members of an ensemble get seeds of their own, distinct across the cells' seeds
        members = [QUANTUM[cell.model](1, cfg.hidden_size, init=cell.init, seed=cell.seed * cfg.ensemble + k,
                                       trainable=trainable, features=cfg.features, correlators=cfg.correlators,
                                       input_scaling=input_scaling) for k in range(cfg.ensemble)]
        return members[0] if cfg.ensemble == 1 else Ensemble(members)
    if cell.model in CLASSICAL:
        return CLASSICAL[cell.model](1, cfg.hidden_size, seed=cell.seed, trainable=trainable)
    return ESN(1, cfg.esn_size, seed=cell.seed)


def _data(task: str, train_fraction: float):
    X, y = task_windows(task)
    return chronological_split(X, y, train_fraction)


def choose_input_scaling(cell: Cell, cfg: StudyConfig, Xtr, ytr) -> float:
    """The input scaling of ``cfg.input_scalings`` whose reservoir + ridge readout forecasts the
    last ``validation_fraction`` of the training windows best (fitted on the rest; test data unseen).
    Ridge is the judge in every mode: it is cheap, and it ranks reservoirs by their features."""
    if len(cfg.input_scalings) == 1 or cell.model not in QUANTUM:
        return cfg.input_scalings[0] if cell.model in QUANTUM else 1.0
    Xa, Xv, ya, yv = chronological_split(Xtr, ytr, 1.0 - cfg.validation_fraction)
    scores = {}
    for scaling in cfg.input_scalings:
        est = ReservoirRegressor(build_model(cell, cfg, scaling, trainable=False), alpha="loo").fit(Xa, ya)
        scores[scaling] = mse(yv, est.predict(Xv))
    return min(scores, key=scores.get)


_WARM = False


def _warm() -> None:
    """One-time costs of a process, paid outside every cell's timing: numba's kernels load
    (``warm_up``), and torch's first optimizer imports its compiler stack (about 2 s)."""
    global _WARM
    if not _WARM:
        import torch

        warm_up()
        torch.optim.RMSprop([torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], lr=0.01)
        _WARM = True


def run_cell(cell: Cell, cfg: StudyConfig) -> tuple[dict, dict]:
    """Fit one cell; return its results row and its per-epoch history (empty for ridge)."""
    Xtr, Xte, ytr, yte = _data(cell.task, cfg.train_fraction)
    _warm()
    start = time.perf_counter()
    scaling = choose_input_scaling(cell, cfg, Xtr, ytr)
    model = build_model(cell, cfg, scaling)
    if cell.mode == "ridge":
        est = ReservoirRegressor(model, alpha="loo").fit(Xtr, ytr)
        history, n_params = [], model.n_features + 1
    else:
        est = TrainedRegressor(model, epochs=cfg.epochs, batch_size=cfg.batch_size,
                               optimizer=cfg.optimizer, lr=cfg.lr, random_state=cell.seed, progress=False)
        est.fit(Xtr, ytr, monitor=(Xte, yte))
        history = est.history_
        n_params = model.n_features + 1 + sum(p.numel() for p in est.model_.parameters() if p.requires_grad)
    seconds = time.perf_counter() - start
    p_tr, p_te = est.predict(Xtr), est.predict(Xte)
    row = {
        "task": cell.task, "model": cell.model, "init": cell.init, "mode": cell.mode, "seed": cell.seed,
        "train_mse": mse(ytr, p_tr), "test_mse": mse(yte, p_te),
        "train_nrmse": nrmse(ytr, p_tr), "test_nrmse": nrmse(yte, p_te),
        "epochs": len(history), "epochs_to_5pct": _epochs_to_within(history, 0.05),
        "seconds": seconds, "seconds_per_epoch": (sum(h["seconds"] for h in history) / len(history)
                                                  if history else None),
        "trained_params": n_params, "circuit_evaluations": circuit_evaluations(cell, cfg, len(history)),
        "input_scaling": scaling if cell.model in QUANTUM else None,
    }
    return row, {"cell": cell.__dict__, "history": history, "predictions": np.concatenate([p_tr, p_te]).tolist()}


def circuit_evaluations(cell: Cell, cfg: StudyConfig, epochs: int) -> int:
    """Circuits evaluated (one circuit on one window's step) to fit a cell and predict with it.

    The training windows' features at every epoch (``trained``; a frozen reservoir's once), every
    window's features under the final model, and the ridge fits that choose the input scaling when
    there are several; not the per-epoch test-loss passes, nor backward passes.
    """
    if cell.model not in QUANTUM:
        return 0
    n_windows, steps = _shape(cell.task)
    n_train = split_point(n_windows, cfg.train_fraction)
    per_window = QUANTUM[cell.model].n_circuits * cfg.ensemble * steps
    # fitting (every epoch when the circuits train, once for a frozen reservoir), then predicting every window
    fits = n_train * (epochs if cell.mode == "trained" else 1) + n_windows
    if len(cfg.input_scalings) > 1:
        fits += len(cfg.input_scalings) * n_train
    return per_window * fits


def _epochs_to_within(history, fraction: float):
    """First epoch whose test (monitor) loss is within ``fraction`` of the final one."""
    if not history:
        return None
    losses = [h["monitor_loss"] for h in history]
    final = losses[-1]
    return next(i + 1 for i, v in enumerate(losses) if abs(v - final) <= fraction * abs(final))


def baselines(task: str, cfg: StudyConfig) -> list[dict]:
    """Persistence, ridge on the raw window, and an ESN with as many units as a model's quantum
    reservoirs have qubits in all."""
    Xtr, Xte, ytr, yte = _data(task, cfg.train_fraction)
    last = persistence(task)
    rows = []
    lin = Ridge(alpha="loo").fit(Xtr[:, :, 0], ytr)
    esn_units = cfg.ensemble * (1 + cfg.hidden_size)
    esn = ReservoirRegressor(ESN(1, esn_units, seed=0), alpha="loo").fit(Xtr, ytr)
    for name, p_tr, p_te, n in (
            ("persistence", last[:len(Xtr)], last[len(Xtr):], 0),
            ("ridge on the raw window", lin.predict(Xtr[:, :, 0]), lin.predict(Xte[:, :, 0]), Xtr.shape[1] + 1),
            (f"ESN({esn_units})", esn.predict(Xtr), esn.predict(Xte), esn_units + 1)):
        rows.append({"task": task, "model": name, "init": "-", "mode": "baseline", "seed": 0,
                     "train_mse": mse(ytr, p_tr), "test_mse": mse(yte, p_te),
                     "train_nrmse": nrmse(ytr, p_tr), "test_nrmse": nrmse(yte, p_te),
                     "epochs": 0, "epochs_to_5pct": None, "seconds": 0.0, "seconds_per_epoch": None,
                     "trained_params": n, "circuit_evaluations": 0, "input_scaling": None})
    return rows


def run(cfg: StudyConfig, out=None, progress: bool = True, ray=None, collect_only: bool = False) -> dict:
    """Run the whole grid; write tables, histories and plots; return them.

    Every finished cell is written at once to ``OUT/cells/`` (one JSON file
    per cell, with the settings it was run with), and a run reuses the cells
    it finds there that were run with the same settings: a long study that
    is interrupted resumes where it stopped, and adding seeds or tasks to a
    config runs only the new cells. ``collect_only=True`` runs nothing and
    builds the tables and plots from the stored cells (``missing`` in the
    result lists the cells not yet run).

    ``ray=None`` runs the cells in this process. ``ray="local"`` starts a local
    Ray and runs every cell as a Ray task; any other string is the address of
    a running Ray cluster to join. The cells are independent and seeded, so
    both give the same table (up to the last bits of floating-point sums
    that a different thread count can reorder).
    """
    from tqdm.auto import tqdm

    out = Path(out or cfg.out)
    store = out / "cells"
    store.mkdir(parents=True, exist_ok=True)
    cells = grid(cfg)
    settings = cell_settings(cfg)
    results = {c: _load_cell(store, c, settings) for c in cells}
    todo = [c for c in cells if results[c] is None]
    reused = len(cells) - len(todo)
    if todo and not collect_only:
        def keep(cell, result):
            _save_cell(store, cell, settings, result)
            results[cell] = result

        bar = tqdm(total=len(todo), desc=f"study {cfg.name}", unit="cell", disable=None if progress else True)
        if ray:
            _run_on_ray(todo, cfg, ray, bar, keep)
        else:
            for cell in todo:
                keep(cell, run_cell(cell, cfg))
                bar.update()
        bar.close()
    missing = [c for c in cells if results[c] is None]
    tasks = [t for t in cfg.tasks if any(c.task == t and results[c] is not None for c in cells)]
    rows, histories = [], []
    for task in tasks:
        rows += baselines(task, cfg)
    for cell in cells:
        if results[cell] is not None:
            # recounted from the settings, so that every stored cell counts the same way
            results[cell][0]["circuit_evaluations"] = circuit_evaluations(cell, cfg, results[cell][0]["epochs"])
            rows.append(results[cell][0])
            histories.append(results[cell][1])
    write_tables(rows, out)
    (out / "histories.json").write_text(json.dumps(histories))
    plots = write_plots(cfg, rows, histories, out, tasks)
    return {"rows": rows, "histories": histories, "plots": plots, "out": out, "reused": reused,
            "missing": missing}


def cell_settings(cfg: StudyConfig) -> dict:
    """What a cell's result depends on besides the cell itself: a stored cell is reused only if these match."""
    settings = {"hidden_size": cfg.hidden_size, "esn_size": cfg.esn_size, "train_fraction": cfg.train_fraction,
                "epochs": cfg.epochs, "batch_size": cfg.batch_size, "optimizer": cfg.optimizer, "lr": cfg.lr}
    # [reservoir] fields only where they differ from the paper's defaults, so that
    # stores written before these options existed stay valid
    for key, default in RESERVOIR_DEFAULTS.items():
        value = getattr(cfg, key)
        if value != default:
            settings[key] = list(value) if isinstance(value, tuple) else value
    return settings


def _cell_path(store: Path, cell: Cell) -> Path:
    # gzip: the predictions and histories are most of a study's size, and results are committed
    return store / f"{cell.task}__{cell.model}__{cell.init}__{cell.mode}__s{cell.seed}.json.gz"


def _load_cell(store: Path, cell: Cell, settings: dict):
    """The stored ``(row, history)`` of a cell run with ``settings``, or None to run it (again).

    A cell not stored yet, or stored with other settings, is None quietly; a
    damaged file (cut off while written, edited, of an unknown layout) is
    reported by name in a warning, and run again.
    """
    path = _cell_path(store, cell)
    plain = path.with_suffix("")  # cells written uncompressed by earlier versions
    if not path.exists() and not plain.exists():
        return None  # not run yet
    found = path if path.exists() else plain
    try:
        record = json.loads(gzip.decompress(found.read_bytes()) if found is path else plain.read_text("utf-8"))
        if not isinstance(record, dict) or not {"cell", "settings", "row", "history"} <= set(record):
            raise ValueError("not a stored cell (it needs cell, settings, row and history)")
        if record["settings"] != settings or record["cell"] != cell.__dict__:
            return None  # run with other settings: run it again
        _check_stored(record["row"], record["history"], cell)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        warnings.warn(f"stored cell {found} is damaged ({type(exc).__name__}: {exc}); running it again",
                      stacklevel=2)
        return None
    # cells stored before the input_scaling column existed ran at the paper's scaling
    record["row"].setdefault("input_scaling", 1.0 if cell.model in QUANTUM else None)
    return record["row"], record["history"]


def _check_stored(row, history, cell: Cell) -> None:
    """Raise ValueError unless a stored row and history have what collecting the tables reads."""
    if not isinstance(row, dict):
        raise ValueError("its row is not a table")
    # input_scaling may predate the store; circuit_evaluations is recounted at every collect
    missing, unknown = set(COLUMNS) - {"input_scaling", "circuit_evaluations"} - set(row), set(row) - set(COLUMNS)
    if missing or unknown:
        raise ValueError(f"its row lacks {sorted(missing)} or has unknown fields {sorted(unknown)}")
    for key in ("train_mse", "test_mse", "train_nrmse", "test_nrmse"):
        if isinstance(row[key], bool) or not isinstance(row[key], (int, float)) or not np.isfinite(row[key]):
            raise ValueError(f"its {key} is {row[key]!r}, not a finite number")
    if isinstance(row["epochs"], bool) or not isinstance(row["epochs"], int) or row["epochs"] < 0:
        raise ValueError(f"its epochs is {row['epochs']!r}, not an integer >= 0")
    if not isinstance(history, dict) or history.get("cell") != cell.__dict__:
        raise ValueError("its history does not belong to this cell")
    epochs, predictions = history.get("history"), history.get("predictions")
    if not isinstance(epochs, list) or len(epochs) != row["epochs"] or not all(
            isinstance(e, dict) and {"monitor_loss", "seconds"} <= set(e) for e in epochs):
        raise ValueError(f"its history does not hold the {row['epochs']} epochs of its row")
    if not isinstance(predictions, list) or len(predictions) != _shape(cell.task)[0] or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in predictions):
        raise ValueError(f"its predictions are not the {_shape(cell.task)[0]} numbers of task {cell.task!r}")


def _save_cell(store: Path, cell: Cell, settings: dict, result) -> None:
    path = _cell_path(store, cell)
    tmp = path.with_suffix(".tmp")
    record = {"cell": cell.__dict__, "settings": settings, "row": result[0], "history": result[1]}
    tmp.write_bytes(gzip.compress(json.dumps(record).encode(), mtime=0))
    tmp.replace(path)  # atomic: a crash leaves the old file or the new one


def _run_on_ray(cells, cfg, address: str, bar, keep) -> None:
    """Every cell as one Ray task; ``keep(cell, result)`` as each one finishes."""
    from qrnn._optional import require

    ray = require("ray", "the study's --ray")
    started = not ray.is_initialized()
    if started:
        # A cluster's workers get this repository (qrnn and experiments, not results or virtual
        # environments) as their working directory; its nodes need qrnn's dependencies installed.
        runtime_env = None if address == "local" else {
            "working_dir": str(Path(__file__).resolve().parents[1]),
            "excludes": [".git", ".venv*", "results", "experiments/results", "benchmarks/results"]}
        ray.init(address=None if address == "local" else address, runtime_env=runtime_env,
                 include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(num_cpus=1)(run_cell)
        pending = {task.remote(cell, cfg): cell for cell in cells}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                keep(pending.pop(ref), ray.get(ref))
                bar.update()
    finally:
        if started:
            ray.shutdown()


COLUMNS = ("task", "model", "init", "mode", "seed", "train_mse", "test_mse", "train_nrmse", "test_nrmse", "epochs",
           "epochs_to_5pct", "seconds", "seconds_per_epoch", "trained_params", "circuit_evaluations",
           "input_scaling")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def write_tables(rows, out: Path) -> None:
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in COLUMNS) + " |" for r in rows]
    (out / "results.md").write_text("\n".join(lines) + "\n")


# One colour per model in every plot; the init is the line style.
COLOURS = {"QRNN": "tab:blue", "QLSTM": "tab:orange", "QGRU": "tab:green", "RNN": "tab:red",
           "LSTM": "tab:purple", "GRU": "tab:brown", "ESN": "tab:pink"}
_INIT_STYLE = {"-": "-", "normal": "-", "uniform": "--"}
_MODE_TITLE = {"ridge": "reservoir + ridge", "epochs": "reservoir, readout trained by epochs",
               "trained": "fully trained"}


def write_plots(cfg: StudyConfig, rows, histories, out: Path, tasks=None) -> list[Path]:
    """Per task, ``TASK-loss.png`` (test loss against epoch and against training seconds, one row per
    trained mode, one line per model and init: the median over seeds, with the seeds' range shaded)
    and ``TASK-predictions.png`` (every model's predictions against the truth, one panel per mode,
    the first seed and init, the train/test boundary marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    paths = []
    for task in cfg.tasks if tasks is None else tasks:
        runs = [h for h in histories if h["cell"]["task"] == task]
        here = [r for r in rows if r["task"] == task]
        window = next((r["test_mse"] for r in here if r["model"] == "ridge on the raw window"), None)
        ridge = {}  # each model's ridge readout on the same features, its best init (mean over seeds)
        for r in here:
            if r["mode"] == "ridge":
                ridge.setdefault(r["model"], {}).setdefault(r["init"], []).append(r["test_mse"])
        ridge = {m: min(float(np.mean(v)) for v in by_init.values()) for m, by_init in ridge.items()}

        curves = {}
        for h in runs:
            if h["history"]:
                c = h["cell"]
                curves.setdefault((c["mode"], c["model"], c["init"]), []).append(h["history"])
        modes = [m for m in ("epochs", "trained") if any(k[0] == m for k in curves)]
        if modes:
            fig, axes = plt.subplots(len(modes), 2, figsize=(13, 3.8 * len(modes)), squeeze=False,
                                     sharey="row", layout="constrained")
            for (mode, model, init), hs in curves.items():
                n = min(len(h) for h in hs)
                loss = np.array([[r["monitor_loss"] for r in h[:n]] for h in hs])
                secs = np.array([np.cumsum([r["seconds"] for r in h[:n]]) for h in hs])
                by_epoch, by_time = axes[modes.index(mode)]
                style = dict(color=COLOURS[model], ls=_INIT_STYLE[init], lw=1.2)
                epochs = np.arange(1, n + 1)
                by_epoch.plot(epochs, np.median(loss, axis=0), **style)
                by_time.plot(np.median(secs, axis=0), np.median(loss, axis=0), **style)
                if len(hs) > 1:
                    by_epoch.fill_between(epochs, loss.min(axis=0), loss.max(axis=0), color=COLOURS[model],
                                          alpha=0.12, lw=0)
            for row, mode in enumerate(modes):
                by_epoch, by_time = axes[row]
                for model in {k[1] for k in curves if k[0] == mode}:
                    if mode == "epochs" and model in ridge:  # what training the readout by epochs converges to
                        by_epoch.axhline(ridge[model], color=COLOURS[model], ls=":", lw=1)
                if window is not None:
                    for ax in (by_epoch, by_time):
                        ax.axhline(window, color="k", ls="-.", lw=1)
                by_epoch.set(yscale="log", xlabel="epoch", ylabel="test MSE",
                             title=f"{task}: {_MODE_TITLE[mode]}, by epoch")
                by_time.set(xlabel="training seconds", title="by wall-clock time")
            models = [m for m in COLOURS if any(k[1] == m for k in curves)]
            handles = [Line2D([], [], color=COLOURS[m], lw=2, label=m) for m in models]
            if any(k[2] == "uniform" for k in curves):
                handles += [Line2D([], [], color="grey", ls="-", label="normal init (quantum), classical"),
                            Line2D([], [], color="grey", ls="--", label="uniform init")]
            handles += [Line2D([], [], color="grey", ls=":", label="ridge readout, same model"),
                        Line2D([], [], color="k", ls="-.", label="ridge on the raw window")]
            n_seeds = max(len(hs) for hs in curves.values())
            if n_seeds > 1:
                handles.append(Patch(color="grey", alpha=0.3, label=f"median of {n_seeds} seeds; band: their range"))
            fig.legend(handles=handles, loc="outside right center", fontsize=8)
            paths.append(out / f"{task}-loss.png")
            fig.savefig(paths[-1], dpi=110)
            plt.close(fig)

        X, y = task_windows(task)
        n_train = len(chronological_split(X, y, cfg.train_fraction)[0])
        shown = [h for h in runs if h["cell"]["seed"] == cfg.seeds[0] and h["cell"]["init"] in ("-", cfg.inits[0])]
        pred_modes = [m for m in ("ridge", "epochs", "trained") if any(h["cell"]["mode"] == m for h in shown)]
        if pred_modes:
            fig, axes = plt.subplots(len(pred_modes), 1, figsize=(13, 2.8 * len(pred_modes)), squeeze=False,
                                     sharex=True, sharey=True, layout="constrained")
            for ax, mode in zip(axes[:, 0], pred_modes):
                ax.plot(y, color="k", lw=2.2)
                for h in shown:
                    if h["cell"]["mode"] == mode:
                        ax.plot(h["predictions"], color=COLOURS[h["cell"]["model"]], lw=0.9)
                ax.axvline(n_train - 0.5, color="red", ls=":")
                ax.set(ylabel="next value", title=f"{task}: {_MODE_TITLE[mode]}")
            axes[-1, 0].set_xlabel(f"window (seed {cfg.seeds[0]}; quantum models: init {cfg.inits[0]})")
            models = [m for m in COLOURS if any(h["cell"]["model"] == m for h in shown)]
            handles = [Line2D([], [], color="k", lw=2.2, label="truth")]
            handles += [Line2D([], [], color=COLOURS[m], lw=2, label=m) for m in models]
            handles.append(Line2D([], [], color="red", ls=":", label="train | test"))
            fig.legend(handles=handles, loc="outside right center", fontsize=8)
            paths.append(out / f"{task}-predictions.png")
            fig.savefig(paths[-1], dpi=110)
            plt.close(fig)
    return paths


def reading(rows) -> list[str]:
    """A few plain sentences on the table: baselines beaten, reservoir against trained."""
    lines = []
    for task in dict.fromkeys(r["task"] for r in rows):
        here = [r for r in rows if r["task"] == task]
        base = {r["model"]: r["test_mse"] for r in here if r["mode"] == "baseline"}
        best_base = min(base, key=base.get)
        models = [r for r in here if r["mode"] != "baseline"]
        mean = {}
        for r in models:
            mean.setdefault((r["model"], r["mode"]), []).append(r["test_mse"])
        mean = {k: float(np.mean(v)) for k, v in mean.items()}
        beat = sorted(f"{m} [{mode}]" for (m, mode), v in mean.items() if v < base[best_base])
        lines.append(f"{task}: the best baseline is {best_base} (test MSE {base[best_base]:.2e}); "
                     + (f"beaten by {', '.join(beat)}." if beat else "no model beats it."))
        for m in dict.fromkeys(k[0] for k in mean):
            if (m, "ridge") in mean and (m, "trained") in mean:
                r_, t_ = mean[(m, "ridge")], mean[(m, "trained")]
                verdict = "reservoir + ridge is better" if r_ < t_ else "fully trained is better"
                lines.append(f"  {m}: reservoir + ridge {r_:.2e} vs fully trained {t_:.2e}: {verdict}.")
    return lines


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    print((result["out"] / "results.md").read_text())
    print("\n".join(reading(result["rows"])))
    if result["reused"]:
        print(f"\n{result['reused']} cells reused from {result['out'] / 'cells'} (same settings).")
    if result["missing"]:
        print(f"{len(result['missing'])} of {len(grid(cfg))} cells not run yet; "
              f"tasks without any: {[t for t in cfg.tasks if t not in {r['task'] for r in result['rows']}]}.")
    print(f"\n{len(result['rows'])} rows in {time.perf_counter() - t0:.0f} s; tables: {result['out']}/results.csv, "
          f"results.md; plots: " + ", ".join(p.name for p in result["plots"]))
    return result


if __name__ == "__main__":
    main()
