"""Ensemble: several reservoirs as one, on the full reservoir contract."""
import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from qrnn import QGRU, QLSTM, QRNN, Ensemble, ReservoirRegressor, TrainedRegressor, load, save
from qrnn.classical import ESN, GRU
from tests.conftest import random_inputs


def _ens():
    return Ensemble([QRNN(1, 3, seed=0), QLSTM(1, 3, seed=1, init="uniform", features="all"), ESN(1, 8, seed=2)])


def test_features_are_the_members_side_by_side(rng):
    X = random_inputs(rng, (3, 5, 1))
    ens = _ens()
    parts = [QRNN(1, 3, seed=0).transform(X), QLSTM(1, 3, seed=1, init="uniform", features="all").transform(X),
             ESN(1, 8, seed=2).transform(X)]
    np.testing.assert_array_equal(ens.transform(X), np.concatenate(parts, axis=-1))
    assert ens.n_features == 3 + 11 + 8
    first, state = ens.transform(X[:, :2], return_state=True)
    np.testing.assert_allclose(np.concatenate([first, ens.transform(X[:, 2:], state=state)], axis=1),
                               ens.transform(X), rtol=0, atol=1e-13)


def test_estimators_search_save_pickle_clone(rng, tmp_path):
    X = random_inputs(rng, (40, 4, 1), 1.0)
    y = X[:, -1, 0] ** 2
    est = ReservoirRegressor(_ens(), alpha="loo").fit(X, y)
    save(est, tmp_path / "e.npz")
    np.testing.assert_array_equal(load(tmp_path / "e.npz").predict(X), est.predict(X))
    for copied in (clone(est).fit(X, y), pickle.loads(pickle.dumps(est)), copy.deepcopy(est)):
        np.testing.assert_array_equal(copied.predict(X), est.predict(X))
    grid = {"reservoir__reservoirs": [[QRNN(1, 2, seed=0)], [QRNN(1, 2, seed=0), GRU(1, 4, seed=0)]]}
    search = GridSearchCV(ReservoirRegressor(Ensemble([QRNN(1, 2, seed=0)])), grid, cv=2).fit(X, y)
    assert len(search.best_estimator_.reservoir.members) in (1, 2)
    TrainedRegressor(Ensemble([QGRU(1, 2, seed=0, trainable=True), ESN(1, 5, seed=0)]), epochs=1,
                     progress=False).fit(X, y)


def test_members_must_agree():
    with pytest.raises(TypeError, match="non-empty list of qrnn reservoirs"):
        Ensemble([])
    with pytest.raises(TypeError, match="non-empty list of qrnn reservoirs"):
        Ensemble([QRNN(1, 2), "ESN"])
    with pytest.raises(ValueError, match=r"reservoirs\[1\] has input_size=2 but reservoirs\[0\] has 1"):
        Ensemble([QRNN(1, 2), QRNN(2, 2)])
    with pytest.raises(ValueError, match=r"reservoirs\[1\] has dtype=torch.float32"):
        Ensemble([QRNN(1, 2), QRNN(1, 2, dtype="float32")])


def test_module_moves_move_every_member(rng):
    X = random_inputs(rng, (2, 3, 1), 1.0)
    ens = _ens().float()
    assert all(m.dtype == "float32" for m in ens.members)
    out = ens(torch.as_tensor(X, dtype=torch.float32))
    np.testing.assert_allclose(out.numpy(), _ens().transform(X), rtol=0, atol=5e-5)
