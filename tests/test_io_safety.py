"""Model files that cannot act: no live device or path from a file, bounded reads, finite numbers only.

The attacks are hand-crafted small files in the format qrnn.io writes (a JSON
header member and .npy members in a zip archive).
"""
import io as _bytes
import json
import re
import warnings
import zipfile

import numpy as np
import pytest
import torch

from qrnn import QLSTM, QRNN, Ensemble, ReservoirRegressor, TorchBackend, TrainedRegressor, load, save
from qrnn.backends import Backend, IBMBackend, backend_from_config
from qrnn.classical import ESN, GRU, LSTM, RNN

X = np.linspace(-1, 1, 24).reshape(4, 6, 1)


def _members(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _write(path, header, arrays):
    """A model file of this header and these arrays, written as qrnn.io writes one."""
    arrays = dict(arrays, __qrnn__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    return path


def _edit(obj, tmp_path, edit, name="edited.npz"):
    """Save ``obj``, let ``edit(header, arrays)`` change the file, and return the new file's path."""
    save(obj, tmp_path / "good.npz")
    arrays = _members(tmp_path / "good.npz")
    header = json.loads(arrays.pop("__qrnn__").tobytes().decode())
    edit(header, arrays)
    return _write(tmp_path / name, header, arrays)


def _npy_bytes(shape, data: bytes, descr="<f8") -> bytes:
    buf = _bytes.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _add_member(path, name, payload: bytes):
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(f"{name}.npy", payload)


@pytest.fixture
def ibm_never_built(monkeypatch):
    """Any attempt to build an IBM backend fails the test (no credentials, package or store is involved)."""
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"an IBMBackend was built from a model file ({args}, {kwargs})")

    monkeypatch.setattr(IBMBackend, "__init__", refuse)


def _params(header, *path):
    node = header["root"]
    for key in path:
        node = node["children"][key]
    return node["config"]["params"]


# -- 11: a file never configures a live device or writes anywhere --

def test_a_file_naming_an_ibm_device_loads_on_the_torch_engine_and_says_so(ibm_never_built, tmp_path):
    path = _edit(QRNN(1, 2, seed=0), tmp_path,
                 lambda h, a: _params(h).update(backend="ibm:ibm_brisbane", shots=1000))
    with pytest.warns(UserWarning, match=r"names an IBM backend \(device ibm_brisbane\).*exact torch engine.*"
                                         r"loaded_backend_config_.*backend=IBMBackend\(\.\.\.\).*'ibm:<device>'"):
        back = load(path)
    assert isinstance(back._backend, TorchBackend) and back.backend == "torch" and back.shots is None
    assert back.loaded_backend_config_ == {"kind": "ibm", "device": "ibm_brisbane", "shots": 1000, "seed": 0}
    np.testing.assert_array_equal(back.transform(X), QRNN(1, 2, seed=0).transform(X))


def test_a_saved_ibm_configuration_with_a_store_creates_nothing(ibm_never_built, tmp_path):
    store = tmp_path / "ledger" / "run1"
    cfg = {"kind": "ibm", "device": "fake_manila", "shots": 100, "store": str(store), "max_qpu_seconds": 1e6}
    est = ReservoirRegressor(Ensemble([QRNN(1, 2, seed=0), QLSTM(1, 2, seed=1)])).fit(X, X[:, -1, 0])
    path = _edit(est, tmp_path, lambda h, a: _params(h, "reservoir", "1").update(backend={"__backend__": cfg}))
    with pytest.warns(UserWarning, match="device fake_manila"):
        back = load(path)
    assert not store.exists() and not store.parent.exists()
    members = back.reservoir.members
    assert members[1].loaded_backend_config_ == cfg and isinstance(members[1]._backend, TorchBackend)
    assert not hasattr(members[0], "loaded_backend_config_")
    np.testing.assert_array_equal(back.predict(X), est.predict(X))


def test_backend_from_config_never_builds_an_ibm_backend(ibm_never_built, tmp_path):
    with pytest.raises(ValueError, match="'ibm' backend is never rebuilt from a saved configuration"):
        backend_from_config({"kind": "ibm", "device": "fake_manila", "store": str(tmp_path / "s")})
    assert not (tmp_path / "s").exists()


def test_load_puts_every_quantum_reservoir_on_the_backend_given(ibm_never_built, tmp_path):
    est = ReservoirRegressor(Ensemble([QRNN(1, 2, seed=0), QLSTM(1, 2, seed=1), ESN(1, 5, seed=2)]))
    est.fit(X, X[:, -1, 0])
    path = _edit(est, tmp_path, lambda h, a: _params(h, "reservoir", "0").update(backend="ibm:ibm_brisbane"))
    given = TorchBackend("gates")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the caller chose the backend: nothing to warn about
        back = load(path, backend=given)
    members = back.reservoir.members
    assert members[0]._backend is given and members[1]._backend is given
    assert not any(hasattr(m, "loaded_backend_config_") for m in members)
    np.testing.assert_allclose(back.predict(X), est.predict(X), rtol=0, atol=1e-10)
    assert isinstance(load(path, backend="torch").reservoir.members[0]._backend, TorchBackend)


class _NoGradients(Backend):
    """A backend object that cannot train (its circuits are never run here)."""

    def compile(self, vqc, weights):  # pragma: no cover - never reached
        raise AssertionError("not run")

    def to_config(self):  # pragma: no cover - never saved
        return {}


def test_a_backend_given_to_load_is_checked_before_the_file_and_against_each_cell(tmp_path):
    with pytest.raises(ValueError, match="unknown backend 'nowhere'"):
        load(tmp_path / "missing.npz", backend="nowhere")
    with pytest.raises(TypeError, match="backend must be a name"):
        load(tmp_path / "missing.npz", backend=3)
    save(QRNN(1, 2, seed=0, trainable=True), tmp_path / "t.npz")
    with pytest.raises(ValueError, match=r"t\.npz: its QRNN cannot run on backend=.*trainable=True needs a "
                                         r"differentiable backend") as info:
        load(tmp_path / "t.npz", backend=_NoGradients())
    assert "damaged" not in str(info.value)  # the caller's argument, not the file, is wrong


# -- 12: loading is bounded --

@pytest.mark.parametrize("edit, match", [
    (lambda p: p.update(n_layers=10**9), "n_layers=1000000000 is above the 1000 layers"),
    (lambda p: p.update(hidden_size=10**6), "input_size \\+ hidden_size = 1000001 qubits is above the 30"),
])
def test_huge_quantum_sizes_are_refused_before_anything_is_drawn(edit, match, tmp_path):
    path = _edit(QRNN(1, 2, seed=0), tmp_path, lambda h, a: edit(_params(h)))
    with pytest.raises(ValueError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU, ESN])
