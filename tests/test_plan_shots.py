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
    assert plan.layout == layout and plan.noise == Noise.from_device("fake_manila", qubits=layout)
    # the shots' seed does not move the layout; a layout given is used
    assert plan_shots(res, X, y, shots=(100,), device="fake_manila", repeats=1, seed=5, progress=False).layout == layout
    mine = plan_shots(res, X, y, shots=(100,), device="fake_manila", layout=[0, 1, 2], repeats=1, progress=False)
    assert mine.layout == [0, 1, 2] and mine.noise == Noise.from_device("fake_manila", qubits=[0, 1, 2])
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
    ({"layout": [0, 1, 2]}, ValueError, "give it with device"),
])
def test_bad_input(kwargs, exc, match):
    X, y = _task(16)
    with pytest.raises(exc, match=match):
        plan_shots(QRNN(1, 2, seed=0), X, y, progress=False, **kwargs)


def test_a_classical_reservoir_is_refused():
    X, y = _task(16)
    with pytest.raises(ValueError, match="no quantum cell"):
        plan_shots(ESN(1, 10, seed=0), X, y, progress=False)


# --- the shot-aware readout --------------------------------------------------------------------------

def test_feature_penalty_is_ridge_with_a_penalty_per_feature():
    from qrnn import Ridge
    from qrnn.readout import fit_feature_penalised

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    d, a = np.array([0.0, 2.0, 50.0]), 0.7
    r = fit_feature_penalised(Ridge(alpha=a), X, y, d)
    # the normal equations of the generalised problem, written out (intercept unpenalised: centred data)
    Xc, yc = X - X.mean(0), y - y.mean()
    w = np.linalg.solve(Xc.T @ Xc + np.diag(a + d), Xc.T @ yc)
    np.testing.assert_allclose(r.coef_[:, 0].numpy(), w, atol=1e-12)
    np.testing.assert_allclose(r.predict(X), X @ w + y.mean() - X.mean(0) @ w, atol=1e-12)
    # no penalty: plain ridge; a criterion picks its alpha from the grid
    np.testing.assert_allclose(fit_feature_penalised(Ridge(alpha=a), X, y, np.zeros(3)).coef_,
                               Ridge(alpha=a).fit(X, y).coef_, atol=1e-12)
    chosen = fit_feature_penalised(Ridge(alpha="loo", alphas=[0.1, 1.0, 10.0]), X, y, d)
    assert chosen.alpha_ in (0.1, 1.0, 10.0) and len(chosen.cv_scores_) == 3
    with pytest.raises(ValueError, match="alpha > 0"):
        fit_feature_penalised(Ridge(alpha=0.0), X, y, d)
    with pytest.raises(ValueError, match="one non-negative number per feature"):
        fit_feature_penalised(Ridge(alpha=a), X, y, d[:2])


def test_shot_penalty_estimates_the_variance_from_a_second_draw():
    from qrnn.backends import TorchBackend

    X, y = _task(64)
    est = ReservoirRegressor(QRNN(1, 2, seed=0, init="uniform", backend=TorchBackend(shots=200, seed=4)),
                             alpha="loo", shot_penalty=True).fit(X, y)
    # features that are Z estimates from 200 shots: variance (1 - <Z>^2) / 200, at most 1 / 200
    assert est.shot_variance_.shape == (2,) and np.all(est.shot_variance_ > 0)
    assert np.all(est.shot_variance_ < 1.5 / 200)
    again = ReservoirRegressor(QRNN(1, 2, seed=0, init="uniform", backend=TorchBackend(shots=200, seed=4)),
                               alpha="loo", shot_penalty=True).fit(X, y)
    np.testing.assert_array_equal(est.predict(X), again.predict(X))  # seeded: reproducible
    with pytest.raises(ValueError, match="shot_penalty needs a quantum reservoir"):
        ReservoirRegressor(QRNN(1, 2, seed=0), shot_penalty=True).fit(X, y)
    with pytest.raises(ValueError, match="readout='last'"):
        ReservoirRegressor(QRNN(1, 2, seed=0, backend=TorchBackend(shots=10)), readout="all",
                           shot_penalty=True).fit(X, np.zeros(X.shape[:2]))
