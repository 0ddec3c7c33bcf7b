"""Closed-loop generation cells: a model fitted one step ahead runs on its own predictions, scored by valid time.

A generation task (:func:`~experiments.study.tasks.register_generation_task`)
is one series. Every mode fits a one-step-ahead model with a prediction at
every step past the washout (``readout="all"``): mode ``ridge`` a
:class:`qrnn.ReservoirRegressor` on the whole fitted stream (alpha by
leave-one-out), ``epochs`` and ``trained`` a :class:`qrnn.TrainedRegressor`
(frozen, or trainable) on overlapping pieces of it
(:meth:`~experiments.study.tasks.Stream.chunks`; its per-epoch training loss
is the learning curve: the test part is generated, not predicted one step
at a time). Then the model runs over every fitted value as its warmup and
``generate`` continues the series for ``horizon`` steps.

Scores, both in units of the standard deviation of the fitted stream (a
horizon of 50 steps is too short to be its own scale): the valid time
(:func:`qrnn.metrics.valid_time`, threshold 0.4: the leading steps whose
error stays within 0.4 of it) and the RMSE over the horizon
(``horizon_nrmse``). ``train_mse`` and ``train_nrmse`` are the one-step,
teacher-forced errors on the fitted stream past the washout (NRMSE by the
targets' standard deviation, as in forecasting). Several input scalings are
judged by the NRMSE of a generation from the end of the first
``1 - validation_fraction`` of the fitted stream over the next ``horizon``
fitted steps (test data unseen). With a ``[search]``, every trial is the
cell's own estimator (in its mode) fitted on that first part and judged by
the same generation; the generated horizon is not an argument of the search.

Baselines: persistence (the last warmup value, held), a linear
autoregression on the last 10 values (ridge, alpha by leave-one-out, run in
closed loop), and an ESN with as many units as a model's quantum reservoirs
have qubits in all.
"""
from __future__ import annotations

import time

import numpy as np

from qrnn import ReservoirRegressor, Ridge, TrainedRegressor
from qrnn.classical import ESN
from qrnn.metrics import mse, nrmse, valid_time
from qrnn.tasks import split_point

from .models import best_input_scaling, build_with, is_quantum, model_class
from .search import search
from .tables import row
from .tasks import Stream, generation_data

#: The valid time's threshold, in standard deviations of the fitted stream.
THRESHOLD = 0.4
#: The order of the linear autoregression baseline.
AR_ORDER = 10


def scores(stream: Stream, generated: np.ndarray) -> dict:
    """``valid_time`` and ``horizon_nrmse`` of a generated horizon, in the fitted stream's standard deviations."""
    truth, scale = stream.truth(), stream.scale()
    return {"valid_time": valid_time(truth, generated, threshold=THRESHOLD, scale=scale),
            "horizon_nrmse": float(np.sqrt(mse(truth, generated)) / scale)}


def validation_part(stream: Stream, fraction: float) -> tuple[int, int]:
    """``(a, h)``: fit on the first ``a`` steps, generate ``h`` steps from there (within the fitted stream)."""
    a = split_point(stream.n_fit, 1.0 - fraction)
    return a, min(stream.horizon, stream.n_fit - a)


def _validation_error(est, stream: Stream, a: int, h: int, scale: float = 1.0) -> float:
    """The RMSE of ``est``'s generation of the ``h`` fitted steps after the first ``a`` (its inputs x ``scale``)."""
    truth = stream.series[a + 1:a + 1 + h]
    return float(np.sqrt(mse(truth, est.generate(stream.warmup(a) * scale, h) / scale)))


def choose_input_scaling(cell, cfg, stream: Stream, backend=None) -> float:
    """The input scaling whose frozen reservoir + ridge generates the validation part of the fitted stream best."""
    if len(cfg.input_scalings) == 1 or not is_quantum(cell.model):
        return best_input_scaling(cell, cfg, None)
    a, h = validation_part(stream, cfg.validation_fraction)

    def error(model):
        est = ReservoirRegressor(model, alpha="loo", readout="all", washout=stream.washout).fit(*stream.fit_xy(a))
        return _validation_error(est, stream, a, h)

    return best_input_scaling(cell, cfg, error, backend)


