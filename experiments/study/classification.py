"""Classification cells: sequences labelled by a reservoir's or a trained model's readout, scored by accuracy.

A classification task (:func:`~experiments.study.tasks.register_classification_task`)
comes with its own training and test sequences. Mode ``ridge`` fits
:class:`qrnn.ReservoirClassifier` (one-vs-rest ridge, alpha by leave-one-out),
``epochs`` a :class:`qrnn.TrainedClassifier` on the frozen reservoir, ``trained``
one on a trainable model (cross-entropy; the test set's cross-entropy after
every epoch is the learning curve). Both see the task's ``readout`` (the
last step's features, their mean, or both) after its ``washout``. Several
input scalings are judged by a ridge classifier's error on a stratified,
seeded fifth (``validation_fraction``) of the training sequences. With a
``[search]``, every trial is the cell's own estimator (in its mode) fitted on
the rest of the training sequences and judged by its error rate on that
stratified part (ties keep the earliest trial); the test sequences are not
an argument of the search.

Baselines: the majority class of the training labels, a ridge classifier on
the raw sequence (its last input and its mean input, as the task's readout
pools the features), and an ESN with as many units as a model's quantum
reservoirs have qubits in all (``ensemble x (d + hidden_size)``).
"""
from __future__ import annotations

import time

import numpy as np

from qrnn import ReservoirClassifier, Ridge, TrainedClassifier
from qrnn.classical import ESN

from .config import StudyConfig
from .grid import Cell
from .models import best_input_scaling, build_with, is_quantum, model_class
from .search import search
from .tables import row
from .tasks import TASKS, Sequences, classification_data


