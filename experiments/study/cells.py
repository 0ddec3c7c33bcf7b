"""One cell run: its model fitted and scored, its circuit evaluations counted.

A forecasting task's cells run here; a classification task's in
:mod:`~experiments.study.classification`, a generation task's in
:mod:`~experiments.study.generation` (:func:`run_cell` and
:func:`circuit_evaluations` send each cell to its kind's).
"""
from __future__ import annotations

import json
import time

import numpy as np

from qrnn import ReservoirRegressor, TrainedRegressor
from qrnn.backends import warm_up
from qrnn.metrics import mse, nrmse
from qrnn.tasks import chronological_split, split_point

from .conditions import condition_of
from .config import StudyConfig
from .grid import Cell
from .models import build_model, build_with, choose_input_scaling, family, is_quantum, model_class
from .search import search
from .tables import row as _row
from .tasks import _data, _shape, task_kind, task_train_fraction

_WARM = False


def _warm() -> None:
    """One-time costs of a process, paid outside every cell's timing: numba's kernels load
    (``warm_up``), and torch's first optimizer imports its compiler stack (both times:
    ``benchmarks/RESULTS.md``, "One-time costs and small engine details")."""
    global _WARM
    if not _WARM:
        import torch

        warm_up()
        torch.optim.RMSprop([torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], lr=0.01)
        _WARM = True


def _kind_module(task: str):
    """The module that runs a classification or generation task's cells, or None for a forecasting task."""
    kind = task_kind(task)
    if kind == "classification":
        from . import classification

        return classification
    if kind == "generation":
        from . import generation

        return generation
    return None


def run_cell(cell: Cell, cfg: StudyConfig) -> tuple[dict, dict]:
    """Fit one cell; return its results row and its per-epoch history (empty for ridge)."""
    kind = _kind_module(cell.task)
    if kind is not None:
        return kind.run_cell(cell, cfg)
    Xtr, Xte, ytr, yte = _data(cell.task, task_train_fraction(cell.task, cfg))
    _warm()
    # the device condition's backend (shots, noise), or None: exact on the default engine
    backend = condition_of(cell.condition, cfg.conditions).backend(cell.seed, 1 + cfg.hidden_size)
    searched, tried, params = {}, None, {}
    if cfg.search is not None:
        params, tried, searched = searched_columns(search_forecast(cell, cfg, Xtr, ytr, backend))
    start = time.perf_counter()
    model, scale, scaling = cell_model(cell, cfg, params, lambda: choose_input_scaling(cell, cfg, Xtr, ytr, backend),
                                       backend)
    est, history = _fit_forecast(cell, cfg, params, model, Xtr * scale, ytr, (Xte * scale, yte))
    n_params = model.n_features + 1
    if history:
        n_params += sum(p.numel() for p in est.model_.parameters() if p.requires_grad)
    seconds = time.perf_counter() - start
    p_tr, p_te = est.predict(Xtr * scale), est.predict(Xte * scale)
    row = _row(cell, "forecast", train_mse=mse(ytr, p_tr), test_mse=mse(yte, p_te), train_nrmse=nrmse(ytr, p_tr),
               test_nrmse=nrmse(yte, p_te), epochs=len(history), epochs_to_5pct=_epochs_to_within(history, 0.05),
               seconds=seconds, seconds_per_epoch=(sum(h["seconds"] for h in history) / len(history)
                                                   if history else None),
               trained_params=n_params,
               circuit_evaluations=circuit_evaluations(cell, cfg, len(history), params, tried),
               input_scaling=scaling,
               readout_features=model.n_features, **searched)
    record = {"cell": cell.record(), "history": history, "predictions": np.concatenate([p_tr, p_te]).tolist()}
    if tried is not None:
        record["search"] = tried  # the points tried: the budget is recounted from them at every collect
    return row, record


def searched_columns(found) -> tuple[dict, list, dict]:
    """A search's ``(chosen params, points tried, its columns of the cell's row)``, for every task kind."""
    return found.params, [p for p, _ in found.trials], {
        "params": json.dumps(found.params, sort_keys=True), "search_trials": len(found.trials),
        "search_seconds": found.seconds}


def cell_model(cell: Cell, cfg: StudyConfig, params: dict, choose, backend=None):
    """``(model, scale, scaling)``: the model a cell is fitted with, for every task kind. With a ``[search]``,
    built from its chosen ``params`` (``scale``: a classical cell's input scaling, applied to its inputs);
    else at the input scaling ``choose()`` picks (``scaling`` None for a model that has none to choose)."""
    if cfg.search is None:
        scaling = choose()
        return (build_model(cell, cfg, scaling, backend=backend), 1.0,
                scaling if is_quantum(cell.model) else None)
    model, scale = build_with(cell, cfg, params, backend=backend)
    return model, scale, params.get("input_scaling")


def _fit_forecast(cell: Cell, cfg: StudyConfig, params: dict, model, X, y, monitor):
    """The cell's estimator fitted on ``(X, y)`` in its mode; ``(estimator, per-epoch history)``. A search's
    ``params`` set the learning rate and epochs of the modes trained by epochs (else the config's)."""
    if cell.mode == "ridge":
        return ReservoirRegressor(model, alpha="loo").fit(X, y), []
    est = TrainedRegressor(model, epochs=params.get("epochs", cfg.epochs), batch_size=cfg.batch_size,
                           optimizer=cfg.optimizer, lr=params.get("lr", cfg.lr), random_state=cell.seed,
                           progress=False)
    est.fit(X, y, monitor=monitor)
    return est, est.history_


