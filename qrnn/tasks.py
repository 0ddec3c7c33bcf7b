"""Task data (docs/models.md, section 4) and the windowing of the paper's protocol.

Every generator is deterministic given its arguments.
"""
from __future__ import annotations

import numpy as np

from ._validation import as_array, check_fitted, check_int, check_real, check_seed


def _check_real(value, name: str, *, positive: bool = False) -> float:
    return check_real(value, name, low=0.0, low_open=True) if positive else check_real(value, name)


def _finite(series: np.ndarray, task: str) -> np.ndarray:
    if not np.all(np.isfinite(series)):
        bad = int(np.argmin(np.isfinite(series)))
        raise ValueError(f"{task}: these arguments give a non-finite value at point {bad} of {len(series)} "
                         "(an overflow); choose arguments whose series stays finite")
    return series


def sine(n_points: int = 200, periods: float = 4.0) -> np.ndarray:
    """A plain sine wave, ``sin(2 pi periods t)`` on ``t = linspace(0, 1, n_points)``.

    Examples
    --------
    >>> sine(5, periods=1).round(6).tolist()
    [0.0, 1.0, 0.0, -1.0, -0.0]
    """
    n_points = check_int(n_points, "n_points", minimum=2)
    periods = _check_real(periods, "periods")
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
    t_max = _check_real(t_max, "t_max", positive=True)
    for value, name in ((damping, "damping"), (g_over_l, "g_over_l"), (theta0, "theta0"), (omega0, "omega0")):
        _check_real(value, name)
    t = np.linspace(0.0, t_max, n_points)

    def rhs(_, y):
        return [y[1], -damping * y[1] - g_over_l * np.sin(y[0])]

    with np.errstate(over="ignore", invalid="ignore"):  # a runaway solution is refused below, by name
        sol = solve_ivp(rhs, (0.0, t_max), [theta0, omega0], t_eval=t, method="DOP853",
                        rtol=1e-12, atol=1e-12)
    if sol.status != 0 or sol.y.shape[1] != n_points:
        reached = sol.t[-1] if len(sol.t) else 0.0
        raise ValueError(f"the pendulum's ODE solve failed at t={reached:.4g} of t_max={t_max} ({sol.message}); "
                         f"damping={damping}, g_over_l={g_over_l}, omega0={omega0} give a solution the solver "
                         "cannot follow (a negative damping grows without bound)")
    return _finite(sol.y[1], "damped_shm")


def bessel_j2(n_points: int = 256, x_min: float = 2.0, x_max: float = 100.0) -> np.ndarray:
    """``J_2(x)`` on ``x = linspace(x_min, x_max, n_points)`` (scipy.special.jv).

    Examples
    --------
    >>> bessel_j2(3, 2.0, 4.0).round(6).tolist()
    [0.352834, 0.486091, 0.364128]
    """
    from scipy.special import jv

    n_points = check_int(n_points, "n_points", minimum=2)
    if not _check_real(x_min, "x_min") < _check_real(x_max, "x_max"):
        raise ValueError(f"x_min must be < x_max, got {x_min} and {x_max}")
    return _finite(jv(2, np.linspace(x_min, x_max, n_points)), "bessel_j2")


def delayed_quantum_control(t_start: float = -2.0, t_stop: float = 20.0, dt: float = 0.01) -> np.ndarray:
    """``f(t) = sum_{n=0}^{10} exp(-10 (t - 2n)^2) exp(-t/16)`` on ``t = arange(t_start, t_stop, dt)``.

    Examples
    --------
    >>> delayed_quantum_control().shape
    (2200,)
    """
    dt = _check_real(dt, "dt", positive=True)
    if not _check_real(t_start, "t_start") < _check_real(t_stop, "t_stop"):
        raise ValueError(f"t_start must be < t_stop, got {t_start} and {t_stop}")
    t = np.arange(t_start, t_stop, dt)
    n = np.arange(11)[:, None]
    with np.errstate(over="ignore", invalid="ignore"):  # refused below, by name
        f = (np.exp(-10 * (t - 2 * n) ** 2) * np.exp(-t / 16)).sum(axis=0)
    return _finite(f, "delayed_quantum_control")


