"""scikit-learn's estimator checks, on a quantum and a classical reservoir (those that reach the reservoir on every
registered cell), and the 2-D input convention."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import sparse
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from qrnn import QLSTM, QRNN, ReservoirRegressor, TrainedRegressor
from qrnn.classical import ESN
from qrnn.estimator import SKLEARN_CHECK_EXCEPTIONS
from qrnn.registry import MODELS

#: The registered quantum and classical cells (one of your own is covered once registered, tests/conftest.py).
CELLS = MODELS.names(tag="quantum") + MODELS.names(tag="classical")


@parametrize_with_checks(
    [ReservoirRegressor(QLSTM(input_size=1, hidden_size=3, seed=0)), ReservoirRegressor(ESN(1, 30, seed=0)),
     TrainedRegressor(ESN(1, 20, seed=0), epochs=2, batch_size=2, progress=False, random_state=0)],
    expected_failed_checks=lambda est: SKLEARN_CHECK_EXCEPTIONS,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# The checks whose outcome depends on the reservoir: its determinism, batch independence, pickling and
# parameters. The others exercise ReservoirRegressor's own input handling, the same for every cell (run above).
RESERVOIR_CHECKS = ("check_fit_idempotent", "check_methods_subset_invariance", "check_methods_sample_order_invariance",
                    "check_estimators_pickle", "check_estimators_overwrite_params", "check_regressors_train")


@pytest.mark.parametrize("check", RESERVOIR_CHECKS)
@pytest.mark.parametrize("cell", CELLS)
def test_every_registered_cell_passes_the_checks_that_reach_its_reservoir(cell, check):
    assert check not in SKLEARN_CHECK_EXCEPTIONS
    getattr(estimator_checks, check)("ReservoirRegressor", ReservoirRegressor(MODELS[cell](1, 2, seed=0)))


# A fully trained quantum model passes them too; it trains ~200 models, about two minutes here.
@pytest.mark.slow
@parametrize_with_checks(
    [TrainedRegressor(QRNN(1, 2, seed=0, trainable=True), epochs=2, batch_size=2, progress=False, random_state=0)],
    expected_failed_checks=lambda est: SKLEARN_CHECK_EXCEPTIONS,
)
def test_scikit_learn_estimator_checks_fully_trained(estimator, check):
    check(estimator)


# A shot-based reservoir (Qiskit Aer, 200 shots) passes them as well: its predictions carry shot
# noise, so it is tagged non_deterministic and scikit-learn leaves out the invariance checks.
@pytest.mark.slow
@parametrize_with_checks(
    [ReservoirRegressor(QRNN(1, 2, seed=0, backend="aer", shots=200))],
    expected_failed_checks=lambda est: SKLEARN_CHECK_EXCEPTIONS,
)
def test_scikit_learn_estimator_checks_shot_based(estimator, check):
    pytest.importorskip("qiskit_aer")
    check(estimator)


def test_shot_based_estimators_are_tagged_and_reproducible(rng):
    pytest.importorskip("qiskit_aer")
    shots = ReservoirRegressor(QRNN(1, 2, seed=0, backend="aer", shots=100))
    assert shots.__sklearn_tags__().non_deterministic
    assert not ReservoirRegressor(QRNN(1, 2, seed=0)).__sklearn_tags__().non_deterministic
    X = rng.normal(size=(6, 3, 1))
    res = shots.reservoir
    first = res.transform(X)
    res.transform(rng.normal(size=(2, 3, 1)))  # whatever runs in between
    np.testing.assert_array_equal(res.transform(X), first)  # an int seed: same data, same shots
    assert np.abs(QRNN(1, 2, seed=0).transform(X) - first).max() > 0  # shot noise is there


def test_two_dimensional_X_is_univariate_sequences(rng):
    X2 = rng.normal(size=(30, 5))
    y = X2[:, -1] * 0.5
    est = ReservoirRegressor(QRNN(1, 3, seed=0), alpha=1e-3).fit(X2, y)
    assert est.n_features_in_ == 5
    same = ReservoirRegressor(QRNN(1, 3, seed=0), alpha=1e-3).fit(X2[:, :, None], y)
    np.testing.assert_array_equal(est.predict(X2), same.predict(X2[:, :, None]))
    with pytest.raises(ValueError, match="X has 4 features, but ReservoirRegressor is expecting 5 features"):
        est.predict(X2[:, :4])
    with pytest.raises(ValueError, match=r"needs a reservoir with input_size=1; this one has input_size=2"):
        ReservoirRegressor(QRNN(2, 3, seed=0)).fit(X2, y)


def test_streams_predict_any_length(rng):
    u = rng.uniform(0, 0.5, size=(1, 200, 1))
    est = ReservoirRegressor(ESN(1, 20, seed=0), readout="all", washout=10).fit(u[:, :120], u[:, :120, 0])
    assert not hasattr(est, "n_features_in_")
    assert est.predict(u).shape == (1, 200)  # longer than the fitted stream: no fixed T


@pytest.mark.parametrize("X,y,exc,match", [
    (lambda rng: rng.normal(size=(8, 3)), lambda rng: None, ValueError, "requires y to be passed"),
    (lambda rng: rng.normal(size=(1, 3)), lambda rng: np.zeros(1), ValueError, "1 sample"),
    (lambda rng: rng.normal(size=(8, 0)), lambda rng: np.zeros(8), ValueError, r"0 feature\(s\)"),
    (lambda rng: rng.normal(size=8), lambda rng: np.zeros(8), ValueError, "Expected 2D array"),
    (lambda rng: rng.normal(size=(8, 3)) + 1j, lambda rng: np.zeros(8), ValueError, "Complex data not supported"),
    (lambda rng: rng.normal(size=(8, 3)), lambda rng: [[1.0, 2.0], [1.0]] + [[0.0, 0.0]] * 6, ValueError,
     "y is ragged"),
    (lambda rng: rng.normal(size=(8, 3)), lambda rng: np.zeros(7), ValueError, r"y must have shape \(8,\)"),
])
def test_last_readout_rejects(X, y, exc, match, rng):
    with pytest.raises(exc, match=match):
        ReservoirRegressor(QRNN(1, 2, seed=0)).fit(X(rng), y(rng))


def test_ragged_targets_are_refused_clearly(rng):
    seqs = [rng.normal(size=(L, 1)) for L in (6, 9)]
    est = ReservoirRegressor(ESN(1, 10, seed=0), readout="all")
    cases = [
        (np.zeros(6), "y must be a list of 2 arrays"),
        ([np.zeros(6)], "y must be a list of 2 arrays"),
        ([np.zeros(6), np.zeros(8)], r"y\[1\] must have 9 rows"),
        ([np.zeros((6, 2)), np.zeros(9)], r"every y\[i\] must have the same number of targets"),
        ([np.zeros(6), np.full(9, np.nan)], r"Input y\[1\] contains NaN"),
        ([np.zeros(6), [[1.0], [2.0, 3.0]] + [[0.0]] * 7], r"y\[1\] is ragged"),
    ]
    for y, match in cases:
        with pytest.raises(ValueError, match=match):
            est.fit(seqs, y)
    X = rng.normal(size=(2, 6, 1))
    with pytest.raises(ValueError, match=r"y must have shape \(2, 6\) or \(2, 6, n_targets\)"):
        est.fit(X, np.zeros((2, 5)))


def test_not_fitted_is_scikit_learns_error(rng):
    X = rng.normal(size=(4, 3))
    for call in (lambda e: e.predict(X), lambda e: e.score(X, np.zeros(4))):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call(ReservoirRegressor(QRNN(1, 2, seed=0)))


# scikit-learn reads SCIPY_ARRAY_API when SciPy is first imported, so the one check it skips
# without it runs in a fresh interpreter.
_ARRAY_API_SCRIPT = """
from sklearn.utils.estimator_checks import check_array_api_input
from qrnn import QLSTM, ReservoirRegressor
from qrnn.classical import ESN
for est in (ReservoirRegressor(QLSTM(input_size=1, hidden_size=3, seed=0)), ReservoirRegressor(ESN(1, 30, seed=0))):
    check_array_api_input(type(est).__name__, est, array_namespace="numpy", expect_only_array_outputs=False)