def forecast_objective(cell: Cell, cfg: StudyConfig, Xtr, ytr, backend=None):
    """What the search scores a point by: ``params`` -> the MSE, on the last ``search.validation_fraction``
    of the training windows, of the cell's estimator fitted on the windows before them."""
    Xa, Xv, ya, yv = chronological_split(Xtr, ytr, 1.0 - cfg.search.validation_fraction)

    def objective(params):
        model, scale = build_with(cell, cfg, params, trainable=cell.mode == "trained", backend=backend)
        est, _ = _fit_forecast(cell, cfg, params, model, Xa * scale, ya, None)
        return mse(yv, est.predict(Xv * scale))

    return objective


def search_forecast(cell: Cell, cfg: StudyConfig, Xtr, ytr, backend=None):
    """The equal-budget search of a forecasting cell: ``cfg.search.trials`` points of its family's space
    (and of the training space, in the modes trained by epochs), each scored by
    :func:`forecast_objective`. The test windows are not an argument: nothing they hold can move a
    choice. Seeded by the cell's seed."""
    sc = cfg.search
    return search(forecast_objective(cell, cfg, Xtr, ytr, backend), _search_space(cell, cfg), sc.trials,
                  sampler=sc.sampler, seed=cell.seed)


def validation_objective(cell: Cell, cfg: StudyConfig):
    """The search's score of a point for ``cell``, whatever its task's kind, as a function of ``params``
    (lower is better): a forecast's validation MSE, a classification's validation error rate (its
    validation sequences' count as ``n_validation``), a generation's validation RMSE. Only the training
    data is read; on the exact engine (the device conditions' backends are the study's alone)."""
    kind = _kind_module(cell.task)
    if kind is None:
        Xtr, _, ytr, _ = _data(cell.task, task_train_fraction(cell.task, cfg))
        return forecast_objective(cell, cfg, Xtr, ytr)
    from .tasks import classification_data, generation_data

    data = classification_data(cell.task) if task_kind(cell.task) == "classification" else generation_data(cell.task)
    return kind.validation_objective(cell, cfg, data)


def circuit_evaluations(cell: Cell, cfg: StudyConfig, epochs: int, params: dict | None = None,
                        trials: list | None = None) -> int:
    """Circuits evaluated (one circuit on one window's step) to fit a cell and predict with it.

    The training windows' features at every epoch (``trained``; a frozen reservoir's once), every
    window's features under the final model, and the ridge fits that choose the input scaling when
    there are several; not the per-epoch test-loss passes, nor backward passes. With a ``[search]``:
    the final model's, of the ensemble it chose (``params``), and every trial's (``trials``, the
    points tried; for the random sampler drawn again from the seed when not given): its fit on the
    first part of the training windows and its prediction of the rest.
    """
    kind = _kind_module(cell.task)
    if kind is not None:
        return kind.circuit_evaluations(cell, cfg, epochs, params, trials)
    if not is_quantum(cell.model):
        return 0
    n_windows, steps = _shape(cell.task)
    n_train = split_point(n_windows, task_train_fraction(cell.task, cfg))
    trains = cell.mode == "trained"

    def per_window(point):
        return model_class(cell.model).n_circuits * (point or {}).get("ensemble", cfg.ensemble) * steps

    # fitting (every epoch when the circuits train, once for a frozen reservoir), then predicting every window
    total = per_window(params) * (n_train * (epochs if trains else 1) + n_windows)
    if cfg.search is not None:
        if trials is None:
            trials = search_points(cell, cfg)
        if trials is None:  # a TPE cell stored without the points it tried: its count cannot be redone
            return None
        n_fit = split_point(n_train, 1.0 - cfg.search.validation_fraction)
        for point in trials:
            total += per_window(point) * (n_fit * (point.get("epochs", cfg.epochs) if trains else 1)
                                          + n_train - n_fit)
    elif len(cfg.input_scalings) > 1:
        total += per_window(None) * len(cfg.input_scalings) * n_train
    return total


def _search_space(cell: Cell, cfg: StudyConfig) -> dict:
    space = cfg.search.space(family(cell.model))
    if cell.model != "ESN":
        space.pop("size", None)  # an "ESN-N" has its size in its name
    if cell.mode != "ridge":
        space.update(cfg.search.space("training"))
    return space


def search_points(cell: Cell, cfg: StudyConfig) -> list:
    """The points a cell's random search tries, drawn again from its seed as :func:`search` draws them
    (so that a stored cell's budget is counted without running it); None for the TPE sampler, whose
    points depend on the scores."""
    from .search import draw_points

    if cfg.search.sampler != "random":
        return None
    return draw_points(_search_space(cell, cfg), cfg.search.trials, cell.seed)


def _epochs_to_within(history, fraction: float, key: str = "monitor_loss"):
    """First epoch whose test (monitor) loss, or another ``key`` of the history, is within ``fraction`` of the
    final one."""
    if not history:
        return None
    losses = [h[key] for h in history]
    final = losses[-1]
    return next(i + 1 for i, v in enumerate(losses) if abs(v - final) <= fraction * abs(final))
