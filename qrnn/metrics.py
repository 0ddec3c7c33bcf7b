"""Error metrics, the valid time of a closed-loop forecast, memory capacity and information processing capacity.

Every metric demands ``y_true`` and ``y_pred`` of exactly the same shape: a
``(n,)`` against ``(n, 1)`` pair would otherwise broadcast into an ``(n, n)``
error matrix and a meaningless number. 2-D inputs are scored per column and
averaged.
"""
from __future__ import annotations

import numpy as np

from ._validation import as_array, check_int, check_real, check_seed, tensor_to_numpy
from .capacity import Capacities, information_processing_capacity  # noqa: F401  (re-exported)

NORMALIZATIONS = ("std", "range", "mean", "rms")


def _pair(y_true, y_pred):
    t = as_array(y_true, "y_true").astype(float)
    p = as_array(y_pred, "y_pred").astype(float)
    if t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {t.shape} and {p.shape} "
            "(reshape one of them explicitly; nothing is broadcast)"
        )
    if t.size == 0 or t.ndim not in (1, 2):
        raise ValueError(f"y_true must be a non-empty 1-D or 2-D array, got shape {t.shape}")
    return (t[:, None], p[:, None]) if t.ndim == 1 else (t, p)


def mse(y_true, y_pred) -> float:
    """Mean squared error.

    >>> mse([0.0, 1.0], [0.0, 3.0])
    2.0
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error (per column, averaged)."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.sqrt(np.mean((t - p) ** 2, axis=0))))


def nrmse(y_true, y_pred, normalization: str = "std") -> float:
    """RMSE divided by the target's ``"std"``, ``"range"`` (max - min), ``"mean"`` or ``"rms"``.

    >>> round(nrmse([1.0, -1.0, 1.0, -1.0], [0.0, 0.0, 0.0, 0.0]), 6)
    1.0
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    t, p = _pair(y_true, y_pred)
    err = np.sqrt(np.mean((t - p) ** 2, axis=0))
    scale = {"std": lambda: t.std(axis=0), "range": lambda: np.ptp(t, axis=0),
             "mean": lambda: np.abs(t.mean(axis=0)), "rms": lambda: np.sqrt(np.mean(t**2, axis=0))}[normalization]()
    if np.any(scale == 0):
        raise ValueError(f"the target's {normalization} is zero; NRMSE is undefined")
    return float(np.mean(err / scale))


def r2(y_true, y_pred) -> float:
    """Coefficient of determination (per column, averaged), as scikit-learn's ``r2_score``."""
    t, p = _pair(y_true, y_pred)
    ss_res = np.sum((t - p) ** 2, axis=0)
    ss_tot = np.sum((t - t.mean(axis=0)) ** 2, axis=0)
    if np.any(ss_tot == 0):
        raise ValueError("y_true is constant in a column; R^2 is undefined")
    return float(np.mean(1 - ss_res / ss_tot))