print("array-api checks passed")
"""


def test_array_api_check_passes_where_scikit_learn_runs_it():
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    run = subprocess.run([sys.executable, "-c", _ARRAY_API_SCRIPT], cwd=root, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "array-api checks passed" in run.stdout


@pytest.mark.parametrize("readout", ["last", "all"])
def test_tensors_are_taken_as_transform_takes_them(readout, rng):
    # A tensor that requires grad cannot become an array without detach(); the estimator detaches,
    # as Reservoir.transform does, and fits exactly what the same numbers as an array give.
    X = rng.normal(size=(12, 6, 1))
    y = X[:, -1, 0] if readout == "last" else np.roll(X[..., 0], 1, axis=1)
    est = ReservoirRegressor(QRNN(1, 2, seed=0), alpha=1e-3, readout=readout)
    ref = clone(est).fit(X, y).predict(X)
    Xt, yt = torch.tensor(X, requires_grad=True), torch.tensor(y, requires_grad=True)
    np.testing.assert_array_equal(est.fit(Xt, yt).predict(Xt), ref)
    assert est.score(Xt, yt) == clone(est).fit(X, y).score(X, y)
    if readout == "all":  # ragged form: a list of tensors, targets a list of tensors
        est.fit(list(Xt), list(yt))
        for p, r in zip(est.predict(list(Xt)), ref):
            np.testing.assert_allclose(p, r, rtol=0, atol=1e-10)


def test_refit_forgets_the_input_names_and_length_of_an_earlier_fit(rng):
    import pandas as pd  # declared in the test extra
    X = rng.normal(size=(10, 5))
    y = X[:, -1]
    est = ReservoirRegressor(QRNN(1, 2, seed=0)).fit(pd.DataFrame(X, columns=list("abcde")), y)
    assert list(est.feature_names_in_) == list("abcde") and est.n_features_in_ == 5
    with pytest.raises(ValueError, match="feature names should match"):
        est.predict(pd.DataFrame(X, columns=list("vwxyz")))
    est.fit([x[:, None] for x in X], y)  # the list form has no fixed length or column names
    assert not hasattr(est, "feature_names_in_") and not hasattr(est, "n_features_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "was fitted with feature names" warning left over
        assert est.predict(X).shape == (10,)
    # Other names are no longer refused; scikit-learn's warning for a model fitted without names.
    with pytest.warns(UserWarning, match="was fitted without feature names"):
        assert est.predict(pd.DataFrame(X[:, :3], columns=list("xyz"))).shape == (10,)


@pytest.mark.parametrize("make,exc,match", [
    (lambda X: sparse.csr_matrix(X[..., 0]), TypeError, "Sparse data was passed for X"),
    (lambda X: np.zeros((0, 6, 1)), ValueError, r"Found array with 0 sample\(s\)"),
    (lambda X: X[:1], ValueError, r"Found array with 1 sample\(s\) .* minimum of 2"),
    (lambda X: np.array([["a"] * 6] * 12, dtype=object), ValueError, "could not convert string to float"),
    (lambda X: np.zeros((12, 6, 2)), ValueError, "input_size=1 features in its last axis, got 2"),
])
def test_other_input_forms_get_scikit_learns_messages(make, exc, match, rng):
    X = rng.normal(size=(12, 6, 1))
    with pytest.raises(exc, match=match):  # X is checked before y is read
        ReservoirRegressor(QRNN(1, 2, seed=0)).fit(make(X), np.zeros(12))


def test_object_arrays_of_numbers_and_3d_length_follow_scikit_learn(rng):
    X = rng.normal(size=(12, 6, 1))
    y = X[:, -1, 0]
    est = ReservoirRegressor(QRNN(1, 2, seed=0), alpha=1e-3).fit(X, y)
    assert est.n_features_in_ == 6  # T, as for the columns of a 2-D X
    np.testing.assert_array_equal(clone(est).fit(X.astype(object), y).predict(X), est.predict(X))
    for call in (est.predict, lambda Z: est.score(Z, y)):
        with pytest.raises(ValueError, match="X has 4 features, but ReservoirRegressor is expecting 6 features"):
            call(X[:, :4])
