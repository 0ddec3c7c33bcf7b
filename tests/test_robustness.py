"""Robustness outside the paid path: a refused change changes nothing, divergence and degenerate fits
are errors that say so, odd inputs get clear messages (issue 16, items 14-16 and 19; the tasks' and
the study's items 17-18 are in test_tasks.py and test_study.py)."""
import numpy as np
import pytest
from sklearn.base import clone

from qrnn import QLSTM, QRNN, Ensemble, ReservoirRegressor, Ridge, TrainedRegressor, recommended_reservoir
from qrnn.classical import ESN, RNN
from qrnn.metrics import memory_capacity
from qrnn.readout import DEFAULT_ALPHAS


# -- 14: a refused set_params leaves the object as it was --

@pytest.mark.parametrize("make,bad,match", [
    (lambda: QLSTM(1, 2, seed=0), {"hidden_size": 0}, "hidden_size must be >= 1, got 0"),
    (lambda: QRNN(1, 2, seed=0), {"n_layers": 0}, "n_layers must be >= 1, got 0"),
    (lambda: ESN(1, 20, seed=0), {"spectral_radius": -1.0}, r"spectral_radius must be >= 0, got -1\.0"),
    (lambda: Ensemble([QRNN(1, 2, seed=0), ESN(1, 5, seed=1)]), {"reservoirs": [QRNN(1, 2), QRNN(2, 2)]},
     r"reservoirs\[1\] has input_size=2 but reservoirs\[0\] has 1"),
], ids=["QLSTM", "QRNN", "ESN", "Ensemble"])
def test_a_refused_set_params_leaves_the_fitted_estimator_as_it_was(make, bad, match, rng):
    X = rng.uniform(-1, 1, size=(30, 4, 1))
    y = X[:, -1, 0] ** 2
    est = ReservoirRegressor(make(), alpha=1e-3).fit(X, y)
    before, params = est.predict(X), repr(est.reservoir)
    with pytest.raises(ValueError, match=match):
        est.set_params(**{f"reservoir__{k}": v for k, v in bad.items()})
    assert repr(est.reservoir) == params
    np.testing.assert_array_equal(est.predict(X), before)
    # with an estimator parameter before the refused one: that one is put back
    with pytest.raises(ValueError, match=match):
        est.set_params(alpha=0.5, **{f"reservoir__{k}": v for k, v in bad.items()})
    assert est.alpha == 1e-3 and repr(est.reservoir) == params
    np.testing.assert_array_equal(est.predict(X), before)
    # a valid change still rebuilds the reservoir from its parameters
    if isinstance(est.reservoir, Ensemble):
        est.set_params(reservoir__reservoirs=[ESN(1, 7, seed=0)])
        assert est.reservoir.n_features == 7
    else:
        est.set_params(reservoir__hidden_size=4)
        assert est.reservoir.hidden_size == 4 and est.reservoir.transform(X).shape[-1] >= 4
    assert est.fit(X, y).predict(X).shape == (30,)


def test_ensemble_keeps_its_own_copy_of_the_members():
    members = [QRNN(1, 2, seed=0)]
    ens = Ensemble(members)
    members.append(ESN(1, 5, seed=0))
    assert len(ens.get_params()["reservoirs"]) == 1 and len(clone(ens).members) == 1


# -- 15: divergence is an error naming the epoch --

