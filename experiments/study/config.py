"""A study's TOML config: its layout, and every field checked before any work starts."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qrnn import MissingExtraError
from qrnn.circuit import INITS
from qrnn.reservoir import FEATURES
from qrnn.tasks import split_point
from qrnn.trainer import OPTIMIZERS

from .conditions import Condition, device_qubits, parse_conditions
from .search import parse_search
from .file_tasks import read_file_task, register_file_tasks
from .models import is_esn, is_quantum, model_names
from .tasks import (TASKS, _shape, classification_data, generation_data, task_input_size, task_kind,
                    task_train_fraction)

MODES = ("ridge", "epochs", "trained")


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
    # [tasks.NAME]: tasks read from files (file_tasks.FileTask), in the order of the config
    file_tasks: tuple = ()
    # [conditions]: shots and device noise for the quantum reservoirs (conditions.Condition), exact first
    conditions: tuple = (Condition(),)
    # [search]: the equal-budget hyperparameter search of every cell (search.SearchConfig), or None
    search: object = None
    # [capacities]: the steps each reservoir's information processing capacity is measured on, or None (not)
    capacities: int | None = None


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


# sections parsed by their own functions (tables of tables, lists of conditions)
_OTHER_SECTIONS = ("tasks", "conditions", "search", "capacities")


def _field_error(where: str, message: str) -> ValueError:
    return ValueError(f"config field {where}: {message}")


def _choices(values, where: str, valid) -> tuple:
    if not values:
        raise _field_error(where, f"must name at least one of {list(valid)}")
    for v in values:
        if v not in valid:
            if where == "study.models":  # the sized ESNs named are not a list of choices
                raise _field_error(where, f"{v!r} is not one of {[x for x in valid if not is_esn(x) or x == 'ESN']}"
                                          ' (or "ESN-N": an ESN of N units)')
            raise _field_error(where, f"{v!r} is not one of {list(valid)}")
    if len(set(values)) != len(values):
        raise _field_error(where, f"has duplicates: {values}")
    return tuple(values)


def parse_config(raw: dict, root=None) -> StudyConfig:
    """Check every field of a parsed TOML document before any work starts; errors name the field.

    The files of ``[tasks.NAME]`` tables are read here, their relative paths
    from ``root`` (:func:`load_config` passes the config file's folder; None:
    the working directory), and their tasks registered (see
    :mod:`experiments.study.file_tasks`).
    """
    if not isinstance(raw, dict):
        raise ValueError("the config must be a TOML document")
    for section in raw:
        if section not in _SCHEMA and section not in _OTHER_SECTIONS:
            raise _field_error(f"[{section}]",
                               f"unknown section; expected {sorted([*_SCHEMA, *_OTHER_SECTIONS])}")
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
    # "ESN-N" (an ESN of N units) beside the registry's names
    sized = [m for m in values["models"] if isinstance(m, str) and is_esn(m) and m not in model_names()]
    cfg = {
        "name": values["name"],
        "models": _choices(values["models"], "study.models", [*model_names(), *sized]),
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
    tables = raw.get("tasks", {})
    if not isinstance(tables, dict):
        raise _field_error("[tasks]", "must be tables [tasks.NAME], one a task read from a file")
    study_fraction = values.get("train_fraction", StudyConfig.train_fraction)
    cfg["file_tasks"] = tuple(read_file_task(name, table, Path.cwd() if root is None else root, study_fraction)
                              for name, table in tables.items())
    # built-in and registered tasks, and this config's own from files (not another config's)
    valid = [n for n in TASKS.names() if "file" not in TASKS.entry(n).tags] + [t.name for t in cfg["file_tasks"]]
    cfg["tasks"] = _choices(values["tasks"], "study.tasks", valid)
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
    if "conditions" in raw:
        cfg["conditions"] = parse_conditions(raw["conditions"], _field_error)
    if "capacities" in raw:
        table = raw["capacities"]
        if not isinstance(table, dict) or set(table) - {"n_samples"}:
            raise _field_error("[capacities]", f"takes only n_samples (the steps each reservoir's capacity is "
                               f"measured on), got {table!r}")
        n = table.get("n_samples", 10000)
        if isinstance(n, bool) or not isinstance(n, int) or n < 100:
            raise _field_error("capacities.n_samples", f"must be an integer >= 100, got {n!r}")
        cfg["capacities"] = n
    if "search" in raw:
        cfg["search"] = parse_search(raw["search"], values.get("epochs", StudyConfig.epochs), _field_error)
        if len(values.get("input_scalings", [1.0])) > 1:
            raise _field_error("reservoir.input_scalings", "[search] chooses the input scaling of every model; "
                               "give one value here (or none) and its range in [search.quantum]")
        if len(cfg.get("conditions", (Condition(),))) > 1:
            raise _field_error("[search]", "a search under device conditions (shots, noise) is not supported yet; "
                               "search on the exact engine, then run the chosen models under [conditions]")
    for key in ("hidden_size", "esn_size", "train_fraction", "epochs", "batch_size", "lr", "out", "correlators",
                "ensemble", "validation_fraction"):
        if key in values:
            cfg[key] = values[key]
    cfg = StudyConfig(**cfg)
    register_file_tasks(cfg.file_tasks, cfg.train_fraction)
    return _check_against_tasks(cfg)


# A quantum cell of hidden size H runs on 1 + H qubits; at 24 one state vector is 256 MiB per window.
MAX_QUBITS = 24
# The noisy Heisenberg form's operator grows as 4^n (TorchBackend(noise=...)).
NOISE_MAX_QUBITS = 8


def _check_against_tasks(cfg: StudyConfig) -> StudyConfig:
    """The fields that depend on the tasks' sizes: every split leaves data on both sides, and a
    batch fits in the training windows of every task (nothing is shrunk silently); and the
    quantum models' qubit count."""
    hidden, where = _largest_hidden(cfg)
    if any(is_quantum(m) for m in cfg.models) and 1 + hidden > MAX_QUBITS:
        raise _field_error(where, f"{hidden} needs {1 + hidden} qubits for the quantum models; the study runs "
                           f"them up to {MAX_QUBITS} (hidden_size <= {MAX_QUBITS - 1})")
    noisy = any(c.noise is not None for c in cfg.conditions)
    if noisy and any(is_quantum(m) for m in cfg.models) and 1 + cfg.hidden_size > NOISE_MAX_QUBITS:
        raise _field_error("models.hidden_size", f"{cfg.hidden_size} needs {1 + cfg.hidden_size} qubits; the noisy "
                           f"conditions run the Heisenberg form with channels up to {NOISE_MAX_QUBITS} qubits "
                           f"(hidden_size <= {NOISE_MAX_QUBITS - 1})")
    if any(is_quantum(m) for m in cfg.models):
        for device, qubits in device_qubits(cfg.conditions).items():
            if 1 + cfg.hidden_size > qubits:
                raise _field_error("conditions.noise", f"device {device!r} has {qubits} qubits; the quantum models "
                                   f"need {1 + cfg.hidden_size} (models.hidden_size = {cfg.hidden_size})")
    for task in cfg.tasks:
        if task_kind(task) != "forecast":
            _check_kind_task(cfg, task)
            continue
        try:
            n_windows = _shape(task)[0]
        except MissingExtraError as exc:
            raise MissingExtraError(f"config field study.tasks: task {task!r} reads a real data set: {exc}") from None
        fraction = task_train_fraction(task, cfg)
        n_train = split_point(n_windows, fraction)
        if n_train < 2 or n_train >= n_windows:
            entry = TASKS.entry(task)
            where = ("study.train_fraction" if entry.info["train_fraction"] is None
                     else f"tasks.{task}.train_fraction" if "file" in entry.tags else f"task {task!r}'s train_fraction")
            raise _field_error(where, f"{fraction} leaves {n_train} training and "
                               f"{n_windows - n_train} test windows of the {n_windows} of task {task!r}; "
                               "it needs at least 2 and 1")
        if {"epochs", "trained"} & set(cfg.modes) and cfg.batch_size > n_train:
            raise _field_error("training.batch_size", f"{cfg.batch_size} is larger than the {n_train} "
                               f"training windows of task {task!r}")
        for fraction, where, used in ((cfg.validation_fraction, "reservoir.validation_fraction",
                                       len(cfg.input_scalings) > 1),
                                      (cfg.search and cfg.search.validation_fraction, "search.validation_fraction",
                                       cfg.search is not None)):
            if not used:
                continue
            n_fit = split_point(n_train, 1.0 - fraction)
            if n_fit < 2 or n_fit >= n_train:
                raise _field_error(where, f"{fraction} leaves {n_fit} fitting and {n_train - n_fit} "
                                   f"validation windows of the {n_train} training windows of task {task!r}; "
                                   "it needs at least 2 and 1")
            if where.startswith("search") and {"epochs", "trained"} & set(cfg.modes) and cfg.batch_size > n_fit:
                raise _field_error("training.batch_size", f"{cfg.batch_size} is larger than the {n_fit} windows "
                                   f"the search fits on (task {task!r}, search.validation_fraction {fraction})")
    return cfg