def population_inversion(n_points: int = 400, t_max: float = 40.0, nbar: float = 5.0, g: float = 1.0,
                         n_max: int | None = None) -> np.ndarray:
    """Jaynes-Cummings collapse and revival: ``W(t) = sum_n P(n) cos(2 g sqrt(n+1) t)``.

    The atom starts excited in a coherent field of mean photon number
    ``nbar``; ``P(n)`` is Poisson. The sum runs to ``n_max`` (by default far
    enough that the neglected probability is below 1e-15).

    Examples
    --------
    >>> round(float(population_inversion(2)[0]), 12)
    1.0
    """
    from scipy.stats import poisson

    n_points = check_int(n_points, "n_points", minimum=2)
    nbar = _check_real(nbar, "nbar", positive=True)
    t_max = _check_real(t_max, "t_max", positive=True)
    g = _check_real(g, "g")
    if n_max is None:
        n_max = int(poisson.isf(1e-16, nbar)) + 10
    n = np.arange(check_int(n_max, "n_max", minimum=1) + 1)
    p = poisson.pmf(n, nbar)
    t = np.linspace(0.0, t_max, n_points)
    return _finite((p[:, None] * np.cos(2 * g * np.sqrt(n + 1)[:, None] * t)).sum(axis=0), "population_inversion")


# Far above any bounded NARMA orbit (below 0.4 for the paper's inputs and orders up to 21), and
# reached within a few steps once the quadratic term runs away (orders from 22 on, or a large y0).
_NARMA_BOUND = 1e3


def _narma_recursion(u: np.ndarray, order: int, y0: float, coeffs=(0.3, 0.05, 1.5, 0.1), hint: str = "") -> np.ndarray:
    a, b, c, d = coeffs
    y = np.zeros(len(u))
    y[0] = y0
    for t in range(len(u) - 1):
        lo = max(0, t - order + 1)
        u_lag = u[t - order + 1] if t - order + 1 >= 0 else 0.0  # zero pre-history
        y[t + 1] = a * y[t] + b * y[t] * y[lo:t + 1].sum() + c * u_lag * u[t] + d
        if not abs(y[t + 1]) <= _NARMA_BOUND:
            raise ValueError(f"the NARMA-{order} recursion diverges (y reaches {y[t + 1]:.3g} at step {t + 1}, "
                             f"from y0={y0}): its quadratic term runs away for long memories, large inputs or a "
                             f"large y0; the paper's NARMA-5 and NARMA-10 (y0=0.196) stay bounded{hint}")
    return y


def narma(n_steps: int = 300, order: int = 10, period: float = 300.0, y0: float = 0.196):
    """NARMA-``order`` in the paper's deterministic form; returns ``(u, y)``.

    ``u_t = 0.1 (sin(2 pi 2.11 t/T) sin(2 pi 3.73 t/T) sin(2 pi 4.11 t/T) + 1)``,
    ``y_{t+1} = 0.3 y_t + 0.05 y_t sum_{j=0}^{order-1} y_{t-j} + 1.5 u_{t-order+1} u_t + 0.1``,
    ``y_0 = 0.196``, zero pre-history. Windows of ``u`` predict ``y`` (not rescaled).
    A recursion that diverges (orders from 22 on with these inputs) is a ``ValueError``.
    """
    n_steps = check_int(n_steps, "n_steps", minimum=2)
    order = check_int(order, "order", minimum=1)
    period = _check_real(period, "period", positive=True)
    y0 = _check_real(y0, "y0")
    t = np.arange(n_steps)
    u = 0.1 * (np.sin(2 * np.pi * 2.11 * t / period) * np.sin(2 * np.pi * 3.73 * t / period)
               * np.sin(2 * np.pi * 4.11 * t / period) + 1)
    return u, _narma_recursion(u, order, y0)


def narma10_stream(n_steps: int = 3200, seed=None):
    """The classic streaming NARMA-10 benchmark; returns ``(u, y)``.

    ``u_t ~ U(0, 0.5)`` i.i.d. from ``seed``; the NARMA recursion of
    :func:`narma` with order 10, ``y_0 = 0`` and zero pre-history. The recursion
    can diverge on some random inputs (2 seeds of 0-199 at 3200 steps): that
    is a ``ValueError`` naming the seed.
    """
    n_steps = check_int(n_steps, "n_steps", minimum=2)
    u = np.random.default_rng(check_seed(seed)).uniform(0.0, 0.5, size=n_steps)
    return u, _narma_recursion(u, 10, 0.0, hint=f"; this stream's random inputs (seed={seed}) do not, another "
                                                   "seed's may")


