"""Equal-budget hyperparameter search: the same number of trials for every model, judged on validation data.

A search draws ``trials`` points of a model family's space, scores each by
an objective the caller builds from the training windows alone (fitted on
their first part, scored on their last ``validation_fraction``), and keeps
the best. The test windows are never passed in, so nothing they hold can
move a choice. Two samplers: ``"random"`` (numpy, from the seed) and
``"tpe"`` (Optuna's tree-structured Parzen estimator, behind the
``qrnn[search]`` extra), both seeded.

Examples
--------
>>> space = {"x": Uniform(-2.0, 2.0), "kind": Choice(["a", "b"])}
>>> result = search(lambda p: (p["x"] - 1.0) ** 2 + (p["kind"] == "b"), space, trials=40, seed=0)
>>> result.params["kind"], abs(result.params["x"] - 1.0) < 0.2, len(result.trials)
('a', True, 40)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from qrnn._validation import check_choice, check_int, check_real

SAMPLERS = ("random", "tpe")
#: The model families a study's search space is given for.
FAMILIES = ("quantum", "esn", "classical", "training")


@dataclass(frozen=True)
class Choice:
    """One of ``options``, each equally likely."""

    options: tuple

    def __init__(self, options):
        options = tuple(options)
        if not options:
            raise ValueError("a Choice needs at least one option")
        object.__setattr__(self, "options", options)

    def draw(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def suggest(self, trial, name):
        return trial.suggest_categorical(name, list(self.options))


@dataclass(frozen=True)
class Uniform:
    """A real number uniform in ``[low, high]``."""

    low: float
    high: float

    def __post_init__(self):
        check_real(self.low, "low")
        check_real(self.high, "high", low=self.low)

    def draw(self, rng):
        return float(rng.uniform(self.low, self.high))

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high)


@dataclass(frozen=True)
class LogUniform:
    """A positive real number whose logarithm is uniform in ``[log low, log high]``."""

    low: float
    high: float

    def __post_init__(self):
        check_real(self.low, "low", low=0.0, low_open=True)
        check_real(self.high, "high", low=self.low)

    def draw(self, rng):
        # clipped: exp(log(high)) can round above high
        return float(min(max(math.exp(rng.uniform(math.log(self.low), math.log(self.high))), self.low), self.high))

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high, log=True)


@dataclass(frozen=True)
class IntRange:
    """An integer uniform in ``[low, high]``."""

    low: int
    high: int

    def __post_init__(self):
        check_int(self.low, "low")
        check_int(self.high, "high", minimum=self.low)

    def draw(self, rng):
        return int(rng.integers(self.low, self.high + 1))

    def suggest(self, trial, name):
        return trial.suggest_int(name, self.low, self.high)


def space_from_config(table: dict, where: str) -> dict:
    """A search space from a config table: ``name = [a, b, c]`` (a choice), ``{uniform = [lo, hi]}``,
    ``{log_uniform = [lo, hi]}`` or ``{int = [lo, hi]}``.

    >>> space_from_config({"lr": {"log_uniform": [1e-3, 1e-1]}, "size": [50, 100]}, "search.ESN")
    {'lr': LogUniform(low=0.001, high=0.1), 'size': Choice(options=(50, 100))}
    """
    kinds = {"uniform": Uniform, "log_uniform": LogUniform, "int": IntRange}
    space = {}
    for name, spec in table.items():
        if isinstance(spec, list):
            space[name] = Choice(spec)
        elif isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)) in kinds:
            kind, bounds = next(iter(spec.items()))
            if not (isinstance(bounds, list) and len(bounds) == 2):
                raise ValueError(f"{where}.{name}: {kind} takes [low, high], got {bounds!r}")
            space[name] = kinds[kind](*bounds)
        else:
            raise ValueError(f"{where}.{name} must be a list of choices or one of {{uniform = [lo, hi]}}, "
                             f"{{log_uniform = [lo, hi]}}, {{int = [lo, hi]}}; got {spec!r}")
    return space


@dataclass
class SearchResult:
    """The chosen point, its validation score, every trial, and the search's wall time."""

    params: dict
    score: float
    seconds: float
    trials: list = field(default_factory=list)  # [(params, score), ...] in the order run


