"""A quantum cell written here alone, as a user would, runs on every backend, trains, saves, loads and is a study model.

:class:`GatedUnit` is one class following the "Writing a cell" contract of
:class:`qrnn.cells.QuantumReservoir` (its circuit groups and its step), and
nothing in the package knows it. ``tests/conftest.py`` registers it as
``"TestGatedUnit"`` while the tests are collected, so that every test that
enumerates ``qrnn.registry.MODELS`` is parametrised with it too (agreement
with this file's reference and correlators: tests/test_cells.py; the reservoir
contract: tests/test_contract.py; save and load: tests/test_io.py; the
scikit-learn checks: tests/test_sklearn_contract.py), and registers it again
for each test that names it; the registry the rest of the suite (the
package's doctests included) sees is the package's.
"""
import numpy as np
import pytest
import torch

from qrnn import TrainedRegressor, load, save
from qrnn.backends import AerBackend, PennyLaneBackend, TorchBackend
from qrnn.cells import QuantumReservoir
from qrnn.registry import MODELS, register_model
from tests import reference
from tests.gradients import check_weight_gradient

NAME = "TestGatedUnit"


class GatedUnit(QuantumReservoir):
    """A minimal gated quantum unit (two VQCs), for the tests.

    ``f = sigmoid(VQC1(concat(x, h)))[:H]``,
    ``h~ = tanh(VQC2(concat(x, f h)))[:H]``, ``h = (1 - f) h + f h~``;
    features ``h``, and with ``correlators=True`` the ``<Z_i Z_j>`` of VQC2.
    """

    n_circuits = 2
    groups = ((0, 1, False), (1, 2, True))

    def make_step(self, circuits):
        gate, cand = circuits
        H, n, corr = self.hidden_size, self.n_qubits, self.correlators

        def step(x, state):
            (h,) = state
            f = torch.sigmoid(gate(torch.cat((x, h)))[0, :H])
            out = cand(torch.cat((x, f * h)))[0]
            h = (1 - f) * h + f * torch.tanh(out[:H])
            return (torch.cat((h, out[n:])) if corr else h), (h,)

        return step


def gated_unit_reference(X, W, hidden, expvals=None, correlators=False):
    """GatedUnit's equations in numpy, one sample at a time, on ``expvals(v, w)`` (default the paper's circuit)."""
    expvals = expvals or reference.vqc_expvals
    n = X.shape[2] + hidden
    rows = []
    for b in range(X.shape[0]):
        h, seq = np.zeros(hidden), []
        for t in range(X.shape[1]):
            x = X[b, t]
            f = reference.sigmoid(expvals(np.concatenate([x, h]), W[0])[:hidden])
            u = np.concatenate([x, f * h])
            h = (1 - f) * h + f * np.tanh(expvals(u, W[1])[:hidden])
            seq.append(np.concatenate([h, reference.vqc_expvals(u, W[1], correlators=True)[n:]]) if correlators
                       else h)
        rows.append(seq)
    return np.array(rows)


@pytest.fixture
def registered():
    """GatedUnit registered under its name for one test (tests/conftest.py keeps it out of the run otherwise)."""
    from tests.conftest import models_registered

    with models_registered([NAME]):
        yield MODELS[NAME]


def exact_backends():
    yield "torch", TorchBackend()
    for m in ("heisenberg", "unitary", "gates"):
        yield f"torch-{m}", TorchBackend(m, stream_max_batch=0)
    yield "pennylane", PennyLaneBackend()
    yield "aer", AerBackend()