def mackey_glass(n_steps: int = 2000, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1,
                 power: float = 10.0, x0: float = 1.2, h: float = 0.1, sample_every: int = 10) -> np.ndarray:
    """Mackey-Glass series by classic fourth-order Runge-Kutta.

    ``dx/dt = beta x(t - tau) / (1 + x(t - tau)^power) - gamma x(t)``, with the
    constant history ``x = x0`` for ``t <= 0``, step ``h`` (``tau / h`` must be
    an integer; the delayed value at a half step is the mean of its two
    neighbours), sampled every ``sample_every`` steps (every 1.0 time unit by
    default).

    Examples
    --------
    >>> mackey_glass(3).round(6).tolist()
    [1.2, 1.117562, 1.042969]
    """
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    sample_every = check_int(sample_every, "sample_every", minimum=1)
    tau, h = _check_real(tau, "tau", positive=True), _check_real(h, "h", positive=True)
    for value, name in ((beta, "beta"), (gamma, "gamma"), (power, "power"), (x0, "x0")):
        _check_real(value, name)
    lag = int(round(tau / h))
    if lag < 1 or abs(lag * h - tau) > 1e-9 * tau:
        raise ValueError(f"tau / h must be a positive integer, got tau={tau}, h={h}")
    total = (n_steps - 1) * sample_every + 1
    x = np.empty(lag + total)
    x[: lag + 1] = x0

    def f(xt, xd):
        return beta * xd / (1 + xd**power) - gamma * xt

    with np.errstate(over="ignore", invalid="ignore"):  # a non-finite series is refused below, by name
        for i in range(lag, lag + total - 1):
            xd0, xd1 = x[i - lag], x[i - lag + 1]
            xm = 0.5 * (xd0 + xd1)
            k1 = f(x[i], xd0)
            k2 = f(x[i] + 0.5 * h * k1, xm)
            k3 = f(x[i] + 0.5 * h * k2, xm)
            k4 = f(x[i] + h * k3, xd1)
            x[i + 1] = x[i] + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return _finite(x[lag::sample_every][:n_steps], "mackey_glass")


class MinMaxScaler:
    """Scale a series onto ``feature_range`` and back, remembering the fitted range.

    Examples
    --------
    >>> sc = MinMaxScaler().fit([2.0, 4.0, 3.0])
    >>> sc.transform([2.0, 4.0]).tolist(), sc.inverse_transform([0.0]).tolist()
    ([-1.0, 1.0], [3.0])
    """

    def __init__(self, feature_range=(-1.0, 1.0)):
        if isinstance(feature_range, str) or not np.iterable(feature_range) or len(feature_range) != 2:
            raise ValueError(f"feature_range must be a pair (low, high), got {feature_range!r}")
        low, high = (check_real(v, f"feature_range[{i}]") for i, v in enumerate(feature_range))
        if not low < high:
            raise ValueError(f"feature_range must be (low, high) with low < high, got {feature_range}")
        self.feature_range = (float(low), float(high))

    def fit(self, series) -> "MinMaxScaler":
        s = as_array(series, "series").astype(float)
        if s.size < 2:
            raise ValueError(f"series must have at least 2 values, got {s.size}")
        if s.max() == s.min():
            raise ValueError("series is constant; min-max scaling is undefined")
        self.min_, self.max_ = float(s.min()), float(s.max())
        return self

    def _check(self):
        check_fitted(self, ("min_", "max_"))

    def transform(self, series) -> np.ndarray:
        self._check()
        low, high = self.feature_range
        s = as_array(series, "series").astype(float)
        return low + (s - self.min_) * (high - low) / (self.max_ - self.min_)

    def inverse_transform(self, scaled) -> np.ndarray:
        self._check()
        low, high = self.feature_range
        s = as_array(scaled, "scaled").astype(float)
        return self.min_ + (s - low) * (self.max_ - self.min_) / (high - low)

    def fit_transform(self, series) -> np.ndarray:
        return self.fit(series).transform(series)


def minmax_scale(series, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Scale a 1-D series linearly onto ``[low, high]`` (see :class:`MinMaxScaler` to invert)."""
    s = as_array(series, "series").astype(float)
    if s.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {s.shape}")
    return MinMaxScaler((low, high)).fit_transform(s)


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


def split_point(n: int, train_fraction: float) -> int:
    """How many of ``n`` samples :func:`chronological_split` puts in the training part.

    Examples
    --------
    >>> split_point(296, 0.67)
    198
    """
    n = check_int(n, "n", minimum=0)
    return int(n * _check_fraction(train_fraction))


def _check_fraction(train_fraction) -> float:
    return check_real(train_fraction, "train_fraction", low=0.0, high=1.0, low_open=True, high_open=True)


def chronological_split(X, y, train_fraction: float = 0.67):
    """The first ``train_fraction`` of samples (in time order) train, the rest test."""
    _check_fraction(train_fraction)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    k = split_point(len(X), train_fraction)
    if k < 1 or k >= len(X):
        raise ValueError(f"{len(X)} samples are too few to split at {train_fraction}")
    return X[:k], X[k:], y[:k], y[k:]
