"""TrainedRegressor: exact gradients, the paper's protocol, early stopping, persistence, bad input."""
import io
import sys

import numpy as np
import pytest
import torch

from qrnn import QGRU, QLSTM, QRNN, VQC, ReservoirRegressor, TrainedRegressor, init_weights, load
from qrnn.backends import TorchBackend
from qrnn.classical import ESN, LSTM
from qrnn.tasks import chronological_split, damped_shm, make_windows, minmax_scale
from tests.conftest import random_inputs

CELLS = {"QRNN": QRNN, "QLSTM": QLSTM, "QGRU": QGRU}


@pytest.fixture(scope="module")
def shm():
    X, y = make_windows(minmax_scale(damped_shm()), window=4)
    return chronological_split(X, y)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("method,gradient", [("auto", "adjoint"), ("heisenberg", "autograd"), ("gates", "autograd")])
def test_cell_gradients_match_central_finite_differences(cell, method, gradient, rng):
    model = CELLS[cell](1, 3, seed=1, init="uniform", trainable=True, backend=TorchBackend(method, gradient=gradient))
    X = torch.as_tensor(random_inputs(rng, (3, 4, 1)))
    R = torch.as_tensor(rng.normal(size=(3, model.n_features)))

    def loss():
        return (model(X)[:, -1] * R).sum()

    loss().backward()
    grad = model.weights.grad.detach().clone().reshape(-1)
    flat = model.weights.detach().reshape(-1)
    picks = rng.choice(flat.numel(), size=min(24, flat.numel()), replace=False)
    eps = 1e-6
    for i in picks:
        with torch.no_grad():
            flat[i] += eps
            up = float(loss())
            flat[i] -= 2 * eps
            down = float(loss())
            flat[i] += eps
        assert abs((up - down) / (2 * eps) - float(grad[i])) < 1e-6, (cell, int(i))


@pytest.mark.parametrize("gradient", ["adjoint", "autograd"])
@pytest.mark.parametrize("n_qubits,n_inputs", [(2, 2), (4, 4), (5, 2)])
def test_circuit_gradients_match_pennylane_backprop(n_qubits, n_inputs, gradient, rng):
    """The torch engine's gradient of one VQC against PennyLane's backprop on the same circuit."""
    qml = pytest.importorskip("pennylane")
    vqc = VQC(n_qubits, 2, n_inputs)
    w = torch.as_tensor(init_weights(1, vqc, "uniform", seed=int(rng.integers(1000)))[0])
    x = torch.as_tensor(random_inputs(rng, (n_inputs,)))
    classes = {"H": qml.Hadamard, "RY": qml.RY, "RZ": qml.RZ, "CNOT": qml.CNOT}

    @qml.qnode(qml.device("default.qubit", wires=n_qubits), interface="torch", diff_method="backprop")
    def circuit(weights, inputs):
        angles = torch.stack((torch.atan(inputs), torch.atan(inputs**2)), dim=-1).reshape(-1)
        flat = weights.reshape(-1)
        for name, wires, ref in vqc.gates():
            if ref is None:
                classes[name](wires=list(wires))
            else:
                classes[name](angles[ref[1]] if ref[0] == "x" else flat[ref[1]], wires=wires[0])
        return [qml.expval(qml.Z(k)) for k in range(n_qubits)]

    def ours(weights, inputs):
        return TorchBackend(gradient=gradient).compile(vqc, weights[None])(inputs[None])[0, 0]

    def theirs(weights, inputs):
        return torch.stack(circuit(weights, inputs))

    j_ours = torch.autograd.functional.jacobian(ours, (w, x))
    j_pl = torch.autograd.functional.jacobian(theirs, (w, x))
    for a, b in zip(j_ours, j_pl):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6)
        assert np.abs(a.numpy()).max() > 1e-3  # a real gradient, not two zeros


