"""How many shots a reservoir needs for a task, before a hardware run is paid: :func:`plan_shots`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import check_bool, check_int, check_real

DEFAULT_SHOTS = (100, 300, 1000, 3000, 10_000, 30_000, 100_000)


@dataclass
class ShotPlan:
    """What :func:`plan_shots` measured: the readout's test error against shots, with and without noise.

    Attributes
    ----------
    shots : tuple of int
        The shot counts tried.
    mse, mse_std : ndarray
        Test MSE at each shot count (mean and standard deviation over the repeats), noiseless.
    exact_mse : float
        Test MSE with exact expectation values (infinitely many shots).
    needed_shots : int or None
        The smallest shot count whose MSE is within ``tolerance`` of ``exact_mse``
        (``mse <= (1 + tolerance) exact_mse``); None if none is.
    noisy_mse, noisy_mse_std, exact_noisy_mse, needed_shots_noisy
        The same under the device's noise (None without noise).
    qpu_seconds : ndarray or None
        QPU seconds of one hardware run of the train and test windows at each
        shot count (``IBMBackend.estimate``); None without a device.
    tolerance : float
    device : str or None
    noise : qrnn.backends.Noise or None
        The noise the noisy curve was sampled with.
    layout : list of int or None
        The device qubits whose calibration that noise was read from.
    """

    shots: tuple
    mse: np.ndarray
    mse_std: np.ndarray
    exact_mse: float
    needed_shots: int | None
    tolerance: float
    noisy_mse: np.ndarray | None = None
    noisy_mse_std: np.ndarray | None = None
    exact_noisy_mse: float | None = None
    needed_shots_noisy: int | None = None
    qpu_seconds: np.ndarray | None = None
    device: str | None = None
    noise: object = field(default=None, repr=False)
    layout: list | None = None

    def qpu_seconds_for(self, shots: int | None) -> float | None:
        """QPU seconds of the run at ``shots`` (one of :attr:`shots`), or None."""
        if shots is None or self.qpu_seconds is None:
            return None
        return float(self.qpu_seconds[self.shots.index(shots)])

    def summary(self) -> str:
        """A few lines a person reads: the answer, then the table."""
        def answer(needed, exact, label):
            if needed is None:
                return (f"{label}: no shot count tried reaches {1 + self.tolerance:.2f} x the exact test MSE "
                        f"{exact:.4g}; try more shots")
            cost = self.qpu_seconds_for(needed)
            where = "" if cost is None else f", about {cost:.0f} QPU seconds on {self.device}"
            return f"{label}: {needed} shots reach the exact test MSE {exact:.4g} within {self.tolerance:.0%}{where}"

        lines = [answer(self.needed_shots, self.exact_mse, "noiseless")]
        if self.noisy_mse is not None:
            lines.append(answer(self.needed_shots_noisy, self.exact_noisy_mse, "with the device's noise"))
        head = f"{'shots':>8} {'test MSE':>12}" + (f" {'noisy MSE':>12}" if self.noisy_mse is not None else "")
        head += f" {'QPU s':>9}" if self.qpu_seconds is not None else ""
        lines.append(head)
        for i, s in enumerate(self.shots):
            row = f"{s:>8} {self.mse[i]:>12.4g}"
            row += f" {self.noisy_mse[i]:>12.4g}" if self.noisy_mse is not None else ""
            row += f" {self.qpu_seconds[i]:>9.0f}" if self.qpu_seconds is not None else ""
            lines.append(row)
        return "\n".join(lines)

    def plot(self, ax=None):
        """Test MSE against shots (log-log), the exact values as dashed lines; returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 4))
        x = np.asarray(self.shots)
        ax.errorbar(x, self.mse, yerr=self.mse_std, marker="o", capsize=3, label="shots, noiseless")
        ax.axhline(self.exact_mse, ls="--", color="C0", label="exact (no shot noise)")
        if self.noisy_mse is not None:
            ax.errorbar(x, self.noisy_mse, yerr=self.noisy_mse_std, marker="s", capsize=3, color="C3",
                        label="shots, device noise")
            ax.axhline(self.exact_noisy_mse, ls="--", color="C3", label="device noise, no shot noise")
        for needed, color in ((self.needed_shots, "C0"), (self.needed_shots_noisy, "C3")):
            if needed is not None:
                ax.axvline(needed, ls=":", color=color, lw=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("shots per circuit")
        ax.set_ylabel("test MSE")
        title = "readout test error against shots"
        if self.qpu_seconds is not None and self.needed_shots is not None:
            title += f" ({self.needed_shots} shots: {self.qpu_seconds_for(self.needed_shots):.0f} QPU s on {self.device})"
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)
        return ax