def _largest_hidden(cfg: StudyConfig) -> tuple[int, str]:
    """The largest hidden size a quantum model of the study takes, and the field that sets it."""
    space = cfg.search.space("quantum") if cfg.search is not None else {}
    if "hidden_size" not in space:
        return cfg.hidden_size, "models.hidden_size"
    dist = space["hidden_size"]
    return int(max(getattr(dist, "options", None) or (dist.high,))), "search.quantum.hidden_size"


def _check_kind_task(cfg: StudyConfig, task: str) -> None:
    """A classification or generation task's checks: its data loads (a real data set's package is
    installed), the device conditions are not asked of it, its qubits, batches and validation part fit."""
    from qrnn import MissingExtraError

    kind = task_kind(task)
    try:
        data = classification_data(task) if kind == "classification" else generation_data(task)
    except MissingExtraError as exc:
        raise MissingExtraError(f"config field study.tasks: task {task!r} reads a real data set: {exc}") from None
    except ValueError as exc:
        raise _field_error("study.tasks", str(exc)) from None
    if len(cfg.conditions) > 1:
        raise _field_error("[conditions]", f"device conditions (shots, noise) run on forecasting tasks only; task "
                           f"{task!r} is a {kind} task: study it in a config without [conditions]")
    hidden, where = _largest_hidden(cfg)
    qubits = task_input_size(task) + hidden
    if any(is_quantum(m) for m in cfg.models) and qubits > MAX_QUBITS:
        raise _field_error(where, f"{hidden} needs {qubits} qubits for the quantum models on "
                           f"task {task!r} ({task_input_size(task)} inputs per step); the study runs them up to "
                           f"{MAX_QUBITS}")
    trains = {"epochs", "trained"} & set(cfg.modes)
    # the validation parts that are used: the input scalings' (several, on a quantum model), the search's
    parts = [(f, w) for f, w, used in (
        (cfg.validation_fraction, "reservoir.validation_fraction",
         len(cfg.input_scalings) > 1 and any(is_quantum(m) for m in cfg.models)),
        (cfg.search and cfg.search.validation_fraction, "search.validation_fraction", cfg.search is not None))
        if used]
    if kind == "classification":
        from .classification import validation_split

        if trains and cfg.batch_size > len(data.y_train):
            raise _field_error("training.batch_size", f"{cfg.batch_size} is larger than the {len(data.y_train)} "
                               f"training sequences of task {task!r}")
        for fraction, where in parts:
            fit, val = validation_split(data.y_train, fraction, 0)
            if len(val) < 1 or len(set(data.y_train[fit].tolist())) < 2:
                raise _field_error(where, f"{fraction} leaves {len(fit)} fitting sequences of "
                                   f"{len(set(data.y_train[fit].tolist()))} classes and {len(val)} validation "
                                   f"sequences of task {task!r}; it needs 2 classes and 1 sequence")
            if where.startswith("search") and trains and cfg.batch_size > len(fit):
                raise _field_error("training.batch_size", f"{cfg.batch_size} is larger than the {len(fit)} "
                                   f"sequences the search fits on (task {task!r}, {where} {fraction})")
        return
    from .generation import validation_part

    pieces = data.chunks()[0].shape[0]
    if trains and cfg.batch_size > pieces:
        raise _field_error("training.batch_size", f"{cfg.batch_size} is larger than the {pieces} pieces of "
                           f"{data.washout} + {data.chunk} steps that modes epochs and trained fit on task {task!r}")
    for fraction, where in parts:
        a, h = validation_part(data, fraction)
        # ridge fits past the washout; the epoch modes fit pieces of washout + chunk steps
        least = data.washout + (data.chunk if trains and where.startswith("search") else 2)
        if a < least or h < 1:
            raise _field_error(where, f"{fraction} leaves {a} fitting and {h} generated steps of the "
                               f"{data.n_fit} fitted steps of task {task!r} (washout {data.washout}, pieces of "
                               f"{data.chunk}); it needs at least {least} and 1")
        if where.startswith("search") and trains and cfg.batch_size > data.chunks(a)[0].shape[0]:
            raise _field_error("training.batch_size", f"{cfg.batch_size} is larger than the "
                               f"{data.chunks(a)[0].shape[0]} pieces the search fits on (task {task!r}, "
                               f"{where} {fraction})")


