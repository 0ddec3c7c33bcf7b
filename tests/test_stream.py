"""The compiled whole-recurrence kernels (qrnn.backends.torch.stream) against the batched torch path."""
import numpy as np
import pytest
import torch

from qrnn import QGRU, QLSTM, QRNN
from qrnn.backends import TorchBackend
from qrnn.backends.torch import stream

STEPWISE = TorchBackend(stream_max_batch=0)  # the batched, step-by-step torch path


def applies(res, x):
    return stream.applies(res._backend, res, torch.as_tensor(x))


def used_kernel(res, X):
    x = torch.as_tensor(X, dtype=res.weights.dtype)
    with torch.no_grad():
        return applies(res, x)


@pytest.mark.parametrize("cls", [QRNN, QLSTM, QGRU])
@pytest.mark.parametrize("features", ["output", "state", "all"])
@pytest.mark.parametrize("correlators", [False, True])
def test_kernel_equals_the_batched_path(cls, features, correlators, rng):
    X = rng.normal(size=(5, 9, 2)) * 3.0
    X[0, 3, 0] = 1e30  # beyond the input cap: same angle, same features
    init = rng.choice(["normal", "uniform"])
    seed = int(rng.integers(1000))
    kernel = cls(2, 3, seed=seed, init=init, features=features, correlators=correlators)
    stepwise = cls(2, 3, seed=seed, init=init, features=features, correlators=correlators, backend=STEPWISE)
    assert used_kernel(kernel, X) and not used_kernel(stepwise, X)
    F, state = kernel.transform(X, return_state=True)
    G, ref_state = stepwise.transform(X, return_state=True)
    np.testing.assert_allclose(F, G, rtol=0, atol=1e-12)
    for s, r in zip(state, ref_state):
        np.testing.assert_allclose(s.numpy(), r.numpy(), rtol=0, atol=1e-12)
    # a stream in chunks continues exactly where it stopped
    first, mid = kernel.transform(X[:, :4], return_state=True)
    rest = kernel.transform(X[:, 4:], state=mid)
    np.testing.assert_allclose(np.concatenate([first, rest], axis=1), F, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [QRNN, QLSTM, QGRU])
@pytest.mark.parametrize("B", [1, 2, 3, 4])
def test_every_batch_size_pairs_its_sequences_right(cls, B, rng):
    """The kernels run two sequences per thread in lock step, an odd last one alone (to rounding, the same)."""
    X = rng.normal(size=(B, 5, 1))
    F = cls(1, 3, seed=4, init="uniform", features="all", correlators=True).transform(X)
    G = cls(1, 3, seed=4, init="uniform", features="all", correlators=True, backend=STEPWISE).transform(X)
    np.testing.assert_allclose(F, G, rtol=0, atol=1e-12)
    # every sequence's features are its own: computed alone, they are the same
    for b in range(B):
        np.testing.assert_allclose(cls(1, 3, seed=4, init="uniform", features="all",
                                       correlators=True).transform(X[b:b + 1])[0], F[b], rtol=0, atol=1e-14)


def test_kernel_follows_weight_changes(rng):
    X = rng.normal(size=(1, 20, 1))
    res = QLSTM(1, 3, seed=0)
    before = res.transform(X)
    res.weights.data += 0.1
    after = res.transform(X)
    assert np.abs(after - before).max() > 1e-3
    ref = QLSTM(1, 3, seed=0, backend=STEPWISE)
    ref.load_state_dict(res.state_dict())
    np.testing.assert_allclose(after, ref.transform(X), rtol=0, atol=1e-12)


def test_when_the_kernel_is_not_used(rng):
    X = rng.normal(size=(4, 3, 1))
    assert not used_kernel(QLSTM(1, 3, seed=0, backend=TorchBackend(stream_max_batch=3)), X)  # batch too large
    assert not used_kernel(QLSTM(1, 3, seed=0, dtype="float32"), X)  # float32 computes in float32
    assert not used_kernel(QLSTM(1, 8, seed=0), X)  # 9 qubits: not the Heisenberg form
    assert not used_kernel(QLSTM(1, 3, seed=0, backend=TorchBackend(method="unitary")), X)
    # gradients: the kernel has none, so a run that needs them stays in torch
    trained = QLSTM(1, 3, seed=0, trainable=True)
    x = torch.as_tensor(X)
    assert not applies(trained, x)
    out = trained(x)
    out.sum().backward()
    assert trained.weights.grad is not None
    with torch.no_grad():  # ... but a trained model's predictions may use it
        assert applies(trained, x)
    np.testing.assert_allclose(trained.transform(X), QLSTM(1, 3, seed=0).transform(X), rtol=0, atol=1e-12)


def test_stream_max_batch_is_validated_and_saved():
    with pytest.raises(ValueError, match="stream_max_batch"):
        TorchBackend(stream_max_batch=-1)
    assert TorchBackend(stream_max_batch=5).to_config()["stream_max_batch"] == 5
    assert TorchBackend().stream_max_batch is None  # the kernel led at every batch size measured


def test_kernel_from_several_threads_at_once(rng):
    from concurrent.futures import ThreadPoolExecutor

    X = rng.normal(size=(40, 6, 1))
    res = QGRU(1, 3, seed=2)
    ref = QGRU(1, 3, seed=2, backend=STEPWISE).transform(X)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: res.transform(X), range(8)))
    for out in outs:
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_a_subclass_runs_its_own_step_not_its_parents_kernel(rng):
    """The kernels implement the built-in cells' equations: a subclass, which may change them, takes the
    general path (and a subclass that changes nothing gets the same numbers by it)."""
    class Same(QLSTM):
        pass

    class Scaled(QRNN):
        def make_step(self, circuits):
            inner = super().make_step(circuits)

            def step(x, state):
                h, _ = inner(x, state)
                return 0.5 * h, (0.5 * h,)

            return step

    X = rng.normal(size=(3, 6, 1))
    assert not used_kernel(Same(1, 3, seed=2), X) and used_kernel(QLSTM(1, 3, seed=2), X)
    np.testing.assert_allclose(Same(1, 3, seed=2).transform(X), QLSTM(1, 3, seed=2).transform(X), rtol=0, atol=1e-12)
    ref = QRNN(1, 3, seed=2, backend=STEPWISE)
    F, G = Scaled(1, 3, seed=2).transform(X), ref.transform(X)
    assert np.abs(F - G).max() > 1e-3  # its own equations, not QRNN's kernel
    np.testing.assert_allclose(F[:, 0], 0.5 * G[:, 0], rtol=0, atol=1e-12)


def test_the_angle_encoding_is_not_the_kernels(rng):
    X = rng.normal(size=(2, 5, 1))
    res = QRNN(1, 3, seed=1, encoding="angle")
    assert not used_kernel(res, X)
    np.testing.assert_allclose(res.transform(X), QRNN(1, 3, seed=1, encoding="angle", backend=STEPWISE).transform(X),
                               rtol=0, atol=0)