def test_classical_sizes_are_checked_against_the_arrays_before_anything_is_built(cls, tmp_path, monkeypatch):
    path = _edit(cls(1, 4, seed=0), tmp_path, lambda h, a: _params(h).update(hidden_size=10**5))
    monkeypatch.setattr(np.linalg, "eigvals", lambda *a: pytest.fail("the ESN's spectral radius was recomputed"))
    with pytest.raises(ValueError, match=r"arrays have shapes \{.*\}; its parameters give \{.*100000"):
        load(path)


def test_an_esn_loads_its_stored_weights_without_drawing_them_again(tmp_path, monkeypatch):
    esn = ESN(1, 30, spectral_radius=0.8, leak_rate=0.5, seed=3)
    esn.W.mul_(0.5)  # not what seed 3 draws: only the file can give these weights
    save(esn, tmp_path / "esn.npz")
    monkeypatch.setattr(np.linalg, "eigvals", lambda *a: pytest.fail("the ESN's spectral radius was recomputed"))
    back = load(tmp_path / "esn.npz")
    assert back.get_params() == esn.get_params()
    np.testing.assert_array_equal(back.transform(X), esn.transform(X))
    wrong = _edit(esn, tmp_path, lambda h, a: a.update({"root/W_in": np.zeros((30, 2))}))
    with pytest.raises(ValueError, match=r"'W_in': \(30, 2\).*'W_in': \(30, 1\)"):
        load(wrong)


