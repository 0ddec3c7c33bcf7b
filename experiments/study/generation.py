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
fitted steps (test data unseen).

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

from .models import best_input_scaling, build_model, is_quantum, model_class
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


def choose_input_scaling(cell, cfg, stream: Stream, backend=None) -> float:
    """The input scaling whose frozen reservoir + ridge generates the validation part of the fitted stream best."""
    if len(cfg.input_scalings) == 1 or not is_quantum(cell.model):
        return best_input_scaling(cell, cfg, None)
    a, h = validation_part(stream, cfg.validation_fraction)
    truth = stream.series[a + 1:a + 1 + h]

    def error(model):
        est = ReservoirRegressor(model, alpha="loo", readout="all", washout=stream.washout).fit(*stream.fit_xy(a))
        return float(np.sqrt(mse(truth, est.generate(stream.warmup(a), h))))

    return best_input_scaling(cell, cfg, error, backend)


def _one_step(stream: Stream, predicted: np.ndarray) -> dict:
    """The teacher-forced one-step errors on the fitted stream, past the washout."""
    y = stream.fit_xy()[1][0, stream.washout:]
    p = np.asarray(predicted).reshape(-1)[stream.washout:]
    return {"train_mse": mse(y, p), "train_nrmse": nrmse(y, p)}


def run_cell(cell, cfg) -> tuple[dict, dict]:
    """Fit one generation cell and generate its horizon; return its row and its history (the generated values)."""
    from .cells import _epochs_to_within, _warm

    stream = generation_data(cell.task)
    _warm()
    start = time.perf_counter()
    scaling = choose_input_scaling(cell, cfg, stream)
    model = build_model(cell, cfg, scaling)
    if cell.mode == "ridge":
        est = ReservoirRegressor(model, alpha="loo", readout="all", washout=stream.washout).fit(*stream.fit_xy())
        history, n_params = [], model.n_features + 1
    else:
        est = TrainedRegressor(model, epochs=cfg.epochs, batch_size=cfg.batch_size, optimizer=cfg.optimizer,
                               lr=cfg.lr, random_state=cell.seed, progress=False, readout="all",
                               washout=stream.washout)
        est.fit(*stream.chunks())
        history = est.history_
        n_params = model.n_features + 1 + sum(p.numel() for p in est.model_.parameters() if p.requires_grad)
    seconds = time.perf_counter() - start
    generated = est.generate(stream.warmup(), stream.horizon)
    result = row(cell, "generation", **_one_step(stream, est.predict(stream.fit_xy()[0])),
                 **scores(stream, generated), epochs=len(history),
                 epochs_to_5pct=_epochs_to_within(history, 0.05, key="train_loss"), seconds=seconds,
                 seconds_per_epoch=sum(h["seconds"] for h in history) / len(history) if history else None,
                 trained_params=int(n_params), circuit_evaluations=circuit_evaluations(cell, cfg, len(history)),
                 input_scaling=scaling if is_quantum(cell.model) else None)
    return result, {"cell": cell.record(), "history": history, "predictions": generated.tolist()}


def circuit_evaluations(cell, cfg, epochs: int) -> int:
    """Circuits evaluated (one circuit on one step): the fit (the whole stream for ridge; its pieces, at
    every epoch when the circuits train), the one-step predictions over the stream, the warmup, the generated
    steps, and the fits and generations that choose the input scaling; not backward passes."""
    if not is_quantum(cell.model):
        return 0
    stream = generation_data(cell.task)
    fit = stream.n_fit if cell.mode == "ridge" else stream.chunks()[0].shape[0] * (stream.washout + stream.chunk)
    steps = fit * (epochs if cell.mode == "trained" else 1) + stream.n_fit + (stream.n_fit + 1) + stream.horizon - 1
    if len(cfg.input_scalings) > 1:
        a, h = validation_part(stream, cfg.validation_fraction)
        steps += len(cfg.input_scalings) * (a + (a + 1) + h - 1)
    return model_class(cell.model).n_circuits * cfg.ensemble * steps


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
