"""Closed-loop generation (ReservoirRegressor.generate, TrainedRegressor.generate) and valid_time."""
import numpy as np
import pytest

from qrnn import QGRU, QLSTM, QRNN, ReservoirRegressor, TrainedRegressor, load
from qrnn.classical import ESN
from qrnn.metrics import nrmse, valid_time
from qrnn.tasks import mackey_glass


def _by_hand(est, warmup, n_steps):
    """The closed loop written out: rerun the fitted model on the whole history, warmup plus everything
    generated so far, and append its prediction at the last step (quadratic cost; independent of generate)."""
    history = np.array(warmup, dtype=float).reshape(len(warmup), -1)
    out = []
    for _ in range(n_steps):
        pred = np.asarray(est.predict(history[None]))[0]
        nxt = np.atleast_1d(pred[-1])
        out.append(nxt)
        history = np.vstack([history, nxt[None]])
    return np.array(out)


def _stream(n=300):
    return np.sin(np.arange(n) * 0.3) * 0.6 + 0.2 * np.sin(np.arange(n) * 0.11)


@pytest.mark.parametrize("make", [lambda: ESN(1, 40, seed=0), lambda: QRNN(1, 3, seed=0),
                                  lambda: QLSTM(1, 2, seed=1), lambda: QGRU(1, 3, seed=2, correlators=True)])
def test_generate_is_the_closed_loop_written_by_hand(make):
    u = _stream()
    est = ReservoirRegressor(make(), readout="all", washout=20, alpha=1e-6).fit(u[None, :-1, None], u[None, 1:])
    gen = est.generate(u[:120], 15)
    assert gen.shape == (15,)
    np.testing.assert_allclose(gen, _by_hand(est, u[:120], 15)[:, 0], rtol=0, atol=1e-10)


def test_trained_regressor_generates_the_same_closed_loop(rng):
    u = _stream()
    X = np.stack([u[i:i + 40] for i in range(0, 240, 20)])[:, :, None]
    y = np.stack([u[i + 1:i + 41] for i in range(0, 240, 20)])
    est = TrainedRegressor(QRNN(1, 2, seed=0, trainable=True), epochs=3, readout="all", washout=5,
                           random_state=0, progress=False).fit(X, y)
    np.testing.assert_allclose(est.generate(u[:50], 10), _by_hand(est, u[:50], 10)[:, 0], rtol=0, atol=1e-10)


def test_multivariate_and_batched_generation(rng):
    t = np.arange(400) * 0.2
    s = np.stack([np.sin(t), np.cos(1.3 * t)], 1) * 0.5
    est = ReservoirRegressor(ESN(2, 50, seed=0), readout="all", washout=30).fit(s[None, :-1], s[None, 1:])
    gen = est.generate(s[:200], 12)
    assert gen.shape == (12, 2)
    np.testing.assert_allclose(gen, _by_hand(est, s[:200], 12), rtol=0, atol=1e-10)
    batch = est.generate(np.stack([s[:200], s[50:250]]), 12)
    assert batch.shape == (2, 12, 2)
    np.testing.assert_allclose(batch[0], gen, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch[1], est.generate(s[50:250], 12), rtol=0, atol=1e-12)


def test_generation_survives_save_and_load(tmp_path):
    u = _stream()
    est = ReservoirRegressor(QRNN(1, 3, seed=0), readout="all", washout=10).fit(u[None, :-1, None], u[None, 1:])
    est.save(tmp_path / "m.qrnn")
    np.testing.assert_array_equal(load(tmp_path / "m.qrnn").generate(u[:80], 8), est.generate(u[:80], 8))


def test_esn_300_generates_mackey_glass_for_50_steps():
    # the must-show: fitted on 2000 steps of Mackey-Glass (tau 17), the next 50 with NRMSE < 0.05
    x = np.tanh(mackey_glass(2050, tau=17.0) - 1.0)
    est = ReservoirRegressor(ESN(1, 300, seed=0), readout="all", washout=100, alpha=1e-8)
    est.fit(x[None, :1999, None], x[None, 1:2000])
    gen = est.generate(x[:2000], 50)
    assert nrmse(x[2000:2050], gen) < 0.05
    assert valid_time(x[2000:2050], gen, scale=x[:2000].std()) == 50


def test_generate_refuses_what_it_cannot_feed_back(rng):
    u = _stream()
    est = ReservoirRegressor(ESN(1, 20, seed=0), readout="all", washout=10).fit(u[None, :-1, None], u[None, 1:])
    with pytest.raises(ValueError, match="n_steps must be >= 1, got 0"):
        est.generate(u[:50], 0)
    with pytest.raises(TypeError, match="n_steps must be an integer"):
        est.generate(u[:50], 2.5)
    with pytest.raises(ValueError, match="warmup has 10 steps; washout=10 needs at least 11"):
        est.generate(u[:10], 5)
    with pytest.raises(ValueError, match=r"warmup must have shape \(T0,\), \(T0, 1\) or \(batch, T0, 1\)"):
        est.generate(np.zeros((50, 2)), 5)
    with pytest.raises(ValueError, match="warmup contains NaN"):
        est.generate(np.full(50, np.nan), 5)
    two = ReservoirRegressor(ESN(1, 20, seed=0), readout="all").fit(u[None, :-1, None],
                                                                   np.stack([u[1:], u[1:]], -1)[None])
    with pytest.raises(ValueError, match="it predicts 2 but its input_size is 1"):
        two.generate(u[:50], 5)
    windows = ReservoirRegressor(ESN(1, 20, seed=0)).fit(u[:200].reshape(20, 10), u[10:210:10])
    with pytest.raises(ValueError, match="generate needs a model fitted with readout='all'"):
        windows.generate(u[:50], 5)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        ReservoirRegressor(ESN(1, 20, seed=0), readout="all").generate(u[:50], 5)


def test_valid_time_counts_the_leading_valid_steps():
    true = np.sin(np.arange(100) * 0.1)
    pred = true.copy()
    assert valid_time(true, pred) == 100
    pred[37] += 10.0
    assert valid_time(true, pred) == 37
    pred[0] += 10.0
    assert valid_time(true, pred) == 0
    # the error is normalised by the true series' std (or the scale given), RMS over columns
    t2 = np.stack([true, 2 * true], 1)
    p2 = t2 + np.array([0.5, 0.0]) * true.std()
    assert valid_time(t2, p2, threshold=0.36) == 100 and valid_time(t2, p2, threshold=0.35) == 0
    assert valid_time([0.0, 1.0], [0.0, 1.3], threshold=0.2, scale=1.0) == 1


def test_valid_time_refuses_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        valid_time(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="threshold must be > 0"):
        valid_time(np.arange(5.0), np.arange(5.0), threshold=0)
    with pytest.raises(ValueError, match="constant in a column"):
        valid_time(np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="scale must be a positive number"):
        valid_time(np.arange(5.0), np.arange(5.0), scale=-1.0)


def test_a_forecast_that_runs_away_is_invalid_from_there():
    true = np.sin(np.arange(20) * 0.3)
    pred = true.copy()
    pred[9:] = np.inf
    assert valid_time(true, pred) == 9
    pred[4] = np.nan
    assert valid_time(true, pred) == 4
    with pytest.raises(ValueError, match="y_true"):
        valid_time(np.full(20, np.nan), true)  # the truth must be finite