def test_a_deeply_nested_header_is_refused_not_a_crash(tmp_path):
    # written as text: json.dumps itself recurses, and would give up on these
    def write(name, root: str):
        text = '{"format": "qrnn-model", "version": 2, "root": ' + root + "}"
        with open(tmp_path / name, "wb") as fh:
            np.savez(fh, __qrnn__=np.frombuffer(text.encode(), dtype=np.uint8))
        return tmp_path / name

    lists = '{"class": "Ridge", "config": {"alpha": ' + "[" * 5000 + "0" + "]" * 5000 + "}}"
    with pytest.raises(ValueError, match=r"not a readable.*nested 5003 deep; the limit is 64"):
        load(write("deep.npz", lists))
    chain = '{"class": "Ridge", "config": {"alpha": 1.0, "alphas": [1.0]}}'
    for _ in range(3000):
        chain = '{"class": "Ensemble", "config": {"n": 1}, "children": {"0": ' + chain + "}}"
    with pytest.raises(ValueError, match="nested 6004 deep; the limit is 64"):
        load(write("chain.npz", chain))


def test_an_unreferenced_member_is_never_read(tmp_path):
    path = _edit(QRNN(1, 2, seed=0), tmp_path, lambda h, a: None)
    _add_member(path, "junk", _npy_bytes((2**40,), b"\x00" * 16))  # its header claims 8 TiB
    np.testing.assert_array_equal(load(path).transform(X), QRNN(1, 2, seed=0).transform(X))


@pytest.mark.parametrize("shape, match", [
    ((2**40,), r"has shape \(1099511627776,\), 1099511627776 elements; the limit is 268435456"),
    ((1, 2, 3, 3), r"has shape \(1, 2, 3, 3\) in its header but holds 16 bytes of data, not 144"),
])
def test_a_member_whose_header_lies_about_its_size_is_refused_unread(shape, match, tmp_path):
    path = _edit(QRNN(1, 2, seed=0), tmp_path, lambda h, a: a.pop("root/weights"))
    _add_member(path, "root/weights", _npy_bytes(shape, b"\x00" * 16))
    with pytest.raises(ValueError, match=r"damaged.*array 'root/weights' " + match):
        load(path)


def test_members_compressed_without_a_bounded_ratio_are_refused(tmp_path):
    path = _edit(QRNN(1, 2, seed=0), tmp_path, lambda h, a: a.pop("root/weights"))
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("root/weights.npy", _npy_bytes((1, 2, 3, 3), b"\x00" * 144), compress_type=zipfile.ZIP_BZIP2)
    with pytest.raises(ValueError, match="compressed with zip method 12; qrnn reads stored or deflated"):
        load(path)


# -- 13: non-finite numbers are refused --