def test_it_runs_on_every_exact_backend_and_agrees_with_its_equations(rng):
    X = rng.normal(size=(3, 5, 1)) * 2
    W = np.stack(GatedUnit(1, 3, seed=4, init="uniform").circuit_weights())
    assert W.shape == (2, 2, 4, 3)
    ref = gated_unit_reference(X, W, 3)
    for label, be in exact_backends():
        res = GatedUnit(1, 3, seed=4, init="uniform", backend=be)
        np.testing.assert_allclose(res.transform(X), ref, rtol=0, atol=1e-10, err_msg=label)
    # the default engine has no whole-recurrence kernel for it: it declines, and the cell steps itself
    res = GatedUnit(1, 3, seed=4, init="uniform")
    assert TorchBackend().run_recurrence(res, torch.zeros(3, 5, 1, dtype=torch.float64),  # (B, T, input_size)
                                         (torch.zeros(3, 3, dtype=torch.float64),)) is None
    for gradient in ("auto", "autograd"):  # trainable: the adjoint kernels, then autograd
        res = GatedUnit(1, 3, seed=4, init="uniform", trainable=True, backend=TorchBackend(gradient=gradient))
        np.testing.assert_allclose(res(torch.as_tensor(X)).detach().numpy(), ref, rtol=0, atol=1e-10,
                                   err_msg=f"trainable, gradient={gradient}")
    # the reference really depends on both circuits
    other = W.copy()
    other[1] += 0.5
    assert np.abs(gated_unit_reference(X, other, 3) - ref).max() > 1e-3


