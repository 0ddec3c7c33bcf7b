import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from qrnn.classical import ESN
from qrnn import QLSTM, QRNN, AerBackend, ReservoirRegressor, TorchBackend, load
from qrnn.tasks import make_windows, sine
from tests.conftest import random_inputs


@pytest.fixture
def windows():
    X, y = make_windows(sine(120, periods=3), window=4)
    return X, y


ESTIMATORS = {
    "QLSTM": lambda: ReservoirRegressor(QLSTM(1, 3, seed=0, init="uniform"), alpha=1e-6),
    "ESN": lambda: ReservoirRegressor(ESN(1, 30, seed=0), alpha=1e-6),
}


@pytest.mark.parametrize("kind", sorted(ESTIMATORS))
def test_clone_grid_search_and_save_load(kind, windows, tmp_path):
    X, y = windows
    est = ESTIMATORS[kind]().fit(X, y)
    pred = est.predict(X)
    assert pred.shape == y.shape
    cloned = clone(est).fit(X, y)
    np.testing.assert_array_equal(cloned.predict(X), pred)
    grid = {"alpha": [1e-6, 1e-2]}
    grid["reservoir__seed"] = [0, 1]
    search = GridSearchCV(ESTIMATORS[kind](), grid, cv=3).fit(X, y)
    assert set(search.best_params_) == {"alpha", "reservoir__seed"}
    path = tmp_path / "model.npz"
    est.save(path)
    again = load(path)
    np.testing.assert_array_equal(again.predict(X), pred)
    assert type(again.reservoir) is type(est.reservoir)


def test_pipeline_and_score(windows):
    X, y = windows
    pipe = Pipeline([("rc", ReservoirRegressor(QRNN(1, 3, seed=0), alpha=1e-6))]).fit(X, y)
    assert pipe.score(X, y) > 0.9


def test_multi_target_last(rng):
    X = random_inputs(rng, (40, 5, 1), 1.0)
    Y = np.stack([X[:, -1, 0], X[:, -2, 0]], axis=1)
    est = ReservoirRegressor(ESN(1, 40, seed=0)).fit(X, Y)
    assert est.predict(X).shape == (40, 2)


def test_all_readout_unequal_lengths_and_washout(rng):
    seqs = [random_inputs(rng, (L, 1), 0.5) for L in (30, 45, 25)]
    ys = [np.roll(s[:, 0], 1) for s in seqs]
    est = ReservoirRegressor(ESN(1, 30, seed=1), washout=5, readout="all").fit(seqs, ys)
    preds = est.predict(seqs)
    assert [p.shape for p in preds] == [(30,), (45,), (25,)]
    # Exactness: the same fit by hand, washout dropped per sequence
    res = ESN(1, 30, seed=1)
    F = np.concatenate([f[5:] for f in res.transform(seqs)])
    from qrnn import Ridge
    manual = Ridge(1e-6).fit(F, np.concatenate([y[5:] for y in ys]))
    np.testing.assert_allclose(preds[1], manual.predict(res.transform(seqs[1][None])[0]), rtol=0, atol=1e-10)
    assert est.score(seqs, ys) > 0.5


def test_chunked_stream_fit_equals_whole(rng):
    u = rng.uniform(0, 0.5, size=(1, 400, 1))
    y = np.roll(u[..., 0], 2, axis=1)
    whole = ReservoirRegressor(QRNN(1, 3, seed=2), washout=50, readout="all").fit(u, y)
    chunked = ReservoirRegressor(QRNN(1, 3, seed=2), washout=50, readout="all", chunk_size=37).fit(u, y)
    np.testing.assert_allclose(chunked.predict(u), whole.predict(u), rtol=0, atol=1e-8)


def test_backend_object_round_trip(windows, tmp_path):
    X, y = windows
    est = ReservoirRegressor(QRNN(1, 2, seed=0, backend=TorchBackend("gates"))).fit(X, y)
    est.save(tmp_path / "m.npz")
    again = load(tmp_path / "m.npz")
    assert again.reservoir._backend.method == "gates"
    np.testing.assert_array_equal(again.predict(X), est.predict(X))
    from qiskit_aer.noise import NoiseModel

    with pytest.raises(ValueError, match="noise model cannot be saved"):
        AerBackend(noise_model=NoiseModel()).to_config()