def pennylane_cell(kind, n_qubits, hidden, weights, scaling=1.0):
    """The cells of SPEC section 2 written out with one PennyLane QNode (default.qubit, backprop)
    per VQC; returns ``f(X) -> (B, features)`` at the last step, the paper's readout features."""
    qml = pytest.importorskip("pennylane")

    @qml.qnode(qml.device("default.qubit", wires=n_qubits), interface="torch", diff_method="backprop")
    def vqc(v, w):  # v (B, width): wires past the input's width stay in |0>
        for q in range(v.shape[1]):
            qml.Hadamard(wires=q)
            qml.RY(torch.atan(v[:, q]), wires=q)
            qml.RZ(torch.atan(v[:, q] ** 2), wires=q)
        for layer in range(w.shape[0]):
            for d in (1, 2):
                for q in range(n_qubits):
                    qml.CNOT(wires=[q, (q + d) % n_qubits])
            for q in range(n_qubits):
                qml.Rot(*w[layer, q], wires=q)
        return [qml.expval(qml.Z(q)) for q in range(n_qubits)]

    def run(k, v):
        return torch.stack(vqc(v, weights[k]), dim=1)

    def f(X):
        B, H = X.shape[0], hidden
        X = X * scaling
        h, c = X.new_zeros(B, H), X.new_zeros(B, n_qubits)
        for t in range(X.shape[1]):
            x = X[:, t]
            v = torch.cat((x, h), dim=1)
            if kind == "QRNN":
                h = torch.tanh(run(0, v)[:, :H])
                feats = h
            elif kind == "QLSTM":
                f_, i_ = torch.sigmoid(run(0, v)), torch.sigmoid(run(1, v))
                g_, o_ = torch.tanh(run(2, v)), torch.sigmoid(run(3, v))
                c = f_ * c + i_ * g_
                a = o_ * torch.tanh(c)
                h = run(4, a)[:, :H]
                feats = run(5, a)
            else:
                r, z = torch.sigmoid(run(0, v)[:, :H]), torch.sigmoid(run(1, v)[:, :H])
                cand = torch.tanh(run(2, torch.cat((x, r * h), dim=1))[:, :H])
                h = z * h + (1 - z) * cand
                feats = h
        return feats

    return f


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("gradient", ["adjoint", "autograd"])
@pytest.mark.parametrize("scaling", [1.0, 0.5])
def test_model_gradients_match_pennylane_backprop(cell, gradient, scaling, rng):
    """Whole trained models, unrolled over a sequence: the gradients of a loss with respect to every
    angle and every input against PennyLane's backprop through the cells written out from SPEC."""
    model = CELLS[cell](1, 3, seed=int(rng.integers(1000)), init="uniform", trainable=True, input_scaling=scaling,
                        backend=TorchBackend(gradient=gradient))
    X0 = torch.as_tensor(random_inputs(rng, (3, 4, 1), scale=1.0))
    R = torch.as_tensor(rng.normal(size=(3, model.n_features)))
    w_pl = model.weights.detach().clone().requires_grad_(True)
    reference = pennylane_cell(cell, model.n_qubits, 3, w_pl, scaling)

    X = X0.clone().requires_grad_(True)
    (model(X)[:, -1] * R).sum().backward()
    X_pl = X0.clone().requires_grad_(True)
    (reference(X_pl) * R).sum().backward()
    for ours, theirs in ((model.weights.grad, w_pl.grad), (X.grad, X_pl.grad)):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=0, atol=1e-10)
        assert theirs.abs().max() > 1e-3  # a real gradient


def test_fully_trained_model_learns_and_the_given_model_is_untouched(shm):
    Xtr, Xte, ytr, yte = shm
    model = QRNN(1, 3, seed=0, trainable=True)
    before = model.weights.detach().clone()
    est = TrainedRegressor(model, epochs=6, random_state=0, progress=False).fit(Xtr, ytr)
    losses = [h["train_loss"] for h in est.history_]
    assert len(losses) == 6 and est.n_epochs_ == 6 and losses[-1] < 0.5 * losses[0]
    assert torch.equal(model.weights.detach(), before)  # fit trains a copy
    assert (est.model_.weights.detach() - before).abs().max() > 1e-3  # the angles were trained
    assert est.predict(Xte).shape == yte.shape and np.isfinite(est.score(Xte, yte))
    again = TrainedRegressor(QRNN(1, 3, seed=0, trainable=True), epochs=6, random_state=0,
                             progress=False).fit(Xtr, ytr)
    assert again.history_[-1]["train_loss"] == est.history_[-1]["train_loss"]  # seeded: same run
    np.testing.assert_array_equal(again.predict(Xte), est.predict(Xte))


