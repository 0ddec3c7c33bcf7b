"""Model files: every saveable object round-trips exactly; every damaged file is a clear error."""
import json
import pickle

import numpy as np
import pytest

from qrnn.registry import MODELS
from qrnn import QGRU, QLSTM, QRNN, ReservoirRegressor, Ridge, TorchBackend, io, load, save
from qrnn.backends import Backend
from qrnn.classical import ESN, LSTM
from tests.conftest import random_inputs

#: Every registered quantum and classical cell (one of your own is covered once registered, tests/conftest.py),
#: the built-in ones with options that a file must carry, and the ESN.
QUANTUM, CLASSICAL = MODELS.names(tag="quantum"), MODELS.names(tag="classical")
RESERVOIRS = {
    **{name: (lambda cls: lambda: cls(1, 3, seed=1, init="uniform", correlators=True))(MODELS[name])
       for name in QUANTUM},
    **{name: (lambda cls: lambda: cls(1, 6, seed=1))(MODELS[name]) for name in CLASSICAL},
    "QLSTM": lambda: QLSTM(1, 3, seed=1, features="all", backend=TorchBackend("gates")),
    "QGRU": lambda: QGRU(1, 2, n_layers=3, seed=1, dtype="float32"),
    "LSTM": lambda: LSTM(1, 6, seed=1, features="state"),
    "ESN": lambda: ESN(1, 20, spectral_radius=0.5, leak_rate=0.4, seed=1),
}


def params(obj) -> dict:
    """``obj.get_params()`` with nested reservoirs and backends as data (they compare by identity)."""
    out = {}
    for name, value in obj.get_params(deep=False).items():
        if isinstance(value, Backend):
            value = (type(value), value.to_config())
        elif hasattr(value, "get_params"):
            value = (type(value), params(value))
        out[name] = value
    return out


@pytest.mark.parametrize("name", list(RESERVOIRS))
def test_every_reservoir_round_trips_alone_and_in_an_estimator(name, rng, tmp_path):
    X = random_inputs(rng, (12, 5, 1), 1.0)
    y = X[:, -1, 0] ** 2
    res = RESERVOIRS[name]()
    save(res, tmp_path / "r.npz")
    again = load(tmp_path / "r.npz")
    assert type(again) is type(res) and params(again) == params(res)
    np.testing.assert_array_equal(again.transform(X), res.transform(X))

    est = ReservoirRegressor(RESERVOIRS[name](), alpha="loo").fit(X, y)
    est.save(tmp_path / "e.npz")
    back = load(tmp_path / "e.npz")
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert back.alpha_ == est.alpha_ and params(back) == params(est)
    np.testing.assert_array_equal(back.ridge_.cv_scores_, est.ridge_.cv_scores_)
    assert not list(tmp_path.glob("*.partial"))  # written whole, then renamed


def test_edited_weights_are_what_is_saved(rng, tmp_path):
    X = random_inputs(rng, (4, 3, 1))
    res = QLSTM(1, 3, seed=0)
    res.weights.add_(0.25)  # no longer what seed 0 draws
    save(res, tmp_path / "r.npz")
    np.testing.assert_array_equal(load(tmp_path / "r.npz").transform(X), res.transform(X))


def test_stream_estimator_and_unfitted_objects(rng, tmp_path):
    u = rng.uniform(0, 0.5, size=(2, 60, 1))
    Y = np.stack([np.roll(u[..., 0], 1, axis=1), u[..., 0] ** 2], axis=-1)
    est = ReservoirRegressor(ESN(1, 15, seed=2), washout=5, readout="all", chunk_size=16,
                             alpha="gcv", alphas=[1e-6, 1e-3, 1.0]).fit(u, Y)
    save(est, tmp_path / "s.npz")
    back = load(tmp_path / "s.npz")
    np.testing.assert_array_equal(back.predict(u), est.predict(u))
    assert back.alphas == [1e-6, 1e-3, 1.0]

    save(ReservoirRegressor(QRNN(1, 2, seed=0), alpha=0.5), tmp_path / "u.npz")
    unfitted = load(tmp_path / "u.npz")
    assert unfitted.alpha == 0.5 and not hasattr(unfitted, "ridge_")
    save(Ridge("gcv"), tmp_path / "ridge.npz")
    assert load(tmp_path / "ridge.npz").alpha == "gcv"


# -- damaged and foreign files --

def _model(tmp_path):
    X = np.linspace(-1, 1, 40).reshape(10, 4, 1)
    path = tmp_path / "good.npz"
    ReservoirRegressor(QRNN(1, 2, seed=0)).fit(X, X[:, -1, 0]).save(path)
    return path


