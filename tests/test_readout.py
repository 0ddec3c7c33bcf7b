import numpy as np
import pytest
import sklearn.linear_model as sklm
from sklearn.exceptions import NotFittedError
import torch

from qrnn import Ridge


@pytest.mark.parametrize("n_targets", [None, 3])
@pytest.mark.parametrize("alpha", [1e-8, 1e-2, 10.0])
def test_matches_sklearn(alpha, n_targets, rng):
    X = rng.normal(size=(60, 7)) * rng.uniform(0.1, 10, size=7) + 2.0
    shape = (60,) if n_targets is None else (60, n_targets)
    y = rng.normal(size=shape) + 5
    ours = Ridge(alpha=alpha).fit(X, y)
    ref = sklm.Ridge(alpha=alpha).fit(X, y)
    Xt = rng.normal(size=(9, 7))
    pred = ours.predict(Xt)
    assert pred.shape == ref.predict(Xt).shape
    np.testing.assert_allclose(pred, ref.predict(Xt), rtol=0, atol=1e-8)
    np.testing.assert_allclose(ours.coef_.numpy().T.reshape(ref.coef_.shape), ref.coef_, rtol=0, atol=1e-8)


def test_ill_conditioned_features_stay_accurate(rng):
    # Nearly collinear columns (condition number ~1e10): the SVD solve stays close to sklearn's SVD solver.
    base = rng.normal(size=(200, 1))
    X = np.hstack([base, base + 1e-10 * rng.normal(size=(200, 1)), rng.normal(size=(200, 3))])
    y = X @ np.array([1.0, 1.0, 0.5, -0.5, 2.0]) + 0.01 * rng.normal(size=200)
    ours = Ridge(alpha=1e-6).fit(X, y)
    ref = sklm.Ridge(alpha=1e-6, solver="svd").fit(X, y)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=0, atol=1e-8)


def test_loo_choice_matches_explicit_loop(rng):
    X = rng.normal(size=(25, 4))
    y = X @ rng.normal(size=4) + 0.5 * rng.normal(size=25)
    grid = [1e-4, 1e-2, 1e-1, 1.0, 10.0, 100.0]
    fast = Ridge(alpha="loo", alphas=grid).fit(X, y)
    scores = []
    for a in grid:
        errs = []
        for i in range(len(X)):
            keep = np.arange(len(X)) != i
            m = sklm.Ridge(alpha=a).fit(X[keep], y[keep])
            errs.append((m.predict(X[i:i + 1])[0] - y[i]) ** 2)
        scores.append(np.mean(errs))
    np.testing.assert_allclose(fast.cv_scores_, scores, rtol=1e-9)
    assert fast.alpha_ == grid[int(np.argmin(scores))]


def test_gcv_and_streaming_agree_with_one_shot(rng):
    X = rng.normal(size=(300, 6))
    Y = X @ rng.normal(size=(6, 2)) + 0.3 * rng.normal(size=(300, 2))
    one = Ridge(alpha="gcv").fit(X, Y)
    stream = Ridge(alpha="gcv")
    for start in range(0, 300, 70):
        stream.partial_fit(X[start:start + 70], Y[start:start + 70])
    stream.finalize()
    assert stream.alpha_ == one.alpha_
    np.testing.assert_allclose(stream.cv_scores_, one.cv_scores_, rtol=1e-8)
    np.testing.assert_allclose(stream.predict(X), one.predict(X), rtol=0, atol=1e-9)


def test_tensor_in_tensor_out():
    X = torch.randn(30, 3, dtype=torch.float64)
    out = Ridge(1e-3).fit(X, X[:, 0]).predict(X)
    assert isinstance(out, torch.Tensor) and out.shape == (30,)


@pytest.mark.parametrize("call,error,match", [
    (lambda: Ridge(alpha=-1.0), ValueError, "alpha must be >= 0"),
    (lambda: Ridge(alpha="cv"), ValueError, r"alpha must be a non-negative number or one of \['loo', 'gcv'\]"),
    (lambda: Ridge().fit(np.zeros((5, 2)), np.zeros(4)), ValueError, "y has 4 samples but X has 5"),
    (lambda: Ridge().fit(np.zeros(5), np.zeros(5)), ValueError, r"X must have shape"),
    (lambda: Ridge().fit(np.full((5, 2), np.nan), np.zeros(5)), ValueError, "NaN"),
    (lambda: Ridge().predict(np.zeros((2, 2))), NotFittedError, "not fitted"),
    (lambda: Ridge().fit(np.ones((5, 2)), np.zeros(5)).predict(np.zeros((2, 3))), ValueError,
     r"shape \(n_samples, 2\)"),
    (lambda: Ridge(alpha="loo").partial_fit(np.zeros((5, 2)), np.zeros(5)), ValueError, "needs every sample"),
    (lambda: Ridge().finalize(), ValueError, "at least 2 samples"),
])
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert type(info.value) is error