def _needed(shots, mse, exact, tolerance):
    for s, m in zip(shots, mse):
        if m <= (1 + tolerance) * exact:
            return int(s)
    return None


def plan_shots(model, X, y, *, X_test=None, y_test=None, test_size=0.25, shots=DEFAULT_SHOTS, noise=None,
               device=None, layout=None, tolerance=0.1, repeats=3, seed=0, progress=True) -> ShotPlan:
    """How many shots does this reservoir need for this task? The readout's test error against shots.

    For each shot count the model is fitted and scored on features sampled
    with that many shots by the torch engine (``TorchBackend(shots=...)``,
    the train features too, as a hardware run would give them), noiseless
    and, with ``noise`` or ``device``, under the device's noise; beside them
    the exact values. Each shot count is repeated with ``repeats`` seeds.

    Parameters
    ----------
    model : ReservoirRegressor or Reservoir
        The estimator (cloned, never changed) or a quantum reservoir (fitted
        as ``ReservoirRegressor(reservoir)``). Its cells keep their weights
        and run on the torch engine.
    X, y : array-like
        Windows and targets, as the estimator takes them.
    X_test, y_test : array-like, optional
        Test windows; default the last ``test_size`` of ``X`` (time order kept).
    test_size : float, default 0.25
    shots : sequence of int
        Shot counts to try, increasing (default 100 to 100,000).
    noise : qrnn.backends.Noise, optional
        The device noise; default, with ``device``, ``Noise.from_device(device, qubits=layout)``.
    device : str, optional
        An IBM device name (``"fake_manila"``, or a real one with credentials):
        its noise (unless ``noise`` is given) and the QPU seconds each shot
        count would cost there (:meth:`~qrnn.backends.IBMBackend.estimate`).
    layout : sequence of int, optional
        The physical qubits of the circuits' wires on ``device``; default the
        transpiler's choice, ``IBMBackend(device, seed=0).layout(...)`` (a
        fixed transpiler seed: the shots' ``seed`` does not move it).
        Recorded in :attr:`ShotPlan.layout`.
    tolerance : float, default 0.1
        How close to the exact test MSE is close enough (relative).
    repeats : int, default 3
    seed : int, default 0
        Seeds the shots (repeat ``r`` uses ``seed + r``).
    progress : bool, default True
        A progress bar (tqdm).

    Returns
    -------
    ShotPlan
        With :meth:`ShotPlan.summary` and :meth:`ShotPlan.plot`.

    Examples
    --------
    >>> import numpy as np
    >>> from qrnn import QRNN, plan_shots
    >>> X = np.random.default_rng(0).uniform(-1, 1, size=(96, 4, 1)); y = X[:, -1, 0]
    >>> plan = plan_shots(QRNN(1, 2, seed=0, init="uniform"), X, y, shots=(30, 10_000), repeats=1, progress=False)
    >>> plan.shots, plan.mse.shape, bool(plan.exact_mse < plan.mse[0]), plan.needed_shots
    ((30, 10000), (2,), True, 10000)
    >>> print(plan.summary().splitlines()[0])  # doctest: +ELLIPSIS
    noiseless: 10000 shots reach the exact test MSE ... within 10%
    """
    from sklearn.base import clone

    from .backends import IBMBackend, Noise, TorchBackend
    from .cells import QuantumReservoir, on_backend
    from .estimator import ReservoirRegressor, _cells
    from .reservoir import Reservoir

    if isinstance(model, Reservoir):
        model = ReservoirRegressor(model)
    if not isinstance(model, ReservoirRegressor):
        raise TypeError(f"model must be a ReservoirRegressor or a reservoir, got {type(model).__name__}")
    quantum = [c for c in _cells(model.reservoir) if isinstance(c, QuantumReservoir)]
    if not quantum:
        raise ValueError("model has no quantum cell: shots change nothing on a classical reservoir")
    shots = tuple(check_int(s, "shots entries", minimum=1) for s in shots)
    if not shots or list(shots) != sorted(set(shots)):
        raise ValueError(f"shots must be a non-empty increasing sequence of distinct counts, got {shots}")
    tolerance = check_real(tolerance, "tolerance", low=0.0)
    repeats = check_int(repeats, "repeats", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    check_bool(progress, "progress")
    if noise is not None and not isinstance(noise, Noise):
        raise TypeError(f"noise must be a qrnn.backends.Noise, got {type(noise).__name__}")
    if device is not None and not isinstance(device, str):
        raise TypeError(f"device must be an IBM device name such as 'fake_manila', got {type(device).__name__}")
    if (X_test is None) != (y_test is None):
        raise ValueError("give X_test and y_test together, or neither (the last test_size of X is then the test)")
    if X_test is None:
        check_real(test_size, "test_size", low=0.0, high=1.0, low_open=True, high_open=True)
        n = len(X)
        cut = n - max(1, int(round(test_size * n)))
        if cut < 2:
            raise ValueError(f"test_size={test_size} leaves {cut} training windows of {n}; give more windows")
        X_train, y_train, X_test, y_test = X[:cut], y[:cut], X[cut:], y[cut:]
    else:
        X_train, y_train = X, y

    reservoir = model.reservoir
    if layout is not None and (device is None or noise is not None):
        raise ValueError("layout picks the qubits whose calibration the noise is read from: give it with device "
                         "and without noise")
    if device is not None and noise is None:
        if layout is None:
            layout = IBMBackend(device, seed=0).layout(quantum[0].circuit(0))
        noise = Noise.from_device(device, qubits=layout)

    def test_mse(backend):
        est = clone(model).set_params(reservoir=on_backend(reservoir, backend))
        pred = est.fit(X_train, y_train).predict(X_test)
        return float(np.mean((np.asarray(pred, dtype=float).reshape(np.shape(y_test)) - np.asarray(y_test)) ** 2))

    conditions = [None] + ([noise] if noise is not None else [])
    total = len(conditions) * (1 + len(shots) * repeats)
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="planning shots", unit="fit", disable=not progress)
    curves = []
    for nz in conditions:
        exact = test_mse(TorchBackend(noise=nz))
        bar.update()
        runs = np.empty((len(shots), repeats))
        for i, s in enumerate(shots):
            for r in range(repeats):
                runs[i, r] = test_mse(TorchBackend(shots=s, seed=seed + r, noise=nz))
                bar.update()
        curves.append((exact, runs.mean(1), runs.std(1)))
    bar.close()

    qpu = None
    if device is not None:
        X_all = np.concatenate([np.asarray(X_train), np.asarray(X_test)])
        qpu = np.array([IBMBackend(device, shots=s, seed=seed).estimate(reservoir, X_all)["qpu_seconds"]
                        for s in shots])
    exact, mse, std = curves[0]
    plan = ShotPlan(shots=shots, mse=mse, mse_std=std, exact_mse=exact,
                    needed_shots=_needed(shots, mse, exact, tolerance), tolerance=tolerance, qpu_seconds=qpu,
                    device=device, noise=noise, layout=None if layout is None else [int(q) for q in layout])
    if noise is not None:
        n_exact, n_mse, n_std = curves[1]
        plan.noisy_mse, plan.noisy_mse_std, plan.exact_noisy_mse = n_mse, n_std, n_exact
        plan.needed_shots_noisy = _needed(shots, n_mse, n_exact, tolerance)
    return plan
