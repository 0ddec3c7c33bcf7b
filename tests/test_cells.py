"""The quantum cells (QRNN, QLSTM, QGRU and every other registered one): their equations on every backend."""
import numpy as np
import pytest
import torch

from qrnn import QGRU, QLSTM, QRNN
from qrnn.backends import AerBackend, TorchBackend
from qrnn.registry import MODELS
from tests.conftest import random_inputs
from tests.reference import qgru_reference, qlstm_reference, qrnn_reference
from tests.test_user_cell import gated_unit_reference

#: Every registered quantum cell: one of your own is covered once registered (see tests/conftest.py).
QUANTUM = MODELS.names(tag="quantum")
#: An independent computation of each one's equations, ``reference(X, W, hidden)``.
REFERENCES = {"QRNN": qrnn_reference, "QLSTM": qlstm_reference, "QGRU": qgru_reference,
              "TestGatedUnit": gated_unit_reference}


def cell_and_reference(name):
    if name not in REFERENCES:
        pytest.fail(f"the registered quantum cell {name!r} has no reference here: add its equations to "
                    "tests/test_cells.py REFERENCES")
    return MODELS[name], REFERENCES[name]


@pytest.mark.parametrize("cell", QUANTUM)
@pytest.mark.parametrize("init", ["normal", "uniform"])
@pytest.mark.parametrize("seed", [0, 17])
def test_backends_agree_with_reference(cell, init, seed, rng):
    cls, reference = cell_and_reference(cell)
    X = random_inputs(rng, (3, 4, 1))
    outs = {b: cls(1, 3, init=init, seed=seed, backend=b).transform(X)
            for b in ("torch", "pennylane", "aer")}
    W = np.stack(cls(1, 3, init=init, seed=seed, backend="aer").circuit_weights())
    assert W.shape == (cls.n_circuits, 2, 4, 3)
    ref = reference(X, W, 3)
    for b, out in outs.items():
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10, err_msg=b)


@pytest.mark.parametrize("cell", QUANTUM)
def test_two_inputs_three_layers(cell, rng):
    cls, reference = cell_and_reference(cell)
    X = random_inputs(rng, (2, 3, 2))
    res = cls(2, 2, n_layers=3, init="uniform", seed=5)
    ref = reference(X, np.stack(res.circuit_weights()), 2)
    np.testing.assert_allclose(res.transform(X), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("features", ["output", "state", "all"])
def test_qlstm_feature_sets(features, rng):
    X = random_inputs(rng, (2, 3, 1))
    res = QLSTM(1, 3, seed=2, init="uniform", features=features)
    out = res.transform(X)
    assert out.shape == (2, 3, res.n_features)
    ref = qlstm_reference(X, np.stack(res.circuit_weights()), 3, features)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)


def test_same_seed_same_reservoir_different_seed_different(rng):
    X = random_inputs(rng, (2, 5, 1))
    a = QGRU(1, 3, seed=4, init="uniform").transform(X)
    np.testing.assert_array_equal(a, QGRU(1, 3, seed=4, init="uniform").transform(X))
    assert np.abs(a - QGRU(1, 3, seed=5, init="uniform").transform(X)).max() > 1e-3
    for w1, w2 in zip(QLSTM(1, 3, seed=4).circuit_weights(), QLSTM(1, 3, seed=4, backend="aer").circuit_weights()):
        np.testing.assert_array_equal(w1, w2)


def test_module_call_and_gradients(rng):
    X = torch.as_tensor(random_inputs(rng, (2, 3, 1)))
    res = QLSTM(1, 3, seed=1)
    out = res(X)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 4)
    assert "weights" in dict(res.named_buffers()) and not list(res.parameters())
    trained = QLSTM(1, 3, seed=1, trainable=True)
    assert [n for n, _ in trained.named_parameters()] == ["weights"]
    loss = trained(X).square().sum()
    loss.backward()
    assert trained.weights.grad is not None and trained.weights.grad.abs().max() > 0
    np.testing.assert_allclose(trained(X).detach().numpy(), out.numpy(), rtol=0, atol=1e-14)


def test_float32_option(rng):
    X = random_inputs(rng, (2, 4, 1))
    lo = QLSTM(1, 3, seed=3, init="uniform", dtype="float32")
    assert lo.weights.dtype == torch.float32
    np.testing.assert_allclose(lo.transform(X), QLSTM(1, 3, seed=3, init="uniform").transform(X), atol=1e-5)


