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
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

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


def search(objective, space: dict, trials: int, *, sampler: str = "random", seed: int = 0,
           progress: bool = False) -> SearchResult:
    """Minimise ``objective(params)`` over ``trials`` points of ``space``.

    A trial whose objective raises ``FloatingPointError`` (a diverged
    training) or returns a non-finite score scores ``inf``: it is a failed
    trial, counted in the budget like any other. Ties keep the earliest.
    """
    trials = check_int(trials, "trials", minimum=1)
    check_choice(sampler, "sampler", SAMPLERS)
    start = time.perf_counter()
    log = []

    def score(params):
        try:
            value = float(objective(params))
        except FloatingPointError:
            value = math.inf
        value = value if math.isfinite(value) else math.inf
        log.append((params, value))
        return value

    if not space:  # nothing to choose: one fit, the defaults
        score({})
    elif sampler == "random":
        rng = np.random.default_rng(seed)
        for _ in range(trials):
            score({name: dist.draw(rng) for name, dist in space.items()})
    else:
        from qrnn._optional import require

        optuna = require("optuna", "the study's sampler = 'tpe'")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(lambda t: score({name: dist.suggest(t, name) for name, dist in space.items()}),
                       n_trials=trials, show_progress_bar=progress)
    best = min(range(len(log)), key=lambda i: log[i][1])
    return SearchResult(params=log[best][0], score=log[best][1], seconds=time.perf_counter() - start, trials=log)