def _fit(cell, cfg, params: dict, model, stream: Stream, n_fit: int | None = None, scale: float = 1.0):
    """The cell's one-step model fitted on the first ``n_fit`` steps in its mode (inputs and targets x
    ``scale``: a classical cell's input scaling; generating feeds outputs back as inputs, so both scale); a
    search's ``params`` set the learning rate and epochs of the modes trained by epochs."""
    if cell.mode == "ridge":
        X, y = stream.fit_xy(n_fit)
        return ReservoirRegressor(model, alpha="loo", readout="all", washout=stream.washout).fit(X * scale, y * scale)
    est = TrainedRegressor(model, epochs=params.get("epochs", cfg.epochs), batch_size=cfg.batch_size,
                           optimizer=cfg.optimizer, lr=params.get("lr", cfg.lr), random_state=cell.seed,
                           progress=False, readout="all", washout=stream.washout)
    X, y = stream.chunks(n_fit)
    return est.fit(X * scale, y * scale)


def validation_objective(cell, cfg, stream: Stream):
    """What the search scores a point by: ``params`` -> the RMSE of the generation of the fitted stream's
    steps after its first ``1 - search.validation_fraction``, by the cell's model fitted on those first
    steps. The test horizon is never read."""
    a, h = validation_part(stream, cfg.search.validation_fraction)

    def objective(params):
        model, scale = build_with(cell, cfg, params)
        return _validation_error(_fit(cell, cfg, params, model, stream, a, scale), stream, a, h, scale)

    return objective


def search_cell(cell, cfg, stream: Stream):
    """The equal-budget search of a generation cell: ``cfg.search.trials`` points of its family's space (and
    the training space in the modes trained by epochs), each scored by :func:`validation_objective`. The
    test horizon is not an argument: nothing it holds can move a choice."""
    from .cells import _search_space

    sc = cfg.search
    return search(validation_objective(cell, cfg, stream), _search_space(cell, cfg), sc.trials,
                  sampler=sc.sampler, seed=cell.seed)


def _one_step(stream: Stream, predicted: np.ndarray) -> dict:
    """The teacher-forced one-step errors on the fitted stream, past the washout."""
    y = stream.fit_xy()[1][0, stream.washout:]
    p = np.asarray(predicted).reshape(-1)[stream.washout:]
    return {"train_mse": mse(y, p), "train_nrmse": nrmse(y, p)}


def run_cell(cell, cfg) -> tuple[dict, dict]:
    """Fit one generation cell and generate its horizon; return its row and its history (the generated values)."""
    from .cells import _epochs_to_within, _warm, cell_model, searched_columns

    stream = generation_data(cell.task)
    _warm()
    searched, tried, params = {}, None, {}
    if cfg.search is not None:
        params, tried, searched = searched_columns(search_cell(cell, cfg, stream))
    start = time.perf_counter()
    model, scale, scaling = cell_model(cell, cfg, params, lambda: choose_input_scaling(cell, cfg, stream))
    est = _fit(cell, cfg, params, model, stream, scale=scale)
    history = [] if cell.mode == "ridge" else est.history_
    n_params = model.n_features + 1
    if history:
        n_params += sum(p.numel() for p in est.model_.parameters() if p.requires_grad)
    seconds = time.perf_counter() - start
    generated = est.generate(stream.warmup() * scale, stream.horizon) / scale
    result = row(cell, "generation", **_one_step(stream, est.predict(stream.fit_xy()[0] * scale) / scale),
                 **scores(stream, generated), epochs=len(history),
                 epochs_to_5pct=_epochs_to_within(history, 0.05, key="train_loss"), seconds=seconds,
                 seconds_per_epoch=sum(h["seconds"] for h in history) / len(history) if history else None,
                 trained_params=int(n_params),
                 circuit_evaluations=circuit_evaluations(cell, cfg, len(history), params, tried),
                 input_scaling=scaling, readout_features=model.n_features, **searched)
    record = {"cell": cell.record(), "history": history, "predictions": generated.tolist()}
    if tried is not None:
        record["search"] = tried
    return result, record