def draw_points(space: dict, trials: int, seed: int) -> list:
    """The ``trials`` points the random sampler tries, in order (the draws of :func:`search`)."""
    if not space:
        return [{}]
    rng = np.random.default_rng(seed)
    return [{name: dist.draw(rng) for name, dist in space.items()} for _ in range(trials)]


def search(objective, space: dict, trials: int, *, sampler: str = "random", seed: int = 0,
           progress: bool = False) -> SearchResult:
    """Minimise ``objective(params)`` over ``trials`` points of ``space``.

    A trial whose objective raises ``FloatingPointError`` (a diverged
    training) or ``LinAlgError``, or returns a non-finite score, scores
    ``inf``: it is a failed trial, counted in the budget like any other; if
    every trial fails the search raises ``FloatingPointError``. Ties keep
    the earliest. An empty space has nothing to choose: one fit, of the
    defaults.
    """
    trials = check_int(trials, "trials", minimum=1)
    check_choice(sampler, "sampler", SAMPLERS)
    start = time.perf_counter()
    log = []

    def score(params):
        try:
            value = float(objective(params))
        except (FloatingPointError, np.linalg.LinAlgError):  # a diverged training, a singular solve
            value = math.inf
        value = value if math.isfinite(value) else math.inf
        log.append((params, value))
        return value

    if not space:  # nothing to choose: one fit, the defaults
        score({})
    elif sampler == "random":
        for point in draw_points(space, trials, seed):
            score(point)
    else:
        from qrnn._optional import require

        optuna = require("optuna", "the study's sampler = 'tpe'")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(lambda t: score({name: dist.suggest(t, name) for name, dist in space.items()}),
                       n_trials=trials, show_progress_bar=progress)
    if all(v == math.inf for _, v in log):
        raise FloatingPointError(f"every one of the {len(log)} trials failed (diverged or scored a non-finite "
                                 f"error); the space may be too wide: first trial {log[0][0]}")
    best = min(range(len(log)), key=lambda i: log[i][1])
    return SearchResult(params=log[best][0], score=log[best][1], seconds=time.perf_counter() - start, trials=log)


def default_spaces(max_epochs: int) -> dict:
    """The search space of each family, by default.

    - ``quantum`` (QRNN, QLSTM, QGRU and registered quantum cells):
      input scaling, features, correlators, ensemble size, hidden size. The
      init stays a grid dimension of the study, reported apart.
    - ``esn``: spectral radius, input scaling, leak rate, size (not for
      ``"ESN-N"``, whose size is its name), sparsity.
    - ``classical`` (RNN, LSTM, GRU reservoirs): hidden size, input scaling
      (the inputs are multiplied by it).
    - ``training`` (modes ``epochs`` and ``trained``, beside the model's own):
      learning rate and epochs, up to the config's ``training.epochs``.
    """
    return {
        "quantum": {"input_scaling": LogUniform(0.1, 4.0), "features": Choice(["output", "state", "all"]),
                    "correlators": Choice([False, True]), "ensemble": Choice([1, 3, 5]),
                    "hidden_size": Choice([2, 3, 4])},
        "esn": {"spectral_radius": Uniform(0.1, 1.5), "input_scaling": LogUniform(0.05, 4.0),
                "leak_rate": Uniform(0.05, 1.0), "size": Choice([50, 100, 200]), "sparsity": Choice([0.5, 0.9])},
        "classical": {"hidden_size": Choice([3, 10, 30, 100]), "input_scaling": LogUniform(0.1, 4.0)},
        "training": {"lr": LogUniform(1e-3, 1e-1), "epochs": IntRange(min(10, max_epochs), max_epochs)},
    }