def test_diverging_training_stops_with_a_clear_error(rng):
    X = rng.uniform(-1, 1, size=(40, 4, 1))
    y = 3 * X[:, -1, 0]
    est = TrainedRegressor(RNN(1, 4, seed=0, trainable=True), epochs=3, batch_size=10, optimizer="sgd", lr=1e30,
                           random_state=0, progress=False)
    with pytest.raises(FloatingPointError, match=r"training diverged at epoch \d, batch \d of 4: the loss is "
                                                 r"(nan|inf) \(lr=1e\+30, clip_grad_norm=None\); try a smaller lr "
                                                 r"or clip_grad_norm"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")
    # one step that overflows the parameters, after a finite loss: the last step is checked too
    one = TrainedRegressor(RNN(1, 4, seed=0), epochs=1, batch_size=40, optimizer="sgd", lr=1e308, random_state=0,
                           progress=False)
    with pytest.raises(FloatingPointError, match="at epoch 1, batch 1 of 1: its step made the parameters non-finite"):
        one.fit(X, 1e3 * y)


# -- 16: rank-deficient ridge --

@pytest.mark.parametrize("criterion", ["loo", "gcv"])
def test_criteria_never_pick_an_alpha_that_interpolates(criterion, rng):
    X = rng.normal(size=(10, 30))
    y = X[:, :3] @ np.array([1.0, -0.5, 2.0]) + 0.1 * rng.normal(size=10)
    grid = (0.0, *DEFAULT_ALPHAS)
    r = Ridge(alpha=criterion, alphas=grid).fit(X, y)
    assert r.alpha_ > 0 and np.isnan(r.cv_scores_[0]) and np.isfinite(r.cv_scores_[1:]).all()
    Xt = rng.normal(size=(50, 30))
    pred = r.predict(Xt)
    assert np.isfinite(pred).all() and np.abs(pred).max() < 10 * np.abs(y).max()
    if criterion == "loo":  # every score is the explicit leave-one-out error, down to the smallest alpha
        loop = [np.mean([(Ridge(alpha=a).fit(np.delete(X, i, 0), np.delete(y, i)).predict(X[i:i + 1])[0] - y[i]) ** 2
                         for i in range(10)]) for a in grid[1:]]
        np.testing.assert_allclose(r.cv_scores_[1:], loop, rtol=1e-8)
    with pytest.raises(ValueError, match=rf"alpha='{criterion}': every alpha in alphas \[0.0\] makes the readout "
                                         r"interpolate the 10 samples \(30 features\)"):
        Ridge(alpha=criterion, alphas=[0.0]).fit(X, y)


def test_alpha_zero_on_rank_deficient_features_is_the_minimum_norm_solution(rng):
    base = rng.normal(size=(40, 3))
    y = base @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=40) + 1.0
    for X in (np.hstack([base, base[:, :1], base[:, :1], 2 * base[:, 1:2]]), rng.normal(size=(12, 30))):
        yy = y[:len(X)]
        Xc, yc = X - X.mean(0), yy - yy.mean()
        ref = np.linalg.lstsq(Xc, yc, rcond=None)[0]
        np.testing.assert_allclose(ref, np.linalg.pinv(Xc) @ yc, rtol=0, atol=1e-10)
        r = Ridge(alpha=0.0).fit(X, yy)
        np.testing.assert_allclose(r.coef_[:, 0].numpy(), ref, rtol=0, atol=1e-10)
        np.testing.assert_allclose(float(r.intercept_[0]), yy.mean() - X.mean(0) @ ref, rtol=0, atol=1e-10)
    # streamed: the Gram matrix's null directions are dropped too
    X = np.hstack([base, base[:, :1]])
    stream = Ridge(alpha=0.0).partial_fit(X[:25], y[:25]).partial_fit(X[25:], y[25:]).finalize()
    ref = np.linalg.lstsq(X - X.mean(0), y - y.mean(), rcond=None)[0]
    np.testing.assert_allclose(stream.coef_[:, 0].numpy(), ref, rtol=0, atol=1e-8)


# -- 19: small ones --

def test_ragged_nested_lists_get_the_friendly_message(rng):
    word = r"X is ragged \(its rows have different lengths\); sequences of unequal lengths are passed as a list"
    for est in (ReservoirRegressor(ESN(1, 5, seed=0)), ReservoirRegressor(ESN(1, 5, seed=0), readout="all"),
                TrainedRegressor(ESN(1, 5, seed=0), epochs=1, batch_size=1, progress=False)):
        with pytest.raises(ValueError, match=word):
            est.fit([[1.0, 2.0], [3.0]], [0.0, 1.0])
    with pytest.raises(ValueError, match=word.replace("X", r"X\[0\]")):
        ReservoirRegressor(ESN(1, 5, seed=0)).fit([[[1.0, 2.0], [3.0]], [[1.0], [2.0]]], [0.0, 1.0])
    with pytest.raises(ValueError, match=word):
        ESN(1, 5, seed=0).transform([[[1.0], [2.0]], [[3.0]]])
    with pytest.raises(ValueError, match=word):
        Ridge().fit([[1.0, 2.0], [3.0]], [0.0, 1.0])


def test_string_targets_are_refused_as_ridge_refuses_them(rng):
    X = rng.uniform(-1, 1, size=(6, 4, 1))
    y = np.array(["0.5", "1", "2", "3", "4", "5"])
    with pytest.raises(TypeError, match="y must hold real numbers, got an array of dtype <U3"):
        Ridge().fit(X[:, :, 0], y)
    for est in (ReservoirRegressor(ESN(1, 5, seed=0)),
                TrainedRegressor(ESN(1, 5, seed=0), epochs=1, batch_size=2, progress=False)):
        with pytest.raises(TypeError, match="y must hold real numbers, got an array of dtype <U3"):
            est.fit(X, y)
        with pytest.raises(TypeError, match="y must hold real numbers, got an array of dtype object holding strings"):
            est.fit(X, y.astype(object))
    with pytest.raises(TypeError, match=r"y\[1\] must hold real numbers"):
        ReservoirRegressor(ESN(1, 5, seed=0), readout="all").fit([X[0], X[1, :3]], [np.zeros(4), ["1", "2", "3"]])


def test_memory_capacity_wants_the_reservoir_itself():
    for what, hint in ((ReservoirRegressor(ESN(1, 5, seed=0)), "pass its .reservoir"),
                       (TrainedRegressor(ESN(1, 5, seed=0)), r"pass its trained .model_ \(after fit\)"),
                       (Ridge(), "it is a readout"), ("ESN", "e.g. ESN")):
        with pytest.raises(TypeError, match=f"reservoir must be a qrnn reservoir, got {type(what).__name__}: {hint}"):
            memory_capacity(what)
    with pytest.raises(TypeError, match="seed must be an integer"):
        memory_capacity(ESN(1, 5, seed=0), seed="1")


def test_an_unknown_recommended_override_lists_the_valid_ones():
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'bogus'; valid overrides: \['correlators', "
                                        r"'features', 'hidden_size', 'init', 'input_scaling', 'members', "
                                        r"'n_layers', 'backend'"):
        recommended_reservoir("QRNN", 1, bogus=1)