@pytest.mark.parametrize("make,error,match", [
    (lambda X, y: ReservoirRegressor().fit(X, y), TypeError, "reservoir must be"),
    (lambda X, y: ReservoirRegressor(QRNN(1, 2), readout="first").fit(X, y), ValueError, "readout must be one of"),
    (lambda X, y: ReservoirRegressor(QRNN(1, 2)).fit(X, y[:-1]), ValueError, r"y must have shape"),
    (lambda X, y: ReservoirRegressor(QRNN(1, 2)).fit(X, y[:, None, None]), ValueError, r"y must have shape"),
    (lambda X, y: ReservoirRegressor(QRNN(1, 2), washout=4, readout="all").fit(X, np.zeros(X.shape[:2])),
     ValueError, "washout=4 needs at least 5"),
    (lambda X, y: ReservoirRegressor(QRNN(1, 2), readout="all").fit(X, y), ValueError, r"y must have shape"),
    (lambda X, y: ReservoirRegressor(QRNN(1, 2)).predict(X), NotFittedError, "not fitted"),
    (lambda X, y: ReservoirRegressor(QRNN(1, 2)).fit(np.where(X > 0, np.nan, X), y), ValueError, "NaN"),
    (lambda X, y: ReservoirRegressor(QRNN(1, 2), chunk_size=3).fit(X, y), ValueError, "chunk_size applies"),
])
def test_bad_input(windows, make, error, match):
    X, y = windows
    with pytest.raises(error, match=match) as info:
        make(X, y)
    assert type(info.value) is error


def test_esn_on_streaming_narma10():
    # The bar: 100 units, 2000 train / 1000 test steps after a washout, NRMSE < 0.4.
    from experiments.narma10 import N_TEST, N_TRAIN, WASHOUT
    from qrnn.metrics import nrmse
    from qrnn.tasks import narma10_stream

    u, y = narma10_stream(WASHOUT + N_TRAIN + N_TEST, seed=0)
    X, Y = u[None, :, None], y[None, :]
    n_fit = WASHOUT + N_TRAIN
    est = ReservoirRegressor(ESN(1, 100, seed=0), alpha="gcv", washout=WASHOUT, readout="all")
    est.fit(X[:, :n_fit], Y[:, :n_fit])
    pred = est.predict(X)[0, n_fit:]  # one continuous run: the test steps follow the training ones
    assert pred.shape == y[n_fit:].shape
    assert nrmse(y[n_fit:], pred) < 0.4


def test_chunked_batches_and_ragged_equal_whole(rng):
    X = rng.uniform(0, 0.5, size=(3, 120, 1))
    Y = np.stack([np.roll(X[:, :, 0], 1, axis=1), X[:, :, 0] ** 2], axis=-1)  # two targets
    whole = ReservoirRegressor(ESN(1, 20, seed=3), washout=10, readout="all").fit(X, Y)
    chunked = ReservoirRegressor(ESN(1, 20, seed=3), washout=10, readout="all", chunk_size=25).fit(X, Y)
    assert chunked.predict(X).shape == (3, 120, 2)
    np.testing.assert_allclose(chunked.predict(X), whole.predict(X), rtol=0, atol=1e-8)
    seqs, ys = [X[0, :70], X[1], X[2, :33]], [Y[0, :70], Y[1], Y[2, :33]]
    rag_whole = ReservoirRegressor(ESN(1, 20, seed=3), washout=10, readout="all").fit(seqs, ys)
    rag_chunk = ReservoirRegressor(ESN(1, 20, seed=3), washout=10, readout="all", chunk_size=16).fit(seqs, ys)
    for a, b in zip(rag_chunk.predict(seqs), rag_whole.predict(seqs)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)