#: The parameters each family's models take (a config's space may name only these).
PARAMETERS = {"quantum": ("input_scaling", "features", "correlators", "ensemble", "hidden_size"),
              "esn": ("spectral_radius", "input_scaling", "leak_rate", "size", "sparsity"),
              "classical": ("hidden_size", "input_scaling"), "training": ("lr", "epochs")}


@dataclass(frozen=True)
class SearchConfig:
    """A study's ``[search]`` section: the same ``trials`` for every cell, judged on the last
    ``validation_fraction`` of its training windows, by ``sampler``, over ``spaces`` (per family)."""

    trials: int
    validation_fraction: float
    sampler: str
    spaces: tuple  # ((family, ((name, distribution), ...)), ...)

    def space(self, family: str) -> dict:
        return dict(dict(self.spaces)[family])

    def largest_ensemble(self) -> int:
        """The largest ensemble the quantum space can draw (1 if it does not search the ensemble)."""
        dist = self.space("quantum").get("ensemble")
        if dist is None:
            return 1
        return int(max(dist.options)) if isinstance(dist, Choice) else int(math.ceil(dist.high))

    def to_settings(self) -> dict:
        """What a stored cell's result depends on: a changed search reruns it."""
        # each space as an ordered list: the random sampler draws in its order, so a reordered table reruns
        return {"trials": self.trials, "validation_fraction": self.validation_fraction, "sampler": self.sampler,
                "spaces": {f: [[n, repr(d)] for n, d in sp] for f, sp in self.spaces}, "member_seeds": "stride"}


def parse_search(table, max_epochs: int, field_error) -> SearchConfig:
    """``[search]`` checked: ``trials`` (>= 1), ``validation_fraction`` (in (0, 1), default 0.2),
    ``sampler`` ("random" or "tpe"), and ``[search.FAMILY]`` tables that replace a family's default space
    (:func:`default_spaces`; an empty table searches nothing for that family)."""
    if not isinstance(table, dict):
        raise field_error("[search]", "must be a table")
    known = {"trials", "validation_fraction", "sampler", *FAMILIES}
    for key in table:
        if key not in known:
            raise field_error(f"search.{key}", f"unknown field; [search] takes {sorted(known)}")
    trials = table.get("trials")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise field_error("search.trials", f"must be an integer >= 1 (the same for every model), got {trials!r}")
    fraction = table.get("validation_fraction", 0.2)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise field_error("search.validation_fraction", f"must be in (0, 1), got {fraction!r}")
    sampler = table.get("sampler", "random")
    if sampler not in SAMPLERS:
        raise field_error("search.sampler", f"must be one of {list(SAMPLERS)}, got {sampler!r}")
    if sampler == "tpe":
        from qrnn._optional import require

        require("optuna", "[search] sampler = 'tpe'")
    spaces = default_spaces(max_epochs)
    for family in FAMILIES:
        if family in table:
            if not isinstance(table[family], dict):
                raise field_error(f"search.{family}", "must be a table of parameter = space")
            for name in table[family]:
                if name not in PARAMETERS[family]:
                    raise field_error(f"search.{family}.{name}", f"unknown parameter; {family} models take "
                                                                  f"{list(PARAMETERS[family])}")
            try:
                spaces[family] = space_from_config(table[family], f"search.{family}")
            except (TypeError, ValueError) as exc:
                raise field_error(f"search.{family}", str(exc)) from None
    epochs = spaces["training"].get("epochs")
    if epochs is not None and max(getattr(epochs, "options", None) or (epochs.high,)) > max_epochs:
        raise field_error("search.training.epochs", f"may not exceed training.epochs = {max_epochs} (the cap)")
    return SearchConfig(trials=trials, validation_fraction=float(fraction), sampler=sampler,
                        spaces=tuple((f, tuple(sp.items())) for f, sp in spaces.items()))