@pytest.mark.parametrize("model", [lambda: QLSTM(1, 3, seed=0), lambda: ESN(1, 20, seed=0)])
def test_frozen_reservoir_trains_only_its_readout(model, shm, monkeypatch):
    Xtr, _, ytr, _ = shm
    res = model()
    calls = []
    real_run = type(res)._run
    monkeypatch.setattr(type(res), "_run", lambda self, x, state=None: calls.append(1) or real_run(self, x, state))
    est = TrainedRegressor(res, epochs=20, batch_size=10, random_state=0, progress=False).fit(Xtr, ytr)
    assert len(calls) == 1  # features computed once for 20 epochs x 11 batches
    for a, b in zip(est.model_.state_dict().values(), res.state_dict().values()):
        assert torch.equal(a, b)
    # gradient descent heads for the closed-form optimum of the same convex problem
    ridge = ReservoirRegressor(model(), alpha=1e-9).fit(Xtr, ytr)
    losses = [h["train_loss"] for h in est.history_]
    assert losses[-1] < losses[0]
    assert np.mean((est.predict(Xtr) - ytr) ** 2) >= np.mean((ridge.predict(Xtr) - ytr) ** 2) - 1e-12


def test_classical_cells_train_end_to_end(shm):
    Xtr, _, ytr, _ = shm
    model = LSTM(1, 4, seed=0, trainable=True)
    est = TrainedRegressor(model, epochs=3, random_state=1, progress=False).fit(Xtr, ytr)
    changed = [not torch.equal(a, b) for a, b in zip(est.model_.state_dict().values(), model.state_dict().values())]
    assert all(changed)


def test_early_stopping_keeps_the_best_epoch(shm):
    Xtr, _, ytr, _ = shm
    est = TrainedRegressor(ESN(1, 20, seed=0), epochs=200, lr=0.05, validation_fraction=0.25, patience=3,
                           random_state=0, progress=False).fit(Xtr, ytr)
    val = [h["val_loss"] for h in est.history_]
    assert est.n_epochs_ < 200 and est.n_epochs_ == est.best_epoch_ + 3
    assert val[est.best_epoch_ - 1] == min(val)
    n_val = int(round(0.25 * len(Xtr)))
    kept = np.mean((est.predict(Xtr[-n_val:]) - ytr[-n_val:]) ** 2)
    assert kept == pytest.approx(min(val), rel=1e-10)  # the parameters of the best epoch were restored


def test_save_and_load(shm, tmp_path):
    Xtr, Xte, ytr, _ = shm
    est = TrainedRegressor(QGRU(1, 2, seed=0, trainable=True), epochs=2, random_state=0, progress=False)
    est.fit(Xtr, np.stack([ytr, -ytr], axis=1))
    est.save(tmp_path / "t.npz")
    back = load(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.predict(Xte), est.predict(Xte))
    assert back.history_ == est.history_ and back.predict(Xte).shape == (len(Xte), 2)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_shows_on_a_terminal_unless_silenced(progress, shm, monkeypatch):
    Xtr, _, ytr, _ = shm
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    TrainedRegressor(ESN(1, 10, seed=0), epochs=2, progress=progress).fit(Xtr, ytr)
    shown = terminal.getvalue()
    # tqdm redraws at most every 0.1 s and clears itself at the end, so the
    # epoch counter shown depends on speed; the label and the loss do not.
    assert ("training ESN" in shown and "train_loss=" in shown) == progress, shown