@pytest.mark.parametrize("ansatz", ["real_amplitudes", "cz_rx"])
def test_on_a_custom_ansatz_it_agrees_with_qiskit(ansatz, rng):
    pytest.importorskip("qiskit")
    from tests.test_custom_circuits import ANSATZE, statevector_expvals

    qc = ANSATZE[ansatz]()
    X = rng.normal(size=(3, 4, 1)) * 1.5
    W = np.stack(GatedUnit(1, 3, seed=6, init="uniform", ansatz=qc).circuit_weights())
    assert W.shape == (2, qc.num_parameters)
    ref = gated_unit_reference(X, W, 3, expvals=statevector_expvals(qc))
    for label, be in exact_backends():
        F = GatedUnit(1, 3, seed=6, init="uniform", ansatz=qc, backend=be).transform(X)
        np.testing.assert_allclose(F, ref, rtol=0, atol=1e-10, err_msg=label)
    res = GatedUnit(1, 3, seed=6, init="uniform", ansatz=qc, trainable=True)
    np.testing.assert_allclose(res(torch.as_tensor(X)).detach().numpy(), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("gradient", ["auto", "autograd"])
def test_its_gradients_match_finite_differences(gradient, rng):
    X = torch.as_tensor(rng.normal(size=(2, 3, 1)))
    res = GatedUnit(1, 3, seed=int(rng.integers(1000)), init="uniform", trainable=True,
                    backend=TorchBackend(gradient=gradient))
    R = torch.as_tensor(rng.normal(size=(2, 3, res.n_features)))
    grad = check_weight_gradient(res, X, R)
    assert np.abs(grad).max(axis=tuple(range(1, grad.ndim))).min() > 1e-3  # both circuits get a gradient


def test_it_trains_end_to_end(rng):
    X = rng.uniform(-1, 1, size=(24, 5))
    y = 0.6 * X[:, -1] - 0.3 * X[:, -2]
    # autograd keeps this test short; the adjoint kernels' gradients are checked above
    model = GatedUnit(1, 2, seed=0, trainable=True, backend=TorchBackend(gradient="autograd"))
    est = TrainedRegressor(model, epochs=5, batch_size=4, lr=0.05, progress=False, random_state=0).fit(X, y)
    losses = [r["train_loss"] for r in est.history_]
    assert len(losses) == 5 and losses[-1] < 0.5 * losses[0], losses
    # the circuits' angles trained, not only the readout
    assert np.abs(est.model_.weights.detach().numpy() - model.weights.detach().numpy()).max() > 1e-3
    assert est.predict(X).shape == (24,)


def test_it_saves_and_loads_trained(registered, tmp_path, rng):
    # (alone and in a ReservoirRegressor: tests/test_io.py's round trip, enumerated over the registry)
    X = rng.normal(size=(12, 5, 1))
    trained = TrainedRegressor(GatedUnit(1, 2, seed=0, trainable=True, correlators=True), epochs=2, batch_size=4,
                               progress=False, random_state=0).fit(X, X[:, -1, 0])
    assert not np.array_equal(trained.model_.circuit_weights()[1], GatedUnit(1, 2, seed=0).circuit_weights()[1])
    save(trained, tmp_path / "t.npz")
    back = load(tmp_path / "t.npz")
    assert type(back.model_) is GatedUnit and back.model_.get_params() == trained.model_.get_params()
    np.testing.assert_array_equal(back.model_.weights.detach().numpy(), trained.model_.weights.detach().numpy())
    np.testing.assert_array_equal(back.predict(X), trained.predict(X))
    np.testing.assert_array_equal(back.model_.transform(X), trained.model_.transform(X))


def test_unregistered_it_neither_saves_nor_loads(registered, tmp_path):
    save(GatedUnit(1, 2, seed=0), tmp_path / "r.npz")
    MODELS.unregister(NAME)
    try:
        with pytest.raises(TypeError, match=r"cannot save a GatedUnit: it is not a saveable qrnn class"):
            save(GatedUnit(1, 2, seed=0), tmp_path / "again.npz")
        with pytest.raises(ValueError, match=rf"names class '{NAME}', which is not a saveable qrnn class"):
            load(tmp_path / "r.npz")
    finally:
        register_model(GatedUnit, name=NAME)  # as the fixture left it, which removes it


def test_it_is_a_study_model_by_name(registered, tmp_path):
    study = pytest.importorskip("experiments.study")
    assert study.is_quantum(NAME) and NAME in study.model_names()
    cfg = study.parse_config({"study": {"name": "mine", "tasks": ["sine"], "models": [NAME], "modes": ["ridge"],
                                        "seeds": [0]}})
    assert cfg.models == (NAME,)
    rows = [r for r in study.run(cfg, tmp_path, progress=False)["rows"] if r["model"] == NAME]
    assert len(rows) == 1 and np.isfinite(rows[0]["test_mse"]) and rows[0]["circuit_evaluations"] > 0


def test_it_is_registered_only_where_a_test_names_it():
    """Collected with it, run without it: registry listings elsewhere (doctests, the study) see the package's."""
    import sys

    assert NAME not in MODELS
    # every enumerating file collected in this run (imported while it was registered) lists it
    for module, names in (("tests.test_cells", "QUANTUM"), ("tests.test_contract", "QUANTUM"),
                          ("tests.test_io", "QUANTUM"), ("tests.test_sklearn_contract", "CELLS")):
        if module in sys.modules:
            assert NAME in getattr(sys.modules[module], names), module


def test_registered_it_has_the_quantum_tags(registered):
    assert MODELS.entry(NAME).tags == {"quantum", "reservoir"} and registered is GatedUnit


def test_a_cell_that_feeds_its_circuits_unbounded_values_gets_them_capped(rng):
    """A user's step may feed a circuit values far beyond [-1, 1]: by default every circuit input is capped
    (the paper's encoding reads arctan of it, so nothing changes but overflow), in float32 too; only a
    cell that declares circuit_inputs_bounded skips it, and a subclass that writes its own step does not
    inherit that declaration."""
    from qrnn import QRNN

    class Loud(GatedUnit):
        def make_step(self, circuits):
            inner = super().make_step(circuits)
            return lambda x, state: inner(1e30 * x, state)

    class LoudQRNN(QRNN):  # QRNN declares circuit_inputs_bounded; its subclass's own step does not
        def make_step(self, circuits):
            inner = super().make_step(circuits)
            return lambda x, state: inner(1e30 * x, state)

    X = rng.normal(size=(2, 3, 1))
    for cls in (Loud, LoudQRNN):
        F32 = cls(1, 2, seed=1, dtype="float32").transform(X)
        assert np.isfinite(F32).all(), cls.__name__
        ref = cls(1, 2, seed=1, backend=PennyLaneBackend()).transform(X)
        np.testing.assert_allclose(cls(1, 2, seed=1, backend=TorchBackend(stream_max_batch=0)).transform(X), ref,
                                   rtol=0, atol=1e-10)
        np.testing.assert_allclose(F32, ref, rtol=0, atol=1e-5)
