import numpy as np
import pytest

from qrnn import tasks
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


from qrnn.tasks import (MinMaxScaler, bessel_j2, delayed_quantum_control, mackey_glass, narma,
                        narma10_stream, population_inversion)


def test_bessel_against_mpmath():
    import mpmath

    x = np.linspace(2, 100, 256)
    ref = np.array([float(mpmath.besselj(2, xi)) for xi in x])
    np.testing.assert_allclose(bessel_j2(), ref, rtol=0, atol=1e-14)


def test_delayed_quantum_control_peaks():
    f = delayed_quantum_control()
    t = np.arange(-2, 20, 0.01)
    assert f.shape == t.shape
    # at t = 2m the m-th pulse dominates: f ~ exp(-2m/16) (neighbours contribute exp(-40))
    for m in range(0, 10):
        i = int(round((2 * m + 2) / 0.01))
        assert f[i] == pytest.approx(np.exp(-2 * m / 16), rel=1e-12)


def test_population_inversion_against_jaynes_cummings_evolution():
    # Independent: evolve H = g (a sigma+ + a^dag sigma-) on a truncated Fock space with expm.
    import math

    from scipy.linalg import expm
    from scipy.stats import poisson

    nbar, g, N = 4.0, 1.0, 50
    a = np.diag(np.sqrt(np.arange(1, N)), 1)
    sp = np.array([[0, 1], [0, 0]])  # |e> = (1, 0)
    H = g * (np.kron(a, sp) + np.kron(a.T, sp.T))
    alpha = np.sqrt(nbar)
    coh = np.exp(-nbar / 2) * np.array([alpha**n / np.sqrt(float(math.factorial(n))) for n in range(N)])
    psi0 = np.kron(coh, [1.0, 0.0])
    sz = np.kron(np.eye(N), np.diag([1.0, -1.0]))
    times = np.linspace(0, 12, 7)
    ref = [np.real(np.conj(p) @ sz @ p) for p in (expm(-1j * H * t) @ psi0 for t in times)]
    ours = population_inversion(7, 12.0, nbar=nbar, g=g)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)
    assert poisson.sf(N - 1, nbar) < 1e-20  # the truncation above is harmless


def _narma_independent(u, order, y0):
    # A second implementation: explicit lag lists, no slicing shortcuts.
    y = [y0]
    for t in range(len(u) - 1):
        hist = [y[t - j] if t - j >= 0 else 0.0 for j in range(order)]
        u_lag = u[t - order + 1] if t - order + 1 >= 0 else 0.0
        y.append(0.3 * y[t] + 0.05 * y[t] * sum(hist) + 1.5 * u_lag * u[t] + 0.1)
    return np.array(y)


@pytest.mark.parametrize("order", [5, 10])
def test_narma_paper_form(order):
    u, y = narma(300, order=order)
    t = np.arange(300)
    np.testing.assert_allclose(u, 0.1 * (np.sin(2 * np.pi * 2.11 * t / 300) * np.sin(2 * np.pi * 3.73 * t / 300)
                                         * np.sin(2 * np.pi * 4.11 * t / 300) + 1), rtol=0, atol=1e-15)
    np.testing.assert_allclose(y, _narma_independent(u, order, 0.196), rtol=0, atol=1e-14)


def test_narma10_stream_seeded_and_bounded():
    u, y = narma10_stream(3000, seed=3)
    np.testing.assert_array_equal(u, narma10_stream(3000, seed=3)[0])
    assert 0 <= u.min() and u.max() < 0.5
    np.testing.assert_allclose(y, _narma_independent(u, 10, 0.0), rtol=0, atol=1e-12)
    assert np.all(np.isfinite(y)) and y.max() < 1.5


def test_mackey_glass_against_fine_heun():
    # Independent integrator: Heun's method with a 20x finer step, exact delay on its grid.
    h, tau = 0.005, 17.0
    lag = int(tau / h)
    steps = int(100 / h)
    x = np.full(lag + steps + 1, 1.2)
    f = lambda xt, xd: 0.2 * xd / (1 + xd**10) - 0.1 * xt  # noqa: E731
    for i in range(lag, lag + steps):
        k1 = f(x[i], x[i - lag])
        k2 = f(x[i] + h * k1, x[i - lag + 1])
        x[i + 1] = x[i] + h / 2 * (k1 + k2)
    ref = x[lag::200][:101]
    ours = mackey_glass(101)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=2e-4)
    long = mackey_glass(1500)
    assert 0.2 < long.min() and long.max() < 1.5 and long[500:].std() > 0.1  # chaotic, bounded