def test_progress_bar_is_quiet_when_output_is_not_a_terminal(shm, capsys):
    Xtr, _, ytr, _ = shm
    TrainedRegressor(ESN(1, 10, seed=0), epochs=2, progress=True).fit(Xtr, ytr)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"epochs": 0}, ValueError, "epochs must be >= 1"),
    ({"batch_size": 500}, ValueError, r"batch_size=500 is larger than the 158 training sequences"),
    ({"optimizer": "lbfgs"}, ValueError, r"optimizer must be one of \['adam', 'rmsprop', 'sgd'\]"),
    ({"lr": 0.0}, ValueError, "lr must be > 0"),
    ({"clip_grad_norm": -1.0}, ValueError, "clip_grad_norm must be > 0"),
    ({"validation_fraction": 1.0}, ValueError, r"validation_fraction must be in \(0, 1\)"),
    ({"patience": 3}, ValueError, "patience needs validation_fraction"),
    ({"readout": "each"}, ValueError, r"readout must be one of \['all', 'last'\]"),
    ({"washout": 2}, ValueError, r"washout applies to readout='all'"),
    ({"washout": -1, "readout": "all"}, ValueError, "washout must be >= 0"),
    ({"progress": "yes"}, TypeError, "progress must be True or False"),
    ({"model": "qlstm"}, TypeError, "model must be a qrnn reservoir or cell"),
])
def test_bad_arguments(kwargs, exc, match, shm):
    Xtr, _, ytr, _ = shm
    args = {"model": ESN(1, 10, seed=0), "progress": False, **kwargs}
    with pytest.raises(exc, match=match):
        TrainedRegressor(**args).fit(Xtr, ytr)


def test_bad_data(shm):
    Xtr, _, ytr, _ = shm
    est = TrainedRegressor(ESN(1, 10, seed=0), epochs=1, progress=False)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(np.where(Xtr > 0.5, np.nan, Xtr), ytr)
    with pytest.raises(ValueError, match=r"y must have shape \(2,\) or \(2, n_targets\)"):
        est.fit([Xtr[0], Xtr[1, :2]], ytr[:3])
    with pytest.raises(ValueError, match=r"sequence 1 has 2 steps; washout=2 needs at least 3"):
        TrainedRegressor(ESN(1, 10, seed=0), readout="all", washout=2, epochs=1,
                         progress=False).fit([Xtr[0], Xtr[1, :2]], [ytr[:4], ytr[:2]])
    for backend in ("aer", "pennylane"):
        with pytest.raises(ValueError, match="differentiable backend"):
            QLSTM(1, 3, trainable=True, backend=backend)


def test_monitor_records_test_loss_without_using_it(shm):
    Xtr, Xte, ytr, yte = shm
    plain = TrainedRegressor(QRNN(1, 2, seed=0, trainable=True), epochs=3, random_state=0, progress=False)
    watched = TrainedRegressor(QRNN(1, 2, seed=0, trainable=True), epochs=3, random_state=0, progress=False)
    plain.fit(Xtr, ytr)
    watched.fit(Xtr, ytr, monitor=(Xte, yte))
    np.testing.assert_array_equal(watched.predict(Xte), plain.predict(Xte))  # training unchanged
    assert watched.history_[-1]["monitor_loss"] == pytest.approx(np.mean((watched.predict(Xte) - yte) ** 2),
                                                                  rel=1e-10)
    with pytest.raises(ValueError, match=r"monitor must be an \(X, y\) pair"):
        watched.fit(Xtr, ytr, monitor=Xte)
    with pytest.raises(ValueError, match=r"^monitor: with readout='last', y must have shape"):
        watched.fit(Xtr, ytr, monitor=(Xte, yte[:-1]))


def test_read_only_input_is_copied_without_a_warning(rng):
    import warnings

    from qrnn import TrainedRegressor
    from qrnn.classical import ESN

    X, y = rng.normal(size=(12, 3, 1)), rng.normal(size=12)
    X.flags.writeable = False
    y.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        TrainedRegressor(ESN(1, 5, seed=0), epochs=1, batch_size=4, progress=False, random_state=0).fit(X, y)


