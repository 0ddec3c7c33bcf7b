import numpy as np
import pytest

from qrnn.tasks import chronological_split, damped_shm, make_windows, minmax_scale, sine


def test_damped_shm_small_angle_limit_matches_closed_form():
    # For small amplitude sin(theta) ~ theta: an underdamped oscillator with a closed form.
    w0, gamma, v0 = np.sqrt(9.81), 0.15, 1e-4
    t = np.linspace(0, 20, 240)
    wd = np.sqrt(w0**2 - gamma**2 / 4)
    theta = v0 / wd * np.exp(-gamma * t / 2) * np.sin(wd * t)
    dtheta = np.gradient(theta, t, edge_order=2)
    exact = v0 * np.exp(-gamma * t / 2) * (np.cos(wd * t) - gamma / (2 * wd) * np.sin(wd * t))
    out = damped_shm(omega0=v0)
    np.testing.assert_allclose(out, exact, rtol=0, atol=1e-9 * v0 / 1e-4)
    assert np.abs(dtheta - exact).max() < 1e-5  # the closed form itself is consistent


def test_damped_shm_energy_decays():
    v = damped_shm()
    assert v[0] == 3.0 and np.abs(v[-60:]).max() < np.abs(v[:60]).max()


def test_windows_and_split():
    s = np.arange(20.0)
    X, y = make_windows(s, window=4, horizon=2)
    assert X.shape == (15, 4, 1) and y[0] == 5.0 and y[-1] == 19.0
    Xtr, Xte, ytr, yte = chronological_split(X, y)
    assert len(Xtr) == 10 and len(Xte) == 5 and ytr[-1] < yte[0]
    with pytest.raises(ValueError, match="too short"):
        make_windows(np.arange(3.0), window=4)
    with pytest.raises(ValueError, match="train_fraction"):
        chronological_split(X, y, 1.5)


def test_minmax_and_sine():
    s = minmax_scale(np.array([2.0, 4.0, 3.0]))
    np.testing.assert_allclose(s, [-1, 1, 0])
    with pytest.raises(ValueError, match="constant"):
        minmax_scale(np.ones(4))
    np.testing.assert_allclose(sine(9, 1)[[0, 2, 4, 6]], [0, 1, 0, -1], atol=1e-15)
