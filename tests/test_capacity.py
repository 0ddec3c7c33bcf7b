"""Information processing capacity on reservoirs whose answer is known, and its bounds."""
import numpy as np
import pytest
import torch

from qrnn import QLSTM, QRNN
from qrnn.capacity import _basis, _legendre
from qrnn.classical import ESN
from qrnn.metrics import information_processing_capacity, memory_capacity


class LinearESN(ESN):
    """An ESN without its tanh: a linear reservoir, which can have no nonlinear capacity."""

    def _run(self, x, state=None):
        drive = x @ self.W_in.T
        s = x.new_zeros(x.shape[0], self.hidden_size)
        out = []
        for t in range(x.shape[1]):
            s = drive[:, t] + s @ self.W.T
            out.append(s)
        return torch.stack(out, 1), (s[None],)


class DelayLine(ESN):
    """Features that are exactly u_t, u_{t-2} and P_2(u_{t-1}) u_t: capacity 1 for each of those three functions."""

    def _run(self, x, state=None):
        u = x[..., 0]
        prev = torch.nn.functional.pad(u, (1, 0))[:, :-1]
        prev2 = torch.nn.functional.pad(u, (2, 0))[:, :-2]
        return torch.stack([u, prev2, (1.5 * prev**2 - 0.5) * u], -1), None

    @property
    def n_features(self):
        return 3


def test_a_delay_line_has_exactly_the_capacities_of_its_features():
    c = information_processing_capacity(DelayLine(1, 3, seed=0), max_delay=5, n_samples=20000, seed=1)
    assert c.rank == 3
    assert set(c.capacities) == {((0, 1),), ((2, 1),), ((0, 1), (1, 2))}
    np.testing.assert_allclose(list(c.capacities.values()), 1.0, atol=1e-12)
    assert c.by_degree == pytest.approx({1: 2.0, 2: 0.0, 3: 1.0}, abs=1e-12)
    np.testing.assert_allclose(c.memory_curve, [1, 0, 1, 0, 0, 0], atol=1e-12)


def test_a_linear_reservoir_has_no_nonlinear_capacity():
    c = information_processing_capacity(LinearESN(1, 20, seed=0, input_scaling=0.1), n_samples=10000, seed=0)
    assert c.nonlinear == 0.0 and c.by_degree[2] == 0.0 and c.by_degree[3] == 0.0
    assert 0.8 * c.rank < c.total <= c.rank  # its capacity is all memory, nearly its rank's worth


def test_a_tanh_reservoir_without_bias_is_odd_so_has_no_even_capacity():
    c = information_processing_capacity(ESN(1, 30, seed=0), n_samples=10000, seed=0)
    assert c.by_degree[2] == 0.0 and c.by_degree[3] > 1.0


@pytest.mark.parametrize("make", [lambda: ESN(1, 30, seed=0, bias_scaling=0.5), lambda: QRNN(1, 3, seed=0),
                                  lambda: QLSTM(1, 3, seed=1, correlators=True)])
def test_the_total_is_at_most_the_rank(make):
    c = information_processing_capacity(make(), n_samples=8000, seed=0)
    assert 0 < c.total <= c.rank + 1e-9
    assert all(v >= c.threshold for v in c.capacities.values())


def test_each_capacity_is_the_explained_variance_of_a_least_squares_readout():
    # independently: numpy's lstsq with an intercept on the same input (the same seed draws it), R^2 in sample
    res = ESN(1, 30, seed=0, spectral_radius=0.8, bias_scaling=0.3)
    c = information_processing_capacity(res, max_delay=15, max_delay_nonlinear=4, n_samples=5000, seed=7)
    u = np.random.default_rng(7).uniform(-1, 1, size=200 + 15 + 5000)
    F = res.transform(u[None, :, None])[0][215:]
    A = np.hstack([F, np.ones((5000, 1))])

    def r2(z):
        z = z - z.mean()
        resid = z - A @ np.linalg.lstsq(A, z, rcond=None)[0]
        return 1 - resid @ resid / (z @ z)

    lag = lambda k: u[215 - k:215 - k + 5000]  # noqa: E731
    p2 = lambda v: 1.5 * v**2 - 0.5  # noqa: E731
    for k in (0, 3, 6):
        np.testing.assert_allclose(c.memory_curve[k], r2(lag(k)), atol=1e-10)
    np.testing.assert_allclose(c.capacities[((1, 2),)], r2(p2(lag(1))), atol=1e-10)
    np.testing.assert_allclose(c.capacities[((0, 1), (2, 1))], r2(lag(0) * lag(2)), atol=1e-10)
    np.testing.assert_allclose(c.by_degree[1], sum(r2(lag(k)) for k in range(16) if r2(lag(k)) >= c.threshold),
                               atol=1e-9)


def test_the_memory_curve_agrees_with_memory_capacity():
    res = ESN(1, 30, seed=0, spectral_radius=0.8)
    c = information_processing_capacity(res, max_degree=1, max_delay=15, n_samples=20000, seed=0)
    _, mc = memory_capacity(res, max_delay=15, n_train=20000, n_test=5000, washout=200, seed=3)
    # in sample (IPC) against a held-out test (memory_capacity), on different inputs: sampling error only
    np.testing.assert_allclose(c.memory_curve[1:], mc, atol=0.05)


def test_the_basis_is_orthogonal_and_counted_once():
    basis = list(_basis(3, 4, 3))
    assert len(basis) == len(set(basis))
    assert len(basis) == 5 + (4 + 6) + (4 + 12 + 4)  # degree 1 over delays 0..4; degrees 2, 3 over 0..3
    u = np.random.default_rng(0).uniform(-1, 1, 200000)
    P = _legendre(u, 3)
    np.testing.assert_allclose(P[2], 1.5 * u**2 - 0.5)
    np.testing.assert_allclose(P[3], 2.5 * u**3 - 1.5 * u)
    gram = P[1:] @ P[1:].T / len(u)
    np.testing.assert_allclose(gram, np.diag([1 / 3, 1 / 5, 1 / 7]), atol=5e-3)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="reservoir must be a qrnn reservoir"):
        information_processing_capacity(object())
    with pytest.raises(ValueError, match="input_size=1, got 2"):
        information_processing_capacity(ESN(2, 5, seed=0))
    with pytest.raises(ValueError, match="max_degree must be >= 1"):
        information_processing_capacity(ESN(1, 5, seed=0), max_degree=0)
    with pytest.raises(ValueError, match=r"p_value must be in \(0, 1\)"):
        information_processing_capacity(ESN(1, 5, seed=0), p_value=1.0)


def test_capacities_plot(tmp_path):
    from qrnn.capacity import plot_capacities

    caps = {name: information_processing_capacity(r, max_delay=8, n_samples=2000, seed=0)
            for name, r in (("ESN(1, 20)", ESN(1, 20, seed=0)), ("QRNN(1, 3)", QRNN(1, 3, seed=0)))}
    fig = plot_capacities(caps, path=tmp_path / "ipc.png", title="capacities")
    assert (tmp_path / "ipc.png").stat().st_size > 5000
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(caps)