def load_config(path) -> StudyConfig:
    """Read and validate a study config::

        [study]
        name = "quick"
        out = "results/study-quick"        # optional
        tasks = ["damped_shm", "narma5"]   # names in experiments.study.TASKS (register_task adds one); of any
                                           # kind: "waveforms", "japanese_vowels" classify, "mackey_glass_generation"
                                           # generates (register_classification_task, register_generation_task)
        # the quantum and classical cells of qrnn.registry.MODELS (register_model adds one), and ESN
        models = ["QRNN", "QLSTM", "QGRU", "RNN", "LSTM", "GRU", "ESN"]   # "ESN-300": an ESN of 300 units
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

        [conditions]                       # optional: shots and device noise for the quantum reservoirs
                                           # (forecasting tasks only: refused beside another kind)
        shots = ["exact", 1000]            # "exact" or shots per circuit
        noise = ["exact", "fake_manila", {p1 = 0.001, p2 = 0.01}]   # a fake device, or Noise(...) arguments

        [tasks.load]                       # a task on your own data: "load" goes in study.tasks
        csv = "data/load.csv"              # relative to this file; or npy = "data/load.npy" (1-D, or 2-D with column)
        column = "kw"                      # a header's name or a 0-based index
        window = 24                        # >= 2
        horizon = 1                        # optional: forecast this many steps ahead
        train_fraction = 0.8               # optional: this task's own
        scale = "standard"                 # optional: "none" (default), or z-score by the training part
        kind = "forecast"                  # optional: a file's task forecasts (the other kinds are refused)

    The ``[tasks.NAME]`` layout and checks are in :mod:`experiments.study.file_tasks`; the
    ``[conditions]`` ones in :mod:`experiments.study.conditions`.
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
    return parse_config(raw, root=path.parent)