def circuit_evaluations(cell, cfg, epochs: int, params: dict | None = None, trials: list | None = None) -> int:
    """Circuits evaluated (one circuit on one step): the fit (the whole stream for ridge; its pieces, at
    every epoch when the circuits train), the one-step predictions over the stream, the warmup, the generated
    steps, and the fits and generations that choose the input scaling; not backward passes. With a
    ``[search]``: the final model's, of the ensemble it chose (``params``), and every trial's (``trials``;
    for the random sampler drawn again from the seed when not given): its fit on the first part of the
    stream and its generation of the validation steps."""
    from .cells import search_points

    if not is_quantum(cell.model):
        return 0
    stream = generation_data(cell.task)
    trains = cell.mode == "trained"

    def fit_steps(n, epochs):
        pieces = n if cell.mode == "ridge" else stream.chunks(n)[0].shape[0] * (stream.washout + stream.chunk)
        return pieces * (epochs if trains else 1)

    def per_step(point):
        return model_class(cell.model).n_circuits * (point or {}).get("ensemble", cfg.ensemble)

    n = stream.n_fit
    total = per_step(params) * (fit_steps(n, epochs) + n + (n + 1) + stream.horizon - 1)
    if cfg.search is not None:
        trials = search_points(cell, cfg) if trials is None else trials
        if trials is None:  # a TPE cell stored without the points it tried
            return None
        a, h = validation_part(stream, cfg.search.validation_fraction)
        for point in trials:
            total += per_step(point) * (fit_steps(a, point.get("epochs", cfg.epochs)) + (a + 1) + h - 1)
    elif len(cfg.input_scalings) > 1:
        a, h = validation_part(stream, cfg.validation_fraction)
        total += per_step(None) * len(cfg.input_scalings) * (a + (a + 1) + h - 1)
    return total


def _autoregression(stream: Stream, order: int):
    """One-step predictions over the fitted stream (NaN before ``order - 1``) and the closed-loop horizon."""
    s = stream.series
    n = stream.n_fit
    # a window of s[t - order + 1 .. t] predicts s[t + 1], for t = order - 1 .. n - 1
    windows = np.lib.stride_tricks.sliding_window_view(s[:n], order)
    lin = Ridge(alpha="loo").fit(windows, s[order:n + 1])
    one_step = np.full(n, np.nan)
    one_step[order - 1:] = lin.predict(windows)
    buffer = list(s[n + 1 - order:n + 1])
    out = []
    for _ in range(stream.horizon):
        out.append(float(lin.predict(np.array(buffer[-order:])[None])[0]))
        buffer.append(out[-1])
    return one_step, np.array(out)


def baselines(task: str, cfg) -> list[dict]:
    """Persistence, a linear autoregression in closed loop, and the same-size ESN."""
    from .grid import Cell

    stream = generation_data(task)
    X = stream.fit_xy()[0]
    units = cfg.ensemble * (1 + cfg.hidden_size)
    esn = ReservoirRegressor(ESN(1, units, seed=0), alpha="loo", readout="all",
                             washout=stream.washout).fit(*stream.fit_xy())
    order = min(AR_ORDER, stream.washout + 1)  # the one-step errors are read past the washout
    ar_one, ar_gen = _autoregression(stream, order)
    rows = []
    for name, one_step, generated, n in (
            ("persistence", X[0, :, 0], np.full(stream.horizon, stream.warmup()[-1]), 0),
            (f"ridge on the last {order} values", ar_one, ar_gen, order + 1),
            (f"ESN({units})", esn.predict(X), esn.generate(stream.warmup(), stream.horizon), units + 1)):
        rows.append(row(Cell(task, name, "baseline", 0, "-"), "generation", **_one_step(stream, one_step),
                        **scores(stream, generated), epochs=0, seconds=0.0, trained_params=n,
                        circuit_evaluations=0))
    return rows
