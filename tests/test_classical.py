"""Classical reservoirs against independent numpy computations of their equations."""
import numpy as np
import pytest

from qrnn.classical import ESN, GRU, LSTM, RNN
from tests.conftest import random_inputs


def sig(x):
    return 1 / (1 + np.exp(-x))


def params(res):
    return {k: v.detach().numpy() for k, v in res.cell.named_parameters()}


def test_rnn_equations(rng):
    res = RNN(2, 4, seed=1)
    p = params(res)
    X = random_inputs(rng, (2, 5, 2))
    h = np.zeros((2, 4))
    ref = []
    for t in range(5):
        h = np.tanh(X[:, t] @ p["weight_ih_l0"].T + p["bias_ih_l0"] + h @ p["weight_hh_l0"].T + p["bias_hh_l0"])
        ref.append(h)
    np.testing.assert_allclose(res.transform(X), np.stack(ref, 1), rtol=0, atol=1e-12)


def test_lstm_and_gru_equations(rng):
    X = random_inputs(rng, (2, 5, 1))
    lstm = LSTM(1, 3, seed=2, features="state")
    p = params(lstm)
    h, c, ref = np.zeros((2, 3)), np.zeros((2, 3)), []
    for t in range(5):
        z = X[:, t] @ p["weight_ih_l0"].T + p["bias_ih_l0"] + h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
        i, f, g, o = np.split(z, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        ref.append(np.concatenate([h, c], 1))
    ref = np.stack(ref, 1)
    np.testing.assert_allclose(lstm.transform(X), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(LSTM(1, 3, seed=2).transform(X), ref[..., :3], rtol=0, atol=1e-12)

    gru = GRU(1, 3, seed=3)
    p = params(gru)
    h, ref = np.zeros((2, 3)), []
    for t in range(5):
        gi = X[:, t] @ p["weight_ih_l0"].T + p["bias_ih_l0"]
        gh = h @ p["weight_hh_l0"].T + p["bias_hh_l0"]
        r = sig(gi[:, :3] + gh[:, :3])
        z = sig(gi[:, 3:6] + gh[:, 3:6])
        n = np.tanh(gi[:, 6:] + r * gh[:, 6:])
        h = (1 - z) * n + z * h
        ref.append(h)
    np.testing.assert_allclose(gru.transform(X), np.stack(ref, 1), rtol=0, atol=1e-12)


def test_pytorch_default_init_range():
    res = LSTM(1, 16, seed=0)
    k = 1 / np.sqrt(16)
    for v in params(res).values():
        assert np.abs(v).max() <= k and np.abs(v).max() > 0.8 * k
    assert not any(p.requires_grad for p in res.parameters())
    assert all(p.requires_grad for p in LSTM(1, 4, seed=0, trainable=True).parameters())


def test_esn_equations_and_spectral_radius(rng):
    esn = ESN(1, 30, spectral_radius=0.8, input_scaling=0.5, leak_rate=0.3, sparsity=0.7,
              bias_scaling=0.2, seed=4)
    W, Win, b = (esn.W.numpy(), esn.W_in.numpy(), esn.bias.numpy())
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(W)).max(), 0.8, rtol=1e-10)
    assert 0.6 < np.mean(W == 0) < 0.8
    assert np.abs(Win).max() <= 0.5 and np.abs(b).max() <= 0.2
    X = random_inputs(rng, (2, 6, 1))
    s, ref = np.zeros((2, 30)), []
    for t in range(6):
        s = 0.7 * s + 0.3 * np.tanh(X[:, t] @ Win.T + s @ W.T + b)
        ref.append(s)
    np.testing.assert_allclose(esn.transform(X), np.stack(ref, 1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    ({"spectral_radius": -1}, "spectral_radius"),
    ({"leak_rate": 0}, r"leak_rate must be in \(0, 1\], got 0"),
    ({"leak_rate": 1.5}, "leak_rate"),
    ({"sparsity": 1.0}, r"sparsity must be in \[0, 1\), got 1"),
    ({"input_scaling": float("nan")}, "input_scaling"),
])
def test_esn_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ESN(1, 10, **kwargs)
