import numpy as np
import pytest
from sklearn.metrics import mean_squared_error, r2_score

from qrnn.classical import ESN
from qrnn import metrics


def test_against_sklearn(rng):
    t, p = rng.normal(size=50), rng.normal(size=50)
    assert metrics.mse(t, p) == pytest.approx(mean_squared_error(t, p), rel=1e-12)
    assert metrics.rmse(t, p) == pytest.approx(np.sqrt(mean_squared_error(t, p)), rel=1e-12)
    assert metrics.r2(t, p) == pytest.approx(r2_score(t, p), rel=1e-12)
    T, P = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    assert metrics.r2(T, P) == pytest.approx(r2_score(T, P), rel=1e-12)
    assert metrics.nrmse(t, p) == pytest.approx(np.sqrt(np.mean((t - p) ** 2)) / t.std(), rel=1e-12)
    assert metrics.nrmse(t, p, "range") == pytest.approx(np.sqrt(np.mean((t - p) ** 2)) / np.ptp(t), rel=1e-12)


@pytest.mark.parametrize("fn", [metrics.mse, metrics.rmse, metrics.nrmse, metrics.r2])
def test_shape_mismatch_is_an_error(fn):
    with pytest.raises(ValueError, match="same shape"):
        fn(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="same shape"):
        fn(np.zeros(5), np.zeros(4))


def test_bad_values():
    with pytest.raises(ValueError, match="NaN"):
        metrics.mse([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="normalization must be one of"):
        metrics.nrmse([1.0, 2.0], [1.0, 2.0], "max")
    with pytest.raises(ValueError, match="undefined"):
        metrics.nrmse([1.0, 1.0], [1.0, 2.0])


def test_memory_capacity_bounds():
    # A linear-ish ESN remembers several steps; MC is bounded by the number of units.
    mc, per_delay = metrics.memory_capacity(ESN(1, 20, spectral_radius=0.9, input_scaling=0.1, seed=0),
                                            max_delay=30, seed=1)
    assert per_delay.shape == (30,) and np.all((per_delay >= 0) & (per_delay <= 1))
    assert 5 < mc <= 20
    assert per_delay[0] > 0.9 and per_delay[-1] < 0.2


@pytest.mark.parametrize("kwargs,error,match", [
    ({"max_delay": 0}, ValueError, "max_delay must be >= 1"),
    ({"max_delay": 30, "washout": 10}, ValueError, "washout must be >= 30"),
    ({"n_train": 1}, ValueError, "n_train must be >= 2"),
    ({"n_test": 1.5}, TypeError, "n_test must be an integer"),
])
def test_memory_capacity_rejects(kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        metrics.memory_capacity(ESN(1, 5, seed=0), **kwargs)
    assert type(info.value) is error
    from qrnn import QRNN
    with pytest.raises(ValueError, match="input_size=1"):
        metrics.memory_capacity(QRNN(2, 2))