def test_ragged_sequences_equal_separate_runs(rng):
    res = QRNN(1, 3, seed=9, init="uniform")
    seqs = [random_inputs(rng, (L, 1)) for L in (5, 2, 7)]
    out = res.transform(seqs)
    assert [o.shape for o in out] == [(5, 3), (2, 3), (7, 3)]
    for s, o in zip(seqs, out):
        np.testing.assert_allclose(o, res.transform(s[None])[0], rtol=0, atol=1e-14)


def test_shot_based_single_step_within_bounds(rng):
    X = random_inputs(rng, (30, 1, 1))
    shots = 4000
    exact = QRNN(1, 3, seed=2, init="uniform").transform(X)
    noisy = QRNN(1, 3, seed=2, init="uniform", backend=AerBackend(shots=shots, seed=3)).transform(X)
    # h = tanh(<Z>): |tanh'| <= 1, so the shot error bound carries over
    z = np.arctanh(np.clip(exact, -1 + 1e-12, 1 - 1e-12))
    se = np.sqrt(np.maximum(1 - z**2, 1e-12) / shots)
    assert (np.abs(noisy - exact) / se).max() < 5
    assert np.abs(noisy - exact).max() > 1e-4


def test_get_set_params_round_trip():
    res = QLSTM(1, 3, n_layers=1, seed=3, init="uniform", backend="torch")
    params = res.get_params()
    assert params["hidden_size"] == 3 and params["device"] == "cpu"
    clone = type(res)(**params)
    for a, b in zip(res.circuit_weights(), clone.circuit_weights()):
        np.testing.assert_array_equal(a, b)
    res.set_params(seed=4)
    assert not np.array_equal(res.circuit_weights()[0], clone.circuit_weights()[0])
    with pytest.raises(ValueError, match="invalid parameter 'hidden'"):
        res.set_params(hidden=2)


@pytest.mark.parametrize("cell", QUANTUM)
def test_extreme_inputs_match_reference(cell):
    # Capping the inputs inside the cells must not change any angle in float64.
    cls, reference = cell_and_reference(cell)
    X = np.array([[[1e300], [-1e20], [1e-300], [0.0], [-3.5], [1e9]]])
    res = cls(1, 3, init="uniform", seed=11)
    ref = reference(X, np.stack(res.circuit_weights()), 3)
    np.testing.assert_allclose(res.transform(X), ref, rtol=0, atol=1e-10)
    lo = cls(1, 3, init="uniform", seed=11, dtype="float32").transform(X)
    assert np.all(np.isfinite(lo))
    np.testing.assert_allclose(lo, ref, rtol=0, atol=1e-5)


def test_compiled_step_matches_eager(rng):
    X = random_inputs(rng, (16, 6, 1))
    eager = QLSTM(1, 3, seed=4, init="uniform", features="all").transform(X)
    # small batches run in the compiled stream kernel; torch.compile serves the larger ones
    fast = QLSTM(1, 3, seed=4, init="uniform", features="all", use_torch_compile=True,
                 backend=TorchBackend(stream_max_batch=0))
    np.testing.assert_allclose(fast.transform(X), eager, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="use_torch_compile=True is for frozen reservoirs"):
        QLSTM(1, 3, use_torch_compile=True, trainable=True)
    with pytest.raises(ValueError, match="use_torch_compile=True is for frozen reservoirs"):
        QLSTM(1, 3, use_torch_compile=True, backend="aer")
    with pytest.raises(TypeError, match="use_torch_compile must be True or False"):
        QLSTM(1, 3, use_torch_compile="yes")


def test_compiled_step_falls_back_with_a_warning(rng, monkeypatch):
    def broken(fn, **kwargs):
        def run(*a, **k):
            raise RuntimeError("no compiler here")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    X = random_inputs(rng, (3, 4, 1))
    res = QGRU(1, 3, seed=1, use_torch_compile=True, backend=TorchBackend(stream_max_batch=0))
    with pytest.warns(RuntimeWarning, match="no compiler here"):
        out = res.transform(X)
    np.testing.assert_array_equal(out, QGRU(1, 3, seed=1, backend=TorchBackend(stream_max_batch=0)).transform(X))


