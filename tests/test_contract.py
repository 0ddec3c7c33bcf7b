"""One contract, every reservoir: shapes, seeds, determinism, state, device, bad input."""
import numpy as np
import pytest
import torch
from sklearn.base import clone

from qrnn.classical import ESN
from qrnn.registry import MODELS
from tests.conftest import random_inputs

#: The registered quantum and classical cells (one of your own is covered once registered, tests/conftest.py),
#: and the ESN.
QUANTUM, CLASSICAL = MODELS.names(tag="quantum"), MODELS.names(tag="classical")
FACTORIES = {
    **{name: (lambda cls: lambda **kw: cls(2, 3, **kw))(MODELS[name]) for name in QUANTUM},
    **{name: (lambda cls: lambda **kw: cls(2, 5, **kw))(MODELS[name]) for name in CLASSICAL},
    "ESN": lambda **kw: ESN(2, 20, **kw),
}
NAMES = list(FACTORIES)


@pytest.fixture(params=NAMES)
def name(request):
    return request.param


def test_shapes_and_torch_call(name, rng):
    res = FACTORIES[name](seed=1)
    X = random_inputs(rng, (3, 6, 2))
    F = res.transform(X)
    assert F.shape == (3, 6, res.n_features) and F.dtype == np.float64
    out = res(torch.as_tensor(X))
    np.testing.assert_allclose(out.detach().numpy(), F, rtol=0, atol=1e-12)


def test_seeds_and_determinism(name, rng):
    X = random_inputs(rng, (2, 5, 2))
    a = FACTORIES[name](seed=3).transform(X)
    np.testing.assert_array_equal(a, FACTORIES[name](seed=3).transform(X))
    assert np.abs(a - FACTORIES[name](seed=4).transform(X)).max() > 1e-6


def test_causal_and_zero_initial_state(name, rng):
    res = FACTORIES[name](seed=2)
    X = random_inputs(rng, (2, 7, 2))
    full = res.transform(X)
    np.testing.assert_allclose(res.transform(X[:, :3]), full[:, :3], rtol=0, atol=1e-13)
    # each sample is independent of the others in the batch
    np.testing.assert_allclose(res.transform(X[1:]), full[1:], rtol=0, atol=1e-13)


def test_state_carry_equals_one_run(name, rng):
    res = FACTORIES[name](seed=5)
    X = random_inputs(rng, (2, 9, 2))
    full = res.transform(X)
    first, state = res.transform(X[:, :4], return_state=True)
    second = res.transform(X[:, 4:], state=state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), full, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="state does not belong"):
        res.transform(X[:1, 4:], state=state)


def test_ragged_lists(name, rng):
    res = FACTORIES[name](seed=6)
    seqs = [random_inputs(rng, (L, 2)) for L in (4, 1, 6)]
    out = res.transform(seqs)
    for s, o in zip(seqs, out):
        np.testing.assert_allclose(o, res.transform(s[None])[0], rtol=0, atol=1e-13)


def test_clone_gives_same_reservoir(name, rng):
    res = FACTORIES[name](seed=7)
    X = random_inputs(rng, (2, 4, 2))
    np.testing.assert_array_equal(clone(res).transform(X), res.transform(X))


def test_float32(name, rng):
    X = random_inputs(rng, (2, 4, 2), scale=1.0)
    lo = FACTORIES[name](seed=8, dtype="float32").transform(X)
    np.testing.assert_allclose(lo, FACTORIES[name](seed=8).transform(X), rtol=0, atol=5e-5)


@pytest.mark.parametrize("X,exc,match", [
    (np.zeros((3, 2)), ValueError, "shape"),
    (np.zeros((1, 3, 1)), ValueError, "input_size=2"),
    (np.zeros((0, 3, 2)), ValueError, "empty batch"),
    (np.zeros((1, 0, 2)), ValueError, "T = 0"),
    (np.full((1, 2, 2), np.nan), ValueError, "NaN"),
    (np.array([[["x", "y"]]]), TypeError, "real numbers"),
])
def test_bad_input(name, X, exc, match):
    with pytest.raises(exc, match=match):
        FACTORIES[name](seed=0).transform(X)


def test_bad_constructor_arguments(name):
    with pytest.raises(ValueError, match="seed must be >= 0"):
        FACTORIES[name](seed=-3)
    with pytest.raises(ValueError, match="dtype must be one of"):
        FACTORIES[name](dtype="half")


@pytest.mark.gpu
def test_cuda_matches_cpu(name, rng):
    X = random_inputs(rng, (3, 5, 2))
    gpu = FACTORIES[name](seed=9, device="cuda")
    out = gpu(torch.as_tensor(X, device="cuda"))
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.cpu().numpy(), FACTORIES[name](seed=9).transform(X), rtol=0, atol=1e-10)


def test_module_to_changes_where_it_computes(name, rng):
    X = random_inputs(rng, (2, 4, 2), scale=1.0)
    ref = FACTORIES[name](seed=10).transform(X)
    res = FACTORIES[name](seed=10).to(torch.float32)
    assert res.get_params()["dtype"] == "float32"
    out = res(torch.as_tensor(X, dtype=torch.float32))
    assert out.dtype == torch.float32
    np.testing.assert_allclose(res.transform(X), ref, rtol=0, atol=5e-5)
    back = res.double()
    np.testing.assert_allclose(back.transform(X), ref, rtol=0, atol=5e-5)  # float32-rounded weights
    np.testing.assert_array_equal(clone(res).transform(X), FACTORIES[name](seed=10).transform(X))
    with pytest.raises(ValueError, match="float64 or float32"):
        FACTORIES[name](seed=10).to(torch.float16)


def test_pickle_and_deepcopy_carry_parameters_and_exact_tensors(name, rng):
    import copy
    import pickle

    X = random_inputs(rng, (2, 4, 2))
    res = FACTORIES[name](seed=11)
    res.transform(X)  # caches (compiled circuits) must not travel
    with torch.no_grad():
        for t in res.state_dict().values():
            t.add_(0.01)  # edited tensors, not what seed 11 draws: the copy must keep them
    for copied in (pickle.loads(pickle.dumps(res)), copy.deepcopy(res)):
        assert type(copied) is type(res) and copied.get_params() == res.get_params()
        np.testing.assert_array_equal(copied.transform(X), res.transform(X))
    assert np.abs(FACTORIES[name](seed=11).transform(X) - res.transform(X)).max() > 1e-6
