"""Information processing capacity (Dambre, Verstraeten, Schrauwen and Massar, Sci. Rep. 2, 514, 2012).

A reservoir driven by i.i.d. input ``u_t ~ U(-1, 1)`` is asked, through a
linear readout of its features, to reproduce every function of its past
inputs in an orthogonal basis: products ``prod_k P_{d_k}(u_{t-k})`` of
Legendre polynomials (orthogonal under the uniform input) with total degree
``sum_k d_k`` up to ``max_degree``. The capacity for a target ``z`` is the
fraction of its variance the best linear readout explains,
``C[z] = z^T P z / z^T z`` with ``P`` the projection onto the centred
features. Capacities of orthogonal targets add up, and their total over a
complete basis equals the number of linearly independent features (the
rank), so the total is at most ``rank`` (up to sampling error: the target
functions are orthogonal in expectation, not exactly on a finite sample, so
a nearly saturated reservoir can exceed its rank by a few percent at 10^4
samples): it splits a reservoir's
computation into memory (degree 1: the linear memory capacity, delay 0
included) and nonlinearity (degrees 2 and 3).

Finite samples bias every capacity upwards: a target independent of the
features still gets ``C ~ chi2(rank) / n_samples``. As Dambre et al. do,
capacities below the ``1 - p_value`` quantile of that distribution are set
to zero.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from ._validation import check_int, check_real, check_seed


@dataclass
class Capacities:
    """The result of :func:`information_processing_capacity`.

    Attributes
    ----------
    capacities : dict
        ``{((delay, degree), ...): capacity}`` for every basis function whose
        capacity passed the threshold (others are zero and left out).
    by_degree : dict
        Total capacity per total degree ``1 .. max_degree``.
    total : float
        Their sum; at most ``rank``.
    rank : int
        The number of linearly independent features (after centring).
    threshold : float
        Capacities below it were set to zero.
    n_samples : int
    memory_curve : ndarray
        The degree-1 capacity per delay ``0 .. max_delay`` (the linear memory curve).
    """

    capacities: dict
    by_degree: dict
    total: float
    rank: int
    threshold: float
    n_samples: int
    memory_curve: np.ndarray = field(repr=False)

    @property
    def nonlinear(self) -> float:
        """The capacity of degree 2 and above."""
        return float(sum(v for d, v in self.by_degree.items() if d >= 2))

    def summary(self) -> str:
        """One line: total, rank and capacity per degree."""
        parts = ", ".join(f"degree {d}: {v:.2f}" for d, v in self.by_degree.items())
        return f"IPC {self.total:.2f} of rank {self.rank} ({parts}; threshold {self.threshold:.1e})"

    def plot(self, ax=None, label=None):
        """A stacked bar of the capacity per degree, the rank drawn as a line (matplotlib)."""
        import matplotlib.pyplot as plt

        ax = ax or plt.figure(figsize=(3, 4)).gca()
        bottom = 0.0
        for d, v in self.by_degree.items():
            ax.bar([label or "reservoir"], [v], bottom=bottom, color=f"C{d - 1}", label=f"degree {d}")
            bottom += v
        ax.axhline(self.rank, color="k", lw=0.8, ls="--")
        ax.set_ylabel("capacity")
        ax.legend(fontsize="small")
        return ax


def _legendre(u: np.ndarray, max_degree: int) -> np.ndarray:
    """``P_0 .. P_max_degree`` of ``u``, ``(max_degree + 1, len(u))``, by Bonnet's recursion."""
    P = np.empty((max_degree + 1, len(u)))
    P[0] = 1.0
    if max_degree >= 1:
        P[1] = u
    for n in range(1, max_degree):
        P[n + 1] = ((2 * n + 1) * u * P[n] - n * P[n - 1]) / (n + 1)
    return P


def _basis(max_degree: int, max_delay: int, max_delay_nonlinear: int):
    """Every ``((delay, degree), ...)`` with distinct delays and total degree 1 .. max_degree."""
    for total in range(1, max_degree + 1):
        reach = max_delay if total == 1 else max_delay_nonlinear
        for parts in _partitions(total):
            for delays in itertools.permutations(range(reach + 1), len(parts)):
                # count each set of (delay, degree) pairs once: delays increasing among equal degrees
                if any(parts[i] == parts[i + 1] and delays[i] > delays[i + 1] for i in range(len(parts) - 1)):
                    continue
                yield tuple(sorted(zip(delays, parts)))


def _partitions(n: int, largest: int | None = None):
    """Partitions of ``n`` into positive parts, non-increasing: 3 -> (3,), (2, 1), (1, 1, 1)."""
    largest = n if largest is None else largest
    if n == 0:
        yield ()
        return
    for first in range(min(n, largest), 0, -1):
        for rest in _partitions(n - first, first):
            yield (first, *rest)