def test_module_compile_is_not_shadowed_and_old_name_warns(monkeypatch):
    res = QLSTM(1, 3, seed=0)
    assert res.compile.__func__ is torch.nn.Module.compile
    with pytest.warns(DeprecationWarning, match="renamed 'use_torch_compile'"):
        old = QLSTM(1, 3, seed=0, compile=True)
    assert old.use_torch_compile is True
    # the alias is not a parameter of its own: a clone neither warns nor loses the setting
    params = old.get_params()
    assert params["compile"] is None and params["use_torch_compile"] is True
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert QLSTM(**params).use_torch_compile is True


def _fresh_like(res):
    """A reservoir built from scratch and given ``res``'s current weights."""
    fresh = type(res)(**{**res.get_params(), "seed": 12345})
    with torch.no_grad():
        fresh.weights.copy_(res.weights)
    return fresh


@pytest.mark.parametrize("cell", QUANTUM)
@pytest.mark.parametrize("path", ["stream kernel", "step by step", "torch.compile"])
def test_cached_circuits_follow_every_weight_change(cell, path, rng):
    # "stream kernel": the default backend, which runs a cell it has no kernel for step by step
    cls = MODELS[cell]
    X = random_inputs(rng, (3, 4, 1))
    backend = "torch" if path == "stream kernel" else TorchBackend(stream_max_batch=0)
    res = cls(1, 3, seed=0, init="uniform", use_torch_compile=path == "torch.compile", backend=backend)
    before = res.transform(X)  # compiles and caches the circuits
    edits = {
        "in-place .data edit": lambda: [b.data.add_(0.3) for b in res.buffers()],
        "in-place edit": lambda: res.weights.mul_(0.5),
        "load_state_dict": lambda: res.load_state_dict(cls(1, 3, seed=7, init="uniform").state_dict()),
        "set_params": lambda: res.set_params(seed=8),
    }
    for what, edit in edits.items():
        edit()
        after = res.transform(X)
        assert np.abs(after - before).max() > 1e-3, what
        np.testing.assert_allclose(after, _fresh_like(res).transform(X), rtol=0, atol=1e-12, err_msg=what)
        before = after


@pytest.mark.parametrize("cell", QUANTUM)
def test_cached_circuits_follow_dtype_and_device_moves(cell, rng):
    cls = MODELS[cell]
    X = random_inputs(rng, (3, 4, 1), scale=1.0)
    res = cls(1, 3, seed=0, init="uniform")
    ref = res.transform(X)
    res.float()
    lo = res.transform(X)
    assert res._compiled and next(iter(res._compiled.values())).K >= 1
    np.testing.assert_allclose(lo, ref, rtol=0, atol=5e-5)
    assert np.abs(lo - ref).max() > 0  # really computed in float32, not the cached float64 circuits
    res.double()
    np.testing.assert_allclose(res.transform(X), _fresh_like(res).transform(X), rtol=0, atol=1e-12)


def test_module_call_refuses_other_dtype_and_device():
    res = QRNN(1, 2, seed=0)
    with pytest.raises(TypeError, match=r"x has dtype torch.float32 but this QRNN computes in torch.float64"):
        res(torch.zeros(2, 3, 1, dtype=torch.float32))
    with pytest.raises(ValueError, match=r"x is on device meta but this QRNN is on cpu"):
        res(torch.zeros(2, 3, 1, dtype=torch.float64, device="meta"))
    # transform, the numpy entry point, converts
    np.testing.assert_array_equal(res.transform(np.zeros((2, 3, 1), dtype=np.float32)),
                                  res.transform(np.zeros((2, 3, 1))))


@pytest.mark.parametrize("cell", QUANTUM)
@pytest.mark.parametrize("backend", ["torch", "pennylane", "aer"])
def test_correlator_features(cell, backend, rng):
    cls = MODELS[cell]
    X = random_inputs(rng, (2, 3, 1))
    res = cls(1, 3, seed=3, init="uniform", correlators=True, backend=backend)
    plain = cls(1, 3, seed=3, init="uniform")
    out = res.transform(X)
    assert out.shape == (2, 3, plain.n_features + 6) and res.n_features == plain.n_features + 6
    np.testing.assert_allclose(out[..., :plain.n_features], plain.transform(X), rtol=0, atol=1e-10)
    if cell not in CORRELATORS:
        pytest.fail(f"the registered quantum cell {cell!r} has no correlator reference here: add it to "
                    "tests/test_cells.py CORRELATORS")
    ref = CORRELATORS[cell](X, np.stack(res.circuit_weights()))
    np.testing.assert_allclose(out[..., plain.n_features:], ref, rtol=0, atol=1e-10)