def _rewrite(src, dst, edit):
    """Copy a model file, letting ``edit(header, arrays)`` change its contents."""
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays.pop("__qrnn__").tobytes().decode())
    edit(header, arrays)
    arrays["__qrnn__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with open(dst, "wb") as fh:
        np.savez(fh, **arrays)
    return dst


def _pop(d, key):
    d.pop(key)


DAMAGE = {
    "wrong version": (lambda h, a: h.update(version=1), "format version 1; this qrnn reads version 2"),
    "no format tag": (lambda h, a: h.pop("format"), "no 'qrnn-model' tag"),
    "missing array": (lambda h, a: _pop(a, "root/ridge_/coef"), "array 'root/ridge_/coef' is missing"),
    "missing config key": (lambda h, a: _pop(h["root"]["config"], "params"), "KeyError"),
    "unknown class": (lambda h, a: h["root"].update({"class": "os.system"}), "names class 'os.system'"),
    "weights of the wrong shape": (lambda h, a: a.update({"root/reservoir/weights": np.zeros((1, 2, 4, 3))}),
                                   "size mismatch for weights"),
    "readout too wide": (lambda h, a: a.update({"root/ridge_/coef": np.zeros((5, 1))}),
                         "the readout takes 5 features but the reservoir gives 2"),
    "coef and intercept disagree": (lambda h, a: a.update({"root/ridge_/intercept": np.zeros(3)}),
                                    "do not fit together"),
    "private attribute injected": (lambda h, a: h["root"]["config"]["fitted"].update({"__class__": 1}),
                                   "'__class__' is not a fitted attribute"),
    "bad parameter value": (lambda h, a: h["root"]["children"]["reservoir"]["config"]["params"].update(
        {"init": "xavier"}), "init must be one of"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_files_are_refused(case, tmp_path):
    edit, match = DAMAGE[case]
    path = _rewrite(_model(tmp_path), tmp_path / "bad.npz", edit)
    with pytest.raises(ValueError, match=match):
        load(path)


def test_files_that_are_not_models(tmp_path):
    good = _model(tmp_path)
    data = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 100)
    (tmp_path / "text.npz").write_text("qrnn-model version 2\n")
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps({"format": "qrnn-model"}))
    np.save(tmp_path / "single.npy", np.zeros(3))
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    np.savez(tmp_path / "objects.npz", __qrnn__=np.array([{"a": 1}], dtype=object))
    cases = {"trunc": "not a readable", "junk": "not a readable", "text": "not a readable",
             "pickle": "not a readable", "single": "single array", "foreign": "no '__qrnn__' header",
             "objects": "not a readable"}
    for name, match in cases.items():
        path = tmp_path / (f"{name}.npy" if name == "single" else f"{name}.npz")
        with pytest.raises(ValueError, match=match):
            load(path)
    with pytest.raises(FileNotFoundError, match="no model file"):
        load(tmp_path / "missing.npz")


def test_saving_what_cannot_be_saved(tmp_path):
    with pytest.raises(TypeError, match="not a saveable qrnn class"):
        save({"a": 1}, tmp_path / "x.npz")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        save(Ridge(), tmp_path)
    res = QRNN(1, 2, seed=np.random.default_rng(0))
    with pytest.raises(ValueError, match="configuration is not plain data"):
        save(res, tmp_path / "gen.npz")
    assert not (tmp_path / "gen.npz").exists()


class _Scale:
    """A user-defined saveable object."""

    def __init__(self, factor):
        self.factor = factor

    def _to_record(self):
        return {"config": {"factor": self.factor}, "arrays": {"v": np.arange(3.0) * self.factor}}

    @classmethod
    def _from_record(cls, config, arrays, children):
        obj = cls(config["factor"])
        obj.v = arrays["v"]
        return obj


def test_register_a_class_of_ones_own(tmp_path):
    io.register(_Scale, "tests._Scale")
    try:
        save(_Scale(2.0), tmp_path / "s.npz")
        back = load(tmp_path / "s.npz")
        assert isinstance(back, _Scale) and back.factor == 2.0
        np.testing.assert_array_equal(back.v, [0.0, 2.0, 4.0])
        with pytest.raises(ValueError, match="already registered"):
            io.register(_Scale, "QLSTM")
        with pytest.raises(TypeError, match="has no _to_record"):
            io.register(object, "tests.object")
    finally:
        MODELS.unregister("tests._Scale")


def test_column_names_of_a_dataframe_round_trip(rng, tmp_path):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(rng.normal(size=(12, 4)), columns=["t0", "t1", "t2", "t3"])
    est = ReservoirRegressor(QRNN(1, 2, seed=0)).fit(X, X["t3"].to_numpy())
    save(est, tmp_path / "df.npz")
    back = load(tmp_path / "df.npz")
    assert list(back.feature_names_in_) == ["t0", "t1", "t2", "t3"] and back.feature_names_in_.dtype == object
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    with pytest.raises(ValueError, match="feature names"):
        back.predict(X.rename(columns={"t0": "other"}))