@pytest.mark.parametrize("where", ["root/reservoir/weights", "root/ridge_/coef", "root/ridge_/intercept"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_and_coefficients_are_refused(where, bad, tmp_path):
    est = ReservoirRegressor(QRNN(1, 2, seed=0)).fit(X, X[:, -1, 0])

    def poison(h, a):
        a[where] = a[where].copy()
        a[where].flat[0] = bad

    with pytest.raises(ValueError, match=f"array '{where}' holds NaN or infinite values"):
        load(_edit(est, tmp_path, poison))


def test_non_finite_esn_weights_are_refused_but_nan_cross_validation_scores_load(tmp_path):
    path = _edit(ESN(1, 5, seed=0), tmp_path, lambda h, a: a["root/bias"].__setitem__(0, -np.inf))
    with pytest.raises(ValueError, match="array 'root/bias' holds NaN"):
        load(path)
    est = ReservoirRegressor(QRNN(1, 2, seed=0), alpha="loo", alphas=[0.0, 1.0]).fit(X, X[:, -1, 0])
    path = _edit(est, tmp_path, lambda h, a: a["root/ridge_/cv_scores"].__setitem__(0, np.nan))
    assert np.isnan(load(path).ridge_.cv_scores_[0])  # a score that is NaN is a fact, not damage


@pytest.mark.parametrize("make", [lambda: QRNN(1, 2, seed=0), lambda: QLSTM(1, 2, seed=0), lambda: ESN(1, 4, seed=0),
                                  lambda: LSTM(1, 3, seed=0),
                                  lambda: Ensemble([QRNN(1, 2, seed=0), ESN(1, 3, seed=1)])])
def test_transform_checks_the_state_it_is_given(make):
    res = make()
    _, state = res.transform(X, return_state=True)

    def leaves(s):
        return [t for part in s for t in (leaves(part) if isinstance(part, tuple) else [part])]

    def rebuilt(s, fn):
        return tuple(rebuilt(p, fn) if isinstance(p, tuple) else fn(p) for p in s)

    first = re.escape("state[0][0]" if isinstance(res, Ensemble) else "state[0]")
    with pytest.raises(TypeError, match=f"{first} must be a torch.Tensor"):
        res.transform(X, state=rebuilt(state, lambda t: t.numpy()))  # numpy arrays of the right shapes
    with pytest.raises(TypeError, match="state must be a state returned by transform.*got ndarray"):
        res.transform(X, state=leaves(state)[0].numpy())
    with pytest.raises(TypeError, match="got an empty tuple"):
        res.transform(X, state=())
    nan = rebuilt(state, lambda t: t.clone())
    leaves(nan)[-1][0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"state\[.*\] contains NaN or infinite values"):
        res.transform(X, state=nan)
    with pytest.raises(TypeError, match="has dtype torch.float32 but this reservoir computes in torch.float64"):
        res.transform(X, state=rebuilt(state, lambda t: t.float()))
    np.testing.assert_array_equal(res.transform(X, state=state), res.transform(X, state=rebuilt(state, torch.clone)))


@pytest.mark.parametrize("param, value, match", [
    ("readout", "every", "readout must be one of"),
    ("alpha", -1.0, "alpha must be >= 0"),
    ("alpha", "aic", "alpha must be a non-negative number or one of"),
    ("alphas", [1.0, float("nan")], "alphas\\[1\\] must be a finite real number"),
    ("washout", -3, "washout must be >= 0"),
    ("chunk_size", 0, "chunk_size must be >= 1"),
])
def test_loaded_reservoir_regressor_parameters_are_checked_as_fit_checks_them(param, value, match, tmp_path):
    est = ReservoirRegressor(QRNN(1, 2, seed=0)).fit(X, X[:, -1, 0])
    with pytest.raises(ValueError, match=match):
        load(_edit(est, tmp_path, lambda h, a: h["root"]["config"]["params"].update({param: value})))


@pytest.mark.parametrize("param, value, match", [
    ("lr", -0.1, "lr must be > 0"),
    ("epochs", 0, "epochs must be >= 1"),
    ("readout", "first", "readout must be one of"),
    ("washout", 2, "washout applies to readout='all'"),
])
def test_loaded_trained_regressor_parameters_are_checked_as_fit_checks_them(param, value, match, tmp_path):
    est = TrainedRegressor(QRNN(1, 2, seed=0, trainable=True), epochs=1, progress=False)
    with pytest.raises(ValueError, match=match):
        load(_edit(est, tmp_path, lambda h, a: h["root"]["config"]["params"].update({param: value})))


def test_a_fitted_readout_that_is_not_a_readout_is_refused(tmp_path):
    est = ReservoirRegressor(QRNN(1, 2, seed=0)).fit(X, X[:, -1, 0])

    def swap(h, a):
        del h["root"]["children"]["ridge_"]
        h["root"]["config"]["fitted"]["ridge_"] = 5

    with pytest.raises(ValueError, match="ridge_ must be a Ridge readout, got int"):
        load(_edit(est, tmp_path, swap))


# -- review: other backends a file must not configure, the memory budget, fitted arrays, ensembles --

@pytest.fixture
def pennylane_never_built(monkeypatch):
    from qrnn.backends import PennyLaneBackend

    def refuse(self, *args, **kwargs):
        raise AssertionError(f"a PennyLaneBackend was built from a model file ({args}, {kwargs})")

    monkeypatch.setattr(PennyLaneBackend, "__init__", refuse)


@pytest.mark.parametrize("backend", [
    "pennylane:braket.aws.qubit",  # a remote, paid device by name
    {"__backend__": {"kind": "pennylane", "device": "default.qubit", "max_workers": 4}},  # device options
    {"__backend__": {"kind": "pennylane", "device": "braket.aws.qubit", "device_arn": "arn:x"}},
], ids=["remote-by-name", "local-with-options", "remote-with-options"])
def test_a_file_never_configures_a_pennylane_device_beyond_the_local_simulators(backend, pennylane_never_built,
                                                                                  tmp_path):
    path = _edit(QRNN(1, 2, seed=0), tmp_path, lambda h, a: _params(h).update(backend=backend))
    with pytest.warns(UserWarning, match=r"names a backend \(pennylane:.*never configures.*exact torch engine"):
        back = load(path)
    assert back._backend.name == "torch" and back.loaded_backend_config_["kind"] == "pennylane"
    np.testing.assert_allclose(back.transform(X), QRNN(1, 2, seed=0).transform(X), atol=1e-12)


def test_a_local_pennylane_simulator_still_loads_as_saved(tmp_path):
    pytest.importorskip("pennylane")
    res = QRNN(1, 2, seed=0, backend="pennylane:lightning.qubit")
    save(res, tmp_path / "p.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = load(tmp_path / "p.npz")
    assert back._backend.name == "pennylane:lightning.qubit"


def test_a_file_cannot_lift_the_memory_budget(tmp_path):
    save(QRNN(1, 2, seed=0, backend=TorchBackend(chunk_bytes=10**15)), tmp_path / "b.npz")
    back = load(tmp_path / "b.npz")
    assert back._backend.chunk_bytes is None  # the loading machine's budget (half its free memory) applies


@pytest.mark.parametrize("edit, match", [
    (lambda h, a: a.update({"root/coef_": np.zeros((6, 3))}), "do not fit together|does not fit a readout"),
    (lambda h, a: a.update({"root/intercept_": np.zeros(5)}), "do not fit together"),
    (lambda h, a: a.update({"root/coef_": np.zeros(6)}), "do not fit together"),
    (lambda h, a: h["root"]["config"]["fitted"].update(y_ndim_=9), "y_ndim_ must be 1 or 2"),
], ids=["coef-columns", "intercept", "coef-1d", "y_ndim"])
def test_a_trained_regressors_readout_is_checked_at_load(edit, match, tmp_path):
    from qrnn.classical import RNN

    y = X[:, -1, 0]
    est = TrainedRegressor(RNN(1, 3, seed=0, trainable=True), epochs=1, batch_size=2, progress=False,
                           random_state=0).fit(X, y)
    path = _edit(est, tmp_path, edit)
    with pytest.raises(ValueError, match=match):
        load(path)


def test_an_ensemble_file_with_more_children_than_members_is_refused(tmp_path):
    path = _edit(Ensemble([QRNN(1, 2, seed=0), QRNN(1, 2, seed=1)]), tmp_path,
                 lambda h, a: h["root"]["config"].update(n=1))
    with pytest.raises(ValueError, match=r"ensemble of 1 members must have children 0..0, got \['0', '1'\]"):
        load(path)


@pytest.mark.parametrize("fitted, match", [
    ({"alpha_": float("nan")}, "not the readout's alpha_"),
    ({"y_ndim_": 9}, "y_ndim_ must be 1 or 2"),
    ({"n_features_in_": "x"}, "n_features_in_ must be an integer >= 1"),
])
def test_a_reservoir_regressors_fitted_values_are_checked_at_load(fitted, match, tmp_path):
    est = ReservoirRegressor(QRNN(1, 2, seed=0), alpha=1e-3).fit(X, X[:, -1, 0])

    def edit(h, a):
        h["root"]["config"]["fitted"].update(fitted)

    path = _edit(est, tmp_path, edit)
    with pytest.raises(ValueError, match=match):
        load(path)


def test_a_registered_backend_is_built_from_a_file_only_when_registered_from_file(tmp_path, rng):
    from qrnn.backends import BACKENDS, register_backend

    class Mine(TorchBackend):
        name = "mine"

        def to_config(self):
            return {"kind": "mine"}

    X = rng.normal(size=(2, 3, 1))
    for from_file in (False, True):
        register_backend("mine", Mine, from_file=from_file, replace=True)
        try:
            res = QRNN(1, 2, seed=0, backend=Mine())
            save(res, tmp_path / "m.npz")
            if from_file:
                back = load(tmp_path / "m.npz")
                assert type(back._backend) is Mine
            else:
                with pytest.warns(UserWarning, match=r"names a backend \(mine\), .*backend registered without "
                                                     r"from_file.*your own backend object"):
                    back = load(tmp_path / "m.npz")
                assert type(back._backend) is TorchBackend and back.loaded_backend_config_ == {"kind": "mine"}
            np.testing.assert_allclose(back.transform(X), res.transform(X), rtol=0, atol=1e-12)
        finally:
            BACKENDS.unregister("mine")