def _options(task: str) -> dict:
    info = TASKS.entry(task).info
    return {"readout": info["readout"], "washout": info["washout"]}


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, validation)`` indices of the training sequences: per class, a seeded ``fraction`` of its
    sequences (at least one of a class with two or more) validates; the order of the rest is kept.

    >>> y = np.array(["a"] * 5 + ["b"] * 5)
    >>> fit, val = validation_split(y, 0.2, seed=0)
    >>> len(fit), len(val), sorted(set(y[val].tolist()))
    (8, 2, ['a', 'b'])
    """
    rng = np.random.default_rng(seed)
    val = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        k = 0 if len(members) < 2 else max(1, int(round(fraction * len(members))))
        val += rng.permutation(members)[:k].tolist()
    val = np.sort(np.array(val, dtype=int))
    return np.setdiff1d(np.arange(len(y)), val), val


def choose_input_scaling(cell: Cell, cfg: StudyConfig, data: Sequences, backend=None) -> float:
    """The input scaling whose frozen reservoir + ridge classifier errs least on the validation sequences."""
    if len(cfg.input_scalings) == 1 or not is_quantum(cell.model):
        return best_input_scaling(cell, cfg, None)
    fit, val = validation_split(data.y_train, cfg.validation_fraction, cell.seed)
    Xa, ya = [data.X_train[i] for i in fit], data.y_train[fit]
    Xv, yv = [data.X_train[i] for i in val], data.y_train[val]

    def error(model):
        return 1.0 - ReservoirClassifier(model, alpha="loo", **_options(cell.task)).fit(Xa, ya).score(Xv, yv)

    return best_input_scaling(cell, cfg, error, backend)


def _fit(cell: Cell, cfg: StudyConfig, params: dict, model, X, y, monitor=None):
    """The cell's estimator fitted on ``(X, y)`` in its mode; a search's ``params`` set the learning rate and
    epochs of the modes trained by epochs (else the config's)."""
    if cell.mode == "ridge":
        return ReservoirClassifier(model, alpha="loo", **_options(cell.task)).fit(X, y)
    est = TrainedClassifier(model, epochs=params.get("epochs", cfg.epochs), batch_size=cfg.batch_size,
                            optimizer=cfg.optimizer, lr=params.get("lr", cfg.lr), random_state=cell.seed,
                            progress=False, **_options(cell.task))
    return est.fit(X, y, monitor=monitor)


def _scaled(X: list, scale: float) -> list:
    return X if scale == 1.0 else [x * scale for x in X]


def validation_objective(cell: Cell, cfg: StudyConfig, data: Sequences):
    """What the search scores a point by: ``params`` -> the error rate of the cell's estimator, fitted on the
    training sequences outside a stratified, seeded ``search.validation_fraction`` of them, on that part.
    The test sequences are never read."""
    fit, val = validation_split(data.y_train, cfg.search.validation_fraction, cell.seed)
    Xa, ya = [data.X_train[i] for i in fit], data.y_train[fit]
    Xv, yv = [data.X_train[i] for i in val], data.y_train[val]

    def objective(params):
        model, scale = build_with(cell, cfg, params)
        return 1.0 - _fit(cell, cfg, params, model, _scaled(Xa, scale), ya).score(_scaled(Xv, scale), yv)

    objective.n_validation = len(val)
    return objective


def search_cell(cell: Cell, cfg: StudyConfig, data: Sequences):
    """The equal-budget search of a classification cell: ``cfg.search.trials`` points of its family's space
    (and the training space in the modes trained by epochs), each scored by :func:`validation_objective`.
    The test sequences are not an argument: nothing they hold can move a choice."""
    from .cells import _search_space

    sc = cfg.search
    return search(validation_objective(cell, cfg, data), _search_space(cell, cfg), sc.trials, sampler=sc.sampler,
                  seed=cell.seed)


def run_cell(cell: Cell, cfg: StudyConfig) -> tuple[dict, dict]:
    """Fit one classification cell; return its row (accuracies, seconds) and its history (test predictions)."""
    from .cells import _epochs_to_within, _warm, cell_model, searched_columns

    data = classification_data(cell.task)
    _warm()
    searched, tried, params = {}, None, {}
    if cfg.search is not None:
        params, tried, searched = searched_columns(search_cell(cell, cfg, data))
    start = time.perf_counter()
    model, scale, scaling = cell_model(cell, cfg, params, lambda: choose_input_scaling(cell, cfg, data))
    X_train, X_test = _scaled(data.X_train, scale), _scaled(data.X_test, scale)
    est = _fit(cell, cfg, params, model, X_train, data.y_train,
               monitor=None if cell.mode == "ridge" else (X_test, data.y_test))
    if cell.mode == "ridge":
        history, n_params = [], np.size(np.asarray(est.ridge_.coef_)) + np.size(np.asarray(est.ridge_.intercept_))
    else:
        history = est.history_
        n_params = (np.size(est.coef_) + np.size(est.intercept_)
                    + sum(p.numel() for p in est.model_.parameters() if p.requires_grad))
    seconds = time.perf_counter() - start
    p_tr, p_te = est.predict(X_train), est.predict(X_test)
    result = row(cell, "classification", train_accuracy=float(np.mean(p_tr == data.y_train)),
                 test_accuracy=float(np.mean(p_te == data.y_test)), epochs=len(history),
                 epochs_to_5pct=_epochs_to_within(history, 0.05), seconds=seconds,
                 seconds_per_epoch=sum(h["seconds"] for h in history) / len(history) if history else None,
                 trained_params=int(n_params),
                 circuit_evaluations=circuit_evaluations(cell, cfg, len(history), params, tried),
                 input_scaling=scaling, readout_features=model.n_features * (2 if _options(cell.task)["readout"] == "last+mean" else 1),
                 **searched)
    record = {"cell": cell.record(), "history": history, "predictions": p_te.tolist()}
    if tried is not None:
        record["search"] = tried
    return result, record


def circuit_evaluations(cell: Cell, cfg: StudyConfig, epochs: int, params: dict | None = None,
                        trials: list | None = None) -> int:
    """Circuits evaluated (one circuit on one sequence's step): the training sequences' steps at every
    epoch (``trained``; a frozen reservoir's once), every sequence's steps under the final model, and the
    fits that choose the input scaling; not the per-epoch test-loss passes, nor backward passes. With a
    ``[search]``: the final model's, of the ensemble it chose (``params``), and every trial's (``trials``;
    for the random sampler drawn again from the seed when not given): its fit on the fitting sequences (at
    every epoch it trains, when the circuits train) and its prediction of the validation ones."""
    from .cells import search_points

    if not is_quantum(cell.model):
        return 0
    data = classification_data(cell.task)
    train, test = data.steps()
    trains = cell.mode == "trained"

    def per_step(point):
        return model_class(cell.model).n_circuits * (point or {}).get("ensemble", cfg.ensemble)

    total = per_step(params) * (train * (epochs if trains else 1) + train + test)
    if cfg.search is not None:
        trials = search_points(cell, cfg) if trials is None else trials
        if trials is None:  # a TPE cell stored without the points it tried
            return None
        fit, val = validation_split(data.y_train, cfg.search.validation_fraction, cell.seed)
        n_fit = sum(len(data.X_train[i]) for i in fit)
        for point in trials:
            total += per_step(point) * (n_fit * (point.get("epochs", cfg.epochs) if trains else 1) + train - n_fit)
    elif len(cfg.input_scalings) > 1:
        total += per_step(None) * len(cfg.input_scalings) * train  # fitted on most training sequences, scored on the rest
    return total


def _pooled_inputs(X: list, readout: str, washout: int) -> np.ndarray:
    """The raw sequences pooled as the task's readout pools features: the last input, the mean input, or both."""
    rows = []
    for x in X:
        last, mean = x[-1], x[washout:].mean(axis=0)
        rows.append(last if readout == "last" else mean if readout == "mean" else np.concatenate([last, mean]))
    return np.array(rows)


def raw_ridge(X: list, y: np.ndarray, classes: np.ndarray, readout: str, washout: int):
    """Ridge on the pooled raw sequences ``X`` with labels ``y``, one-vs-rest on +1/-1 targets as
    ReservoirClassifier's readout (one column for two classes); returns the classifier of a list of
    sequences."""
    targets = np.where(y[:, None] == classes[None, :], 1.0, -1.0)
    targets = targets[:, 1] if len(classes) == 2 else targets
    lin = Ridge(alpha="loo").fit(_pooled_inputs(X, readout, washout), targets)

    def decide(X: list) -> np.ndarray:
        s = lin.predict(_pooled_inputs(X, readout, washout))
        return classes[(s > 0).astype(int)] if s.ndim == 1 else classes[np.argmax(s, axis=1)]

    return decide


def baselines(task: str, cfg: StudyConfig) -> list[dict]:
    """The majority class, a ridge classifier on the raw sequence, and the same-size ESN."""
    data = classification_data(task)
    opts = _options(task)
    classes = data.classes
    d = data.input_size
    majority = classes[np.argmax([np.sum(data.y_train == c) for c in classes])]
    decide = raw_ridge(data.X_train, data.y_train, classes, **opts)
    units = cfg.ensemble * (d + cfg.hidden_size)
    esn = ReservoirClassifier(ESN(d, units, seed=0), alpha="loo", **opts).fit(data.X_train, data.y_train)
    n_outputs = 1 if len(classes) == 2 else len(classes)
    pooled = 2 if opts["readout"] == "last+mean" else 1
    rows = []
    for name, p_tr, p_te, n in (
            ("majority class", np.full(len(data.y_train), majority), np.full(len(data.y_test), majority), 0),
            ("ridge on the raw sequence", decide(data.X_train), decide(data.X_test), (d * pooled + 1) * n_outputs),
            (f"ESN({units})", esn.predict(data.X_train), esn.predict(data.X_test),
             (units * pooled + 1) * n_outputs)):
        rows.append(row(Cell(task, name, "baseline", 0, "-"), "classification",
                        train_accuracy=float(np.mean(p_tr == data.y_train)),
                        test_accuracy=float(np.mean(p_te == data.y_test)), epochs=0, seconds=0.0,
                        trained_params=n, circuit_evaluations=0))
    return rows
