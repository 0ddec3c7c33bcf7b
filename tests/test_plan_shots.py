"""plan_shots: the readout's test error against shots, with and without a device's noise (issue 19)."""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest

from qrnn import QLSTM, QRNN, ReservoirRegressor, plan_shots
from qrnn.backends import IBMBackend, Noise
from qrnn.classical import ESN

matplotlib.use("Agg")


def _task(n=96, seed=0):
    X = np.random.default_rng(seed).uniform(-1, 1, size=(n, 4, 1))
    return X, X[:, -1, 0]


def test_error_falls_with_shots_towards_the_exact_error():
    X, y = _task()
    est = ReservoirRegressor(QRNN(1, 2, seed=0, init="uniform"), alpha="loo")
    plan = plan_shots(est, X, y, shots=(30, 100_000), repeats=2, progress=False)
    assert plan.mse[0] > 1.3 * plan.exact_mse  # 30 shots: sampling noise dominates
    assert abs(plan.mse[1] - plan.exact_mse) < 0.05 * plan.exact_mse and plan.needed_shots == 100_000
    assert plan.noisy_mse is None and plan.qpu_seconds is None
    assert "100000 shots reach the exact test MSE" in plan.summary()
    # the same seed gives the same plan; the estimator given is not changed
    a = plan_shots(est, X, y, shots=(30, 300), repeats=1, progress=False)
    b = plan_shots(est, X, y, shots=(30, 300), repeats=1, progress=False)
    np.testing.assert_array_equal(a.mse, b.mse)
    assert not hasattr(est, "ridge_")
    assert plan_shots(est, X, y, shots=(30,), tolerance=1e9, repeats=1, progress=False).needed_shots == 30


def test_with_a_device_noise_and_qpu_seconds():
    X, y = _task(32)
    res = QLSTM(1, 2, seed=1, init="uniform")
    plan = plan_shots(res, X, y, shots=(100, 1000), device="fake_manila", repeats=1, progress=False)
    assert plan.noisy_mse is not None and plan.exact_noisy_mse != plan.exact_mse
    # the costs are the device backend's own estimate, for the train and test windows
    want = [IBMBackend("fake_manila", shots=s).estimate(res, X)["qpu_seconds"] for s in (100, 1000)]
    np.testing.assert_allclose(plan.qpu_seconds, want)
    layout = IBMBackend("fake_manila", seed=0).layout(res.circuit(0))
    assert plan.noise == Noise.from_device("fake_manila", qubits=layout)
    ax = plan.plot()
    assert ax.get_xscale() == "log" and len(ax.lines) >= 4
    assert "QPU s" in plan.summary() and "device's noise" in plan.summary()


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"shots": (1000, 100)}, ValueError, "increasing"),
    ({"shots": (0,)}, ValueError, "shots entries must be >= 1"),
    ({"tolerance": -1.0}, ValueError, "tolerance must be >= 0"),
    ({"X_test": np.zeros((2, 4, 1))}, ValueError, "X_test and y_test together"),
    ({"noise": 0.1}, TypeError, "noise must be a qrnn.backends.Noise"),
    ({"device": "fake_nowhere"}, ValueError, "unknown"),
])
def test_bad_input(kwargs, exc, match):
    X, y = _task(16)
    with pytest.raises(exc, match=match):
        plan_shots(QRNN(1, 2, seed=0), X, y, progress=False, **kwargs)


def test_a_classical_reservoir_is_refused():
    X, y = _task(16)
    with pytest.raises(ValueError, match="no quantum cell"):
        plan_shots(ESN(1, 10, seed=0), X, y, progress=False)