def information_processing_capacity(reservoir, max_degree: int = 3, max_delay: int = 20,
                                    max_delay_nonlinear: int | None = None, n_samples: int = 10000,
                                    washout: int = 200, p_value: float = 1e-4, seed=None) -> Capacities:
    """The information processing capacity of a one-input reservoir, per degree, up to ``max_degree``.

    Parameters
    ----------
    reservoir : Reservoir
        Any qrnn reservoir with ``input_size=1`` (an estimator's ``reservoir``).
    max_degree : int, default 3
        The largest total degree of the basis functions (1: linear memory only).
    max_delay : int, default 20
        Delays ``0 .. max_delay`` of the degree-1 functions (the memory curve).
    max_delay_nonlinear : int, optional
        Delays ``0 .. max_delay_nonlinear`` of the functions of degree 2 and
        above (default ``min(max_delay, 10)``: their number grows as the cube
        of it at degree 3, and capacities of long delays are small).
    n_samples : int, default 10000
        Steps the capacities are measured on, after ``washout`` (and after the
        longest delay). The threshold, and the bias it removes, fall as 1 / n_samples.
    washout : int, default 200
        Steps from the zero state left out.
    p_value : float, default 1e-4
        A capacity below the ``1 - p_value`` quantile of ``chi2(rank) / n_samples``,
        what a target unrelated to the features reaches, is set to zero.
    seed : int, optional
        Seed of the input ``U(-1, 1)``.

    Returns
    -------
    Capacities

    Examples
    --------
    >>> from qrnn.classical import ESN
    >>> c = information_processing_capacity(ESN(1, 20, seed=0), max_delay=10, n_samples=2000, seed=0)
    >>> 0 < c.total <= c.rank == 20
    True
    >>> sorted(c.by_degree)
    [1, 2, 3]
    """
    from scipy.stats import chi2

    from .reservoir import Reservoir

    if not isinstance(reservoir, Reservoir):
        raise TypeError(f"reservoir must be a qrnn reservoir (e.g. ESN(1, 100), QRNN(1, 3); an estimator's "
                        f".reservoir), got {type(reservoir).__name__}")
    if reservoir.input_size != 1:
        raise ValueError(f"information_processing_capacity needs a reservoir with input_size=1, got "
                         f"{reservoir.input_size}")
    max_degree = check_int(max_degree, "max_degree", minimum=1)
    max_delay = check_int(max_delay, "max_delay", minimum=0)
    if max_delay_nonlinear is None:
        max_delay_nonlinear = min(max_delay, 10)
    max_delay_nonlinear = check_int(max_delay_nonlinear, "max_delay_nonlinear", minimum=0)
    n_samples = check_int(n_samples, "n_samples", minimum=10)
    washout = check_int(washout, "washout", minimum=0)
    p_value = check_real(p_value, "p_value", low=0.0, high=1.0, low_open=True, high_open=True)
    rng = np.random.default_rng(check_seed(seed))
    lag = max(max_delay, max_delay_nonlinear)
    start = washout + lag
    u = rng.uniform(-1.0, 1.0, size=start + n_samples)
    F = reservoir.transform(u[None, :, None])[0][start:]
    F = F - F.mean(0)
    U, s, _ = np.linalg.svd(F, full_matrices=False)
    rank = int((s > s.max() * max(F.shape) * np.finfo(float).eps).sum()) if s.size and s.max() > 0 else 0
    Q = U[:, :rank]
    P = _legendre(u, max_degree)  # P[d, t] = P_d(u_t)
    threshold = float(chi2.ppf(1.0 - p_value, max(rank, 1)) / n_samples)
    capacities: dict = {}
    by_degree = {d: 0.0 for d in range(1, max_degree + 1)}
    memory = np.zeros(max_delay + 1)
    basis = list(_basis(max_degree, max_delay, max_delay_nonlinear))
    for lo in range(0, len(basis), 256):  # a block of targets at a time: (n_samples, 256) floats
        block = basis[lo:lo + 256]
        Z = np.empty((n_samples, len(block)))
        for j, fn in enumerate(block):
            z = np.ones(n_samples)
            for delay, degree in fn:
                z *= P[degree, start - delay:start - delay + n_samples]
            Z[:, j] = z - z.mean()
        cap = ((Q.T @ Z) ** 2).sum(0) / (Z * Z).sum(0)
        for fn, c in zip(block, cap):
            if c < threshold:
                continue
            capacities[fn] = float(c)
            degree = sum(d for _, d in fn)
            by_degree[degree] += float(c)
            if degree == 1:
                memory[fn[0][0]] = float(c)
    return Capacities(capacities=capacities, by_degree=by_degree, total=float(sum(by_degree.values())),
                      rank=rank, threshold=threshold, n_samples=n_samples, memory_curve=memory)


def plot_capacities(capacities: dict, path=None, title: str | None = None):
    """Several reservoirs' capacities side by side: per degree (stacked bars, each rank a tick) and their
    memory curves (degree-1 capacity per delay), so that one sees whether a model has memory or nonlinearity.

    ``capacities`` maps a label to a :class:`Capacities`; ``path`` saves the figure. Returns the figure.
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = list(capacities)
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(4 + 0.7 * len(names) + 4, 3.6),
                                       gridspec_kw={"width_ratios": [max(2, len(names)), 4]})
    degrees = sorted({d for c in capacities.values() for d in c.by_degree})
    bottom = np.zeros(len(names))
    for d in degrees:
        vals = np.array([capacities[n].by_degree.get(d, 0.0) for n in names])
        bars.bar(names, vals, bottom=bottom, color=f"C{d - 1}", label=f"degree {d}")
        bottom += vals
    bars.scatter(names, [capacities[n].rank for n in names], marker="_", s=300, color="k", label="rank", zorder=3)
    bars.set_ylabel("information processing capacity")
    bars.tick_params(axis="x", rotation=45)
    bars.legend(fontsize="small")
    for i, n in enumerate(names):
        curve = capacities[n].memory_curve
        curves.plot(np.arange(len(curve)), curve, marker=".", color=f"C{i % 10}", label=n)
    curves.set_xlabel("delay k")
    curves.set_ylabel("capacity of u(t-k)")
    curves.set_ylim(-0.02, 1.02)
    curves.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
