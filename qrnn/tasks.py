"""Task data (SPEC section 4) and the windowing of the paper's protocol.

Every generator is deterministic given its arguments.
"""
from __future__ import annotations

import numpy as np

from ._validation import as_array, check_int


def sine(n_points: int = 200, periods: float = 4.0) -> np.ndarray:
    """A plain sine wave, ``sin(2 pi periods t)`` on ``t = linspace(0, 1, n_points)``.

    Examples
    --------
    >>> sine(5, periods=1).round(6).tolist()
    [0.0, 1.0, 0.0, -1.0, -0.0]
    """
    n_points = check_int(n_points, "n_points", minimum=2)
    return np.sin(2 * np.pi * periods * np.linspace(0.0, 1.0, n_points))


def damped_shm(n_points: int = 240, t_max: float = 20.0, damping: float = 0.15,
               g_over_l: float = 9.81, theta0: float = 0.0, omega0: float = 3.0) -> np.ndarray:
    """Angular velocity ``theta'`` of the damped pendulum of the paper.

    ``theta'' = -damping theta' - g_over_l sin(theta)``, ``theta(0)=theta0``,
    ``theta'(0)=omega0``, sampled at ``t = linspace(0, t_max, n_points)``,
    integrated with scipy's DOP853 at tolerance 1e-12.

    Examples
    --------
    >>> damped_shm()[:2].round(4).tolist()
    [3.0, 2.8615]
    """
    from scipy.integrate import solve_ivp

    n_points = check_int(n_points, "n_points", minimum=2)
    t = np.linspace(0.0, t_max, n_points)

    def rhs(_, y):
        return [y[1], -damping * y[1] - g_over_l * np.sin(y[0])]

    sol = solve_ivp(rhs, (0.0, t_max), [theta0, omega0], t_eval=t, method="DOP853",
                    rtol=1e-12, atol=1e-12)
    return sol.y[1]


def minmax_scale(series, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Scale a 1-D series linearly onto ``[low, high]``."""
    s = as_array(series, "series").astype(float)
    if s.ndim != 1 or s.size < 2:
        raise ValueError(f"series must be 1-D with at least 2 values, got shape {s.shape}")
    span = s.max() - s.min()
    if span == 0:
        raise ValueError("series is constant; min-max scaling is undefined")
    return low + (s - s.min()) * (high - low) / span


def make_windows(series, window: int = 4, horizon: int = 1):
    """Windows of ``window`` consecutive values and the value ``horizon`` steps after each.

    Returns ``X`` of shape ``(n_windows, window, 1)`` and ``y`` of shape ``(n_windows,)``.

    Examples
    --------
    >>> X, y = make_windows(np.arange(6.0), window=4)
    >>> X[:, :, 0].tolist(), y.tolist()
    ([[0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]], [4.0, 5.0])
    """
    s = as_array(series, "series").astype(float)
    if s.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {s.shape}")
    window = check_int(window, "window", minimum=1)
    horizon = check_int(horizon, "horizon", minimum=1)
    n = s.size - window - horizon + 1
    if n < 1:
        raise ValueError(f"series of length {s.size} is too short for window={window}, horizon={horizon}")
    idx = np.arange(window)[None, :] + np.arange(n)[:, None]
    return s[idx][:, :, None], s[idx[:, -1] + horizon]


def chronological_split(X, y, train_fraction: float = 0.67):
    """The first ``train_fraction`` of samples (in time order) train, the rest test."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    k = int(len(X) * train_fraction)
    if k < 1 or k >= len(X):
        raise ValueError(f"{len(X)} samples are too few to split at {train_fraction}")
    return X[:k], X[k:], y[:k], y[k:]