def test_unequal_lengths_are_padded_without_changing_any_feature(rng):
    """Padding goes after a sequence's last step: its features are those of the sequence alone."""
    from qrnn.trainer import _Padded

    model = QGRU(1, 2, seed=3, init="uniform", trainable=True)
    seqs = [rng.uniform(-1, 1, size=(T, 1)) for T in (5, 2, 7, 3)]
    ys = [rng.normal(size=T) for T in (5, 2, 7, 3)]
    for readout, Y in (("last", np.array([y[-1] for y in ys])), ("all", ys)):
        data = _Padded(seqs, Y, readout, 1, torch.float64, "cpu")
        idx = torch.tensor([3, 1])  # a batch runs to its own longest sequence, 3 steps
        F = data.features(model, idx)
        for row, i in enumerate(idx.tolist()):
            alone = model.transform(seqs[i][None])[0]
            expect = alone[-1] if readout == "last" else alone
            got = F[row].detach().numpy() if readout == "last" else F[row, :len(seqs[i])].detach().numpy()
            np.testing.assert_allclose(got, expect, rtol=0, atol=1e-15)
        if readout == "all":  # the loss counts real steps past the washout only
            pred = torch.zeros(2, 3, 1, dtype=torch.float64)
            manual = np.mean(np.concatenate([ys[3][1:], ys[1][1:]]) ** 2)
            assert float(data.loss(pred, idx)) == pytest.approx(manual, rel=1e-14)


def test_a_list_of_equal_sequences_trains_as_the_array(shm):
    Xtr, _, ytr, _ = shm
    fits = [TrainedRegressor(QRNN(1, 2, seed=0, trainable=True), epochs=2, random_state=0,
                             progress=False).fit(X, ytr) for X in (Xtr, list(Xtr))]
    assert [h["train_loss"] for h in fits[0].history_] == [h["train_loss"] for h in fits[1].history_]


@pytest.mark.parametrize("model", [QLSTM(1, 2, seed=1, trainable=True), ESN(1, 20, seed=1)],
                         ids=["fully trained", "frozen"])
def test_readout_all_trains_every_step_and_predicts_every_step(model, rng):
    # a stream cut into chunks of unequal lengths: the target at each step is the input two steps back
    u = rng.uniform(0, 0.5, size=400)
    target = np.concatenate([[0.0, 0.0], u[:-2]])
    cuts = [0, 30, 70, 95, 140, 200]
    X = [u[a:b, None] for a, b in zip(cuts[:-1], cuts[1:])]
    y = [target[a:b] for a, b in zip(cuts[:-1], cuts[1:])]
    Xm, ym = u[200:300].reshape(4, 25, 1), target[200:300].reshape(4, 25)
    est = TrainedRegressor(model, epochs=15, batch_size=2, lr=0.02, readout="all", washout=3,
                           random_state=0, progress=False).fit(X, y, monitor=(Xm, ym))
    P = est.predict(X)
    assert isinstance(P, list) and [p.shape for p in P] == [(len(s),) for s in y]
    Pm = est.predict(Xm)
    assert Pm.shape == (4, 25)
    # the recorded monitor loss is the MSE of these predictions over the steps past the washout
    assert est.history_[-1]["monitor_loss"] == pytest.approx(np.mean((Pm[:, 3:] - ym[:, 3:]) ** 2), rel=1e-10)
    losses = [h["train_loss"] for h in est.history_]
    assert losses[-1] < 0.5 * losses[0]
    assert np.isfinite(est.score(Xm, ym))
    multi = TrainedRegressor(model, epochs=1, batch_size=2, readout="all", progress=False, random_state=0)
    assert multi.fit(Xm, np.stack([ym, -ym], axis=-1)).predict(Xm).shape == (4, 25, 2)


def test_random_state_takes_a_legacy_random_state_as_scikit_learn_does(shm):
    Xtr, Xte, ytr, _ = shm

    def fit(random_state):
        return TrainedRegressor(ESN(1, 5, seed=0), epochs=2, random_state=random_state, progress=False).fit(Xtr, ytr)

    same = [fit(np.random.RandomState(3)).predict(Xte) for _ in range(2)]
    np.testing.assert_array_equal(*same)
    shared = np.random.RandomState(3)  # drawn from once per fit: a second fit differs
    first, second = fit(shared), fit(shared)
    assert not np.array_equal(first.predict(Xte), second.predict(Xte))


def test_a_reservoir_seed_is_not_a_random_state():
    with pytest.raises(TypeError, match=r"seed must be None, an int >= 0 or a numpy.random.Generator, got a RandomState"):
        QRNN(1, 2, seed=np.random.RandomState(0))