def valid_time(y_true, y_pred, threshold: float = 0.4, scale=None) -> int:
    """Steps a closed-loop forecast stays valid: until its normalised error first exceeds ``threshold``.

    The normalised error at step ``t`` is ``|y_pred_t - y_true_t| / scale``
    (for several columns, the root mean square over them of each column's
    error over its scale), and the valid time is the number of leading
    steps where it is at most ``threshold``: ``len(y_true)`` if it never
    exceeds it, 0 if the first step does. A non-finite prediction (a
    forecast that ran away) counts as exceeding it. This is the reservoir-computing
    literature's "valid time" (e.g. Pathak et al. 2018), counted in steps;
    multiply by the sampling interval (and a Lyapunov exponent) for time.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_steps,) or (n_steps, n_columns)
        The true continuation and the forecast, of the same shape.
    threshold : float, default 0.4
        The largest normalised error still counted as valid (> 0).
    scale : float or array-like of shape (n_columns,), optional
        What the error is divided by: by default the standard deviation of
        ``y_true`` per column. Pass the series' own standard deviation (of
        the training data, say) when the horizon is short, so that the
        scale does not depend on the stretch forecast.

    Examples
    --------
    >>> valid_time([0.0, 1.0, 0.0, -1.0], [0.0, 0.9, 0.5, -1.0], threshold=0.4, scale=1.0)
    2
    """
    pred = np.asarray(tensor_to_numpy(y_pred), dtype=float)
    bad = ~np.isfinite(pred)
    # a forecast that ran away to inf or NaN is invalid from that step on: score the finite steps before it
    t, p = _pair(y_true, np.where(bad, 0.0, pred) if pred.shape == np.shape(y_true) else y_pred)
    threshold = check_real(threshold, "threshold", low=0.0, low_open=True)
    if scale is None:
        s = t.std(axis=0)
        if np.any(s == 0):
            raise ValueError("y_true is constant in a column, so its standard deviation (the default scale) is "
                             "zero; pass scale")
    else:
        s = as_array(scale, "scale").astype(float).reshape(-1)
        if s.shape not in ((1,), (t.shape[1],)) or not np.all(np.isfinite(s)) or np.any(s <= 0):
            raise ValueError(f"scale must be a positive number or one per column ({t.shape[1]}), got {scale!r}")
    err = np.sqrt(np.mean(((p - t) / s) ** 2, axis=1))
    err[bad.reshape(len(t), -1).any(axis=1)] = np.inf
    over = np.flatnonzero(err > threshold)
    return int(over[0]) if len(over) else len(t)


def memory_capacity(reservoir, max_delay: int = 20, n_train: int = 2000, n_test: int = 1000,
                    washout: int = 100, alpha: float = 1e-8, seed=None):
    """Linear memory capacity ``MC = sum_k MC_k`` of a one-input reservoir.

    The reservoir is driven by i.i.d. ``U(-1, 1)`` input; for each delay ``k``
    a ridge readout of the features is trained to output ``u_{t-k}``, and
    ``MC_k`` is the squared correlation of its test prediction with the
    target. Returns ``(MC, MC_k array)``.

    ``reservoir`` is the reservoir itself (an estimator's ``reservoir``, or
    a trained ``TrainedRegressor``'s ``model_``): memory capacity fits its own
    readouts, so an estimator or a readout is refused.
    """
    from .readout import Ridge
    from .reservoir import Reservoir

    if not isinstance(reservoir, Reservoir):
        hint = {"ReservoirRegressor": "pass its .reservoir", "Ridge": "it is a readout; pass the reservoir",
                "TrainedRegressor": "pass its trained .model_ (after fit) or its .model"}.get(
                    type(reservoir).__name__, "e.g. ESN(1, 100) or QRNN(1, 3)")
        raise TypeError(f"reservoir must be a qrnn reservoir, got {type(reservoir).__name__}: {hint}")
    if reservoir.input_size != 1:
        raise ValueError(f"memory_capacity needs a reservoir with input_size=1, got {reservoir.input_size}")
    max_delay = check_int(max_delay, "max_delay", minimum=1)
    washout = check_int(washout, "washout", minimum=max_delay)
    n_train = check_int(n_train, "n_train", minimum=2)
    n_test = check_int(n_test, "n_test", minimum=2)
    alpha = check_real(alpha, "alpha", low=0.0)
    rng = np.random.default_rng(check_seed(seed))
    total = washout + n_train + n_test
    u = rng.uniform(-1, 1, size=total)
    F = reservoir.transform(u[None, :, None])[0]
    mcs = []
    train = slice(washout, washout + n_train)
    test = slice(washout + n_train, total)
    for k in range(1, max_delay + 1):
        target = np.roll(u, k)
        model = Ridge(alpha=alpha).fit(F[train], target[train])
        pred = model.predict(F[test])
        c = np.corrcoef(pred, target[test])[0, 1]
        mcs.append(0.0 if not np.isfinite(c) else c * c)
    mcs = np.array(mcs)
    return float(mcs.sum()), mcs