def test_scaler_round_trip_and_errors(rng):
    s = rng.normal(size=30) * 5 + 2
    sc = MinMaxScaler().fit(s)
    z = sc.transform(s)
    assert z.min() == -1 and z.max() == 1
    np.testing.assert_allclose(sc.inverse_transform(z), s, rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match="not fitted"):
        MinMaxScaler().transform(s)
    with pytest.raises(ValueError, match="low < high"):
        MinMaxScaler((1, -1))


@pytest.mark.parametrize("call,error,match", [
    (lambda: damped_shm(t_max=-1.0), ValueError, "t_max must be > 0"),
    (lambda: damped_shm(damping=float("nan")), ValueError, "damping must be a finite real number"),
    (lambda: bessel_j2(x_min=5.0, x_max=2.0), ValueError, "x_min must be < x_max"),
    (lambda: delayed_quantum_control(dt=0.0), ValueError, "dt must be > 0"),
    (lambda: population_inversion(nbar=0.0), ValueError, "nbar must be > 0"),
    (lambda: narma(order=0), ValueError, "order must be >= 1"),
    (lambda: narma(period="300"), TypeError, "period must be a finite real number"),
    (lambda: narma10_stream(1), ValueError, "n_steps must be >= 2"),
    (lambda: mackey_glass(tau=17.0, h=0.3), ValueError, "tau / h must be a positive integer"),
    (lambda: mackey_glass(h=-0.1), ValueError, "h must be > 0"),
    (lambda: sine(1), ValueError, "n_points must be >= 2"),
])
def test_generators_reject_bad_arguments(call, error, match):
    with pytest.raises(error, match=match) as info:
        call()
    assert type(info.value) is error


@pytest.mark.parametrize("call,exc,match", [
    (lambda: tasks.damped_shm(damping=-100), ValueError, r"the pendulum's ODE solve failed at t=.* of t_max=20"),
    (lambda: tasks.narma(order=10, y0=100.0), ValueError, r"the NARMA-10 recursion diverges .*from y0=100.0.*NARMA-5 "
                                                          r"and NARMA-10"),
    (lambda: tasks.narma(order=22), ValueError, "the NARMA-22 recursion diverges"),
    (lambda: tasks.narma10_stream(3200, seed=75), ValueError, r"NARMA-10 recursion diverges .*\(seed=75\)"),
    (lambda: tasks.sine(periods=float("nan")), ValueError, "periods must be a finite real number"),
    (lambda: tasks.sine(periods="4"), TypeError, "periods must be a finite real number, got str"),
    (lambda: tasks.split_point(-10, 2.0), ValueError, "n must be >= 0, got -10"),
    (lambda: tasks.split_point(10, 2.0), ValueError, r"train_fraction must be in \(0, 1\), got 2.0"),
    (lambda: tasks.split_point(10, "0.5"), TypeError, "train_fraction must be a finite real number, got str"),
    (lambda: tasks.split_point(True, 0.5), TypeError, "n must be an integer, got bool"),
    (lambda: tasks.chronological_split(np.zeros(10), np.zeros(10), "0.5"), TypeError, "train_fraction"),
    (lambda: tasks.chronological_split(np.zeros(10), np.zeros(10), float("nan")), ValueError, "train_fraction"),
    (lambda: tasks.narma10_stream(100, seed="0"), TypeError, "seed must be an integer"),
    (lambda: tasks.mackey_glass(50, power=2.5, x0=-1.0), ValueError, "mackey_glass: these arguments give a "
                                                                     "non-finite value at point"),
    (lambda: tasks.delayed_quantum_control(-20000.0, -19000.0, 1.0), ValueError, "delayed_quantum_control: these"),
    (lambda: tasks.MinMaxScaler((0.0, 1.0, 2.0)), ValueError, r"feature_range must be a pair \(low, high\)"),
])
def test_generators_refuse_what_they_cannot_honour(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_the_papers_narma_tasks_still_generate():
    for order in (5, 10, 21):
        assert np.abs(tasks.narma(300, order=order)[1]).max() < 0.4
    assert np.isfinite(tasks.narma10_stream(3200, seed=0)[1]).all()