def _readout_correlators(cell, readout_index):
    """The correlators of a built-in cell's readout circuit, recomputed from the reference's inputs to it."""
    from tests.reference import vqc_expvals

    def correlators(X, W):
        inputs = _readout_inputs(cell, X, W)
        return np.array([[vqc_expvals(v, W[readout_index], correlators=True)[4:] for v in seq] for seq in inputs])

    return correlators


def _readout_inputs(cell, X, W):
    """Inputs of the readout circuit at every step, from the reference equations."""
    from tests.reference import sigmoid, vqc_expvals

    rows = []
    for b in range(X.shape[0]):
        h, c, seq = np.zeros(3), np.zeros(4), []
        for t in range(X.shape[1]):
            x = X[b, t]
            v = np.concatenate([x, h])
            if cell == "QRNN":
                seq.append(v)
                h = np.tanh(vqc_expvals(v, W[0])[:3])
            elif cell == "QLSTM":
                f, i = sigmoid(vqc_expvals(v, W[0])), sigmoid(vqc_expvals(v, W[1]))
                g, o = np.tanh(vqc_expvals(v, W[2])), sigmoid(vqc_expvals(v, W[3]))
                c = f * c + i * g
                a = o * np.tanh(c)
                seq.append(a)
                h = vqc_expvals(a, W[4])[:3]
            else:
                r = sigmoid(vqc_expvals(v, W[0])[:3])
                z = sigmoid(vqc_expvals(v, W[1])[:3])
                u = np.concatenate([x, r * h])
                seq.append(u)
                h = z * h + (1 - z) * np.tanh(vqc_expvals(u, W[2])[:3])
        rows.append(seq)
    return rows


#: The correlator features of each cell (hidden size 3), ``correlators(X, W)``.
CORRELATORS = {"QRNN": _readout_correlators("QRNN", 0), "QLSTM": _readout_correlators("QLSTM", 5),
               "QGRU": _readout_correlators("QGRU", 2),
               "TestGatedUnit": lambda X, W: gated_unit_reference(X, W, 3, correlators=True)[..., 3:]}


def test_qlstm_correlators_with_every_feature_set(rng):
    X = random_inputs(rng, (2, 3, 1))
    for features in ("output", "state", "all"):
        plain = QLSTM(1, 3, seed=2, features=features).transform(X)
        corr = QLSTM(1, 3, seed=2, features=features, correlators=True).transform(X)
        np.testing.assert_allclose(corr[..., : plain.shape[-1]], plain, rtol=0, atol=1e-12)
        assert corr.shape[-1] == plain.shape[-1] + 6


def test_set_params_switches_between_frozen_and_trainable(rng):
    res = QRNN(1, 2, seed=5)
    res.set_params(trainable=True)
    assert [n for n, _ in res.named_parameters()] == ["weights"] and "weights" not in dict(res.named_buffers())
    res.set_params(trainable=False, seed=6)
    assert not list(res.parameters()) and "weights" in dict(res.named_buffers())
    X = random_inputs(rng, (2, 3, 1))
    np.testing.assert_array_equal(res.transform(X), QRNN(1, 2, seed=6).transform(X))


@pytest.mark.parametrize("cell", QUANTUM)
def test_input_scaling_scales_the_encoded_inputs(cell, rng):
    cls = MODELS[cell]
    X = random_inputs(rng, (3, 4, 1))
    scaled = cls(1, 3, seed=2, init="uniform", input_scaling=0.3)
    np.testing.assert_array_equal(scaled.transform(X), cls(1, 3, seed=2, init="uniform").transform(0.3 * X))
    assert np.abs(scaled.transform(X) - cls(1, 3, seed=2, init="uniform").transform(X)).max() > 1e-3
    with pytest.raises(ValueError, match="input_scaling must be > 0"):
        cls(1, 3, input_scaling=0.0)
