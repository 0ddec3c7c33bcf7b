"""IBMBackend on fake devices: call counts, agreement with the exact engine, the ledger, bad input."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytest.importorskip("qiskit_ibm_runtime", reason="backend 'ibm' needs qiskit-ibm-runtime (pip install 'qrnn[ibm]')")
pytest.importorskip("qiskit_aer", reason="rehearsal on fake devices needs qiskit-aer")

from qrnn import QGRU, QLSTM, QRNN  # noqa: E402
from qrnn.backends import TorchBackend  # noqa: E402
from qrnn.backends import IBMBackend  # noqa: E402

B, T = 16, 4
ROUNDS = {QRNN: 1, QLSTM: 2, QGRU: 2}
# Circuit groups per round: (first, stop, readout), as the cells compile them.
GROUPS = {QRNN: [(0, 1, True)], QLSTM: [(0, 4, False), (4, 6, True)], QGRU: [(0, 2, False), (2, 3, True)]}


@pytest.fixture
def X(rng):
    return rng.normal(size=(B, T, 1)) * 2.0


class Killed(Exception):
    """Stands for a crash or kill of the process."""


def spy(runner, method, log, fail_at=None, exc=Killed):
    """Wrap ``runner.<method>``: log each call; raise ``exc`` on call number ``fail_at`` (1-based)."""
    original = getattr(runner, method)

    def wrapped(*args):
        log.append(args)
        if fail_at is not None and len(log) == fail_at:
            raise exc("injected")
        return original(*args)

    setattr(runner, method, wrapped)


@pytest.mark.parametrize("cls", [QRNN, QLSTM, QGRU])
def test_one_call_per_round_and_exact_agreement(cls, X):
    ibm = IBMBackend("fake_manila", noise=False, seed=3)
    submits = []
    spy(ibm._runner_for(), "submit", submits)
    feats = cls(1, 3, seed=0, backend=ibm, correlators=True, features="all").transform(X)
    ref = cls(1, 3, seed=0, correlators=True, features="all").transform(X)
    assert len(submits) == len(ibm.calls) == T * ROUNDS[cls]
    assert [c["round"] for c in ibm.calls] == [[r] for r in range(ROUNDS[cls])] * T
    for (pubs, _seed, _tag), (first, stop, readout) in zip(submits, GROUPS[cls] * T):
        assert len(pubs) == stop - first  # every circuit of the round in one call
        n_obs = 10 if readout else 4  # 4 wires, + 6 pairs with correlators
        for circuit, observables, values in pubs:
            assert values.shape == (B, 1, 8) and len(observables) == n_obs  # 2 angles per wire
            assert circuit.num_qubits == 5  # an ISA circuit of the device
    np.testing.assert_allclose(feats, ref, rtol=0, atol=1e-10)


def test_batch_equal_to_number_of_observables_is_not_paired(rng):
    # B = 4 = n_obs: a bare (B, P) parameter array would pair sample b with Z_b.
    x = rng.normal(size=(4, 3, 1))
    ibm = IBMBackend("fake_manila", noise=False, seed=0)
    np.testing.assert_allclose(QRNN(1, 3, seed=2, backend=ibm).transform(x),
                               QRNN(1, 3, seed=2).transform(x), rtol=0, atol=1e-10)


def exact_evs(res, first, stop, readout, values):
    """The torch engine's <Z> (and correlators) at the recorded parameter values."""
    x = np.tan(values[:, 0, 0::2])  # the angles are arctan(x), arctan(x**2)
    vqc = res._readout_vqc if readout else res.vqc
    run = TorchBackend().compile(vqc, res.weights[first:stop])
    return run(torch.as_tensor(x)).numpy()


@pytest.mark.parametrize("cls", [QRNN, QLSTM, QGRU])
def test_shots_within_five_standard_errors(cls, X, tmp_path):
    ibm = IBMBackend("fake_manila", precision=0.01, noise=False, seed=5, store=tmp_path)
    res = cls(1, 3, seed=1, backend=ibm, correlators=True)
    res.transform(X)
    worst = 0.0
    for call, group in zip(ibm.calls, GROUPS[cls] * T):
        arrays = ibm.ledger.arrays(call["key"])
        exact = exact_evs(res, *group, arrays["values_0"])
        assert arrays["evs_0"].shape == exact.shape
        assert np.all(arrays["stds_0"] > 0)
        worst = max(worst, float(np.max(np.abs(arrays["evs_0"] - exact) / arrays["stds_0"])))
    print(f"{cls.__name__}: largest deviation {worst:.2f} standard errors")
    assert worst < 5


def test_noise_drift_is_recorded(X):
    ref = QLSTM(1, 3, seed=0).transform(X)
    drift = {}
    for noise in (False, True):
        ibm = IBMBackend("fake_manila", shots=20000, noise=noise, seed=2)
        drift[noise] = float(np.abs(QLSTM(1, 3, seed=0, backend=ibm).transform(X) - ref).mean())
    print(f"QLSTM on fake_manila, 20000 shots: mean |feature - exact| {drift[False]:.4f} ideal, "
          f"{drift[True]:.4f} with the device noise model")
    assert drift[True] > 2 * drift[False]  # the noise model is applied, not only shot noise


def test_resume_after_kill_submits_only_the_rest(X, tmp_path):
    full = QLSTM(1, 3, seed=0, backend=IBMBackend("fake_manila", shots=500, seed=7, store=tmp_path / "a"))
    expected = full.transform(X)

    first = IBMBackend("fake_manila", shots=500, seed=7, store=tmp_path / "b")
    spy(first._runner_for(), "submit", [], fail_at=3)  # killed after its second round
    with pytest.raises(Killed):
        QLSTM(1, 3, seed=0, backend=first).transform(X)

    # Run again with the same objects, as after an exception in a notebook.
    again = first
    del again._runner.submit  # the kill is over
    again.calls.clear()
    submits = []
    spy(again._runner_for(), "submit", submits)
    got = QLSTM(1, 3, seed=0, backend=again).transform(X)
    assert [c["how"] for c in again.calls] == ["replayed"] * 2 + ["submitted"] * (2 * T - 2)
    assert len(submits) == 2 * T - 2
    np.testing.assert_array_equal(got, expected)
    # A third run pays nothing.
    third = IBMBackend("fake_manila", shots=500, seed=7, store=tmp_path / "b")
    spy(third._runner_for(), "submit", submits := [])
    np.testing.assert_array_equal(QLSTM(1, 3, seed=0, backend=third).transform(X), expected)
    assert submits == [] and {c["how"] for c in third.calls} == {"replayed"}


class FakeJob:
    """A job handle as a service returns it: an id and a result."""

    def __init__(self, job_id, result):
        self._id, self._result = job_id, result

    def job_id(self):
        return self._id

    def result(self):
        return self._result


def test_submitted_but_not_collected_is_fetched_not_resubmitted(X, tmp_path):
    expected = QRNN(1, 3, seed=0, backend=IBMBackend("fake_manila", shots=300, seed=1)).transform(X)
    first = IBMBackend("fake_manila", shots=300, seed=1, store=tmp_path)
    spy(first._runner_for(), "collect", [], fail_at=2)  # dies waiting for step 2's result
    with pytest.raises(Killed):
        QRNN(1, 3, seed=0, backend=first).transform(X)
    pending = [r for r in first.ledger.records() if r["status"] == "submitted"]
    lost_id = pending[-1]["job_id"]

    again = IBMBackend("fake_manila", shots=300, seed=1, store=tmp_path)
    runner, fetched, submits = again._runner_for(), [], []
    local_fetch = runner.fetch

    def fetch(job_id, pubs, seed):  # the service hands back a handle for the id
        fetched.append(job_id)
        return FakeJob(job_id, local_fetch(job_id, pubs, seed).result())

    runner.fetch = fetch
    spy(runner, "submit", submits)
    got = QRNN(1, 3, seed=0, backend=again).transform(X)
    assert fetched == [lost_id]
    assert [c["how"] for c in again.calls] == ["replayed", "fetched"] + ["submitted"] * (T - 2)
    assert len(submits) == T - 2
    np.testing.assert_array_equal(got, expected)


def test_transient_errors_are_retried_then_reported(X):
    ibm = IBMBackend("fake_manila", noise=False, seed=0, retry_delay=0.0, max_retries=2)
    attempts = []
    spy(ibm._runner_for(), "submit", attempts, fail_at=1, exc=ConnectionError)
    feats = QRNN(1, 3, seed=0, backend=ibm).transform(X)
    assert len(attempts) == T + 1 and len(ibm.calls) == T
    np.testing.assert_allclose(feats, QRNN(1, 3, seed=0).transform(X), rtol=0, atol=1e-10)

    # A result lost on the way is fetched again by its id, not paid again.
    flaky = IBMBackend("fake_manila", noise=False, seed=0, retry_delay=0.0)
    collects, fetches, submits = [], [], []
    spy(flaky._runner_for(), "collect", collects, fail_at=2, exc=ConnectionError)
    spy(flaky._runner_for(), "fetch", fetches)
    spy(flaky._runner_for(), "submit", submits)
    np.testing.assert_allclose(QRNN(1, 3, seed=0, backend=flaky).transform(X), feats, rtol=0, atol=1e-10)
    assert len(submits) == T and [f[0] for f in fetches] == [flaky.calls[1]["job_id"]]

    always = IBMBackend("fake_manila", noise=False, seed=0, retry_delay=0.0, max_retries=1)
    runner = always._runner_for()

    def down(*args):
        raise TimeoutError("service unreachable")

    runner.submit = down
    with pytest.raises(RuntimeError, match="failed 2 times.*resume"):
        QRNN(1, 3, seed=0, backend=always).transform(X)


def test_store_of_another_configuration_is_refused(X, tmp_path):
    QRNN(1, 3, seed=0, backend=IBMBackend("fake_manila", shots=100, seed=0, store=tmp_path)).transform(X)
    with pytest.raises(ValueError, match="shots is 100 there, 200 here"):
        IBMBackend("fake_manila", shots=200, seed=0, store=tmp_path)
    with pytest.raises(ValueError, match="device is 'fake_manila' there, 'fake_lima' here"):
        IBMBackend("fake_lima", shots=100, seed=0, store=tmp_path)
    other = IBMBackend("fake_manila", shots=100, seed=0, store=tmp_path)
    with pytest.raises(ValueError, match="another reservoir"):
        QRNN(1, 3, seed=1, backend=other).transform(X)  # other weights
    # Retry settings do not change results: the same store is accepted.
    IBMBackend("fake_manila", shots=100, seed=0, store=tmp_path, max_retries=9)


def test_to_config_is_json_and_rebuilds_the_backend(tmp_path):
    ibm = IBMBackend("fake_manila", shots=64, seed=4, store=tmp_path / "s", job_tags=["qrnn"],
                     initial_layout=[0, 1, 2, 3], mode="session")
    cfg = json.loads(json.dumps(ibm.to_config()))
    assert cfg.pop("kind") == "ibm"
    assert IBMBackend(**cfg).to_config() == ibm.to_config()


@pytest.mark.parametrize("kwargs, error, match", [
    ({"device": "fake_nowhere"}, ValueError, r"unknown fake device 'fake_nowhere'; expected one of \[.*'fake_manila'"),
    ({"device": 5}, TypeError, "device must be a device name"),
    ({"shots": 0}, ValueError, "shots must be >= 1, got 0"),
    ({"shots": 10.0}, TypeError, "shots must be an integer"),
    ({"precision": 0.0}, ValueError, "precision must be > 0"),
    ({"precision": -0.1}, ValueError, "precision must be > 0"),
    ({"shots": 10, "precision": 0.1}, ValueError, "shots or precision, not both"),
    ({"noise": "yes"}, TypeError, "noise must be True or False"),
    ({"seed": np.random.default_rng(0)}, TypeError, "seed must be an integer"),
    ({"max_qpu_seconds": 0}, ValueError, "max_qpu_seconds must be > 0"),
    ({"optimization_level": 4}, ValueError, r"optimization_level must be one of \[0, 1, 2, 3\]"),
    ({"resilience_level": 3}, ValueError, "resilience_level must be one of"),
    ({"mode": "sessions"}, ValueError, "mode must be one of"),
    ({"job_tags": "qrnn"}, TypeError, "job_tags must be a list of strings"),
    ({"initial_layout": [0, 0]}, ValueError, "distinct physical qubit"),
    ({"wait": -1}, ValueError, r"wait \(False, True or seconds\) must be >= 0"),
    ({"wait": "x"}, TypeError, r"wait \(False, True or seconds\) must be a finite real number"),
    ({"resubmit_failed": "yes"}, TypeError, "resubmit_failed must be True or False"),
    ({"max_resubmits": -1}, ValueError, "max_resubmits must be >= 0"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, error, match):
    args = {"device": "fake_manila", **kwargs}
    with pytest.raises(error, match=match):
        IBMBackend(**args)


def test_store_that_is_a_file_is_refused(tmp_path):
    path = tmp_path / "ledger"
    path.write_text("not a directory")
    with pytest.raises(ValueError, match="store must be a directory.*is a file"):
        IBMBackend("fake_manila", store=path)


def test_real_device_without_credentials_names_the_places(monkeypatch):
    from qiskit_ibm_runtime import QiskitRuntimeService

    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setattr(QiskitRuntimeService, "saved_accounts", staticmethod(lambda *a, **k: {}))
    with pytest.raises(ValueError, match="save_account.*QISKIT_IBM_TOKEN.*service=QiskitRuntimeService"):
        IBMBackend("ibm_brisbane")
    with pytest.raises(ValueError, match="noise=False simulates a fake device"):
        IBMBackend("ibm_brisbane", noise=False)
    with pytest.raises(TypeError, match="service must be a qiskit_ibm_runtime.QiskitRuntimeService"):
        IBMBackend("ibm_brisbane", service="token")


def test_errors_at_compile_before_anything_is_submitted(X, tmp_path):
    ibm = IBMBackend("fake_manila", store=tmp_path)
    with pytest.raises(ValueError, match="need 6 qubits but device 'fake_manila' has 5"):
        QRNN(1, 5, seed=0, backend=ibm).transform(X)
    layout = IBMBackend("fake_manila", initial_layout=[0, 1, 2])
    with pytest.raises(ValueError, match=r"one physical qubit in \[0, 5\) per circuit wire \(4\), got \[0, 1, 2\]"):
        QRNN(1, 3, seed=0, backend=layout).transform(X)
    with pytest.raises(ValueError, match="trainable=True needs a differentiable backend"):
        QRNN(1, 3, seed=0, backend=ibm, trainable=True)
    assert ibm.calls == [] and not (tmp_path / "ledger.jsonl").exists()


def test_untranspilable_device_gets_a_clear_error_before_anything_is_submitted(X, tmp_path):
    # The transpiler's failure is injected: a real one (FakeCairoV2 under qiskit 2.6's presets)
    # comes and goes with qiskit versions, and a test must not pass vacuously when it goes.
    from qiskit.transpiler.exceptions import TranspilerError

    def fail(qc):
        raise TranspilerError("cx would be supported if the direction was swapped")

    ibm = IBMBackend("fake_manila", noise=False, seed=0, store=tmp_path)
    ibm._pass_manager = SimpleNamespace(run=fail)
    expected = (r"transpiling the circuit for device 'fake_manila' failed \(TranspilerError: 'cx would be .*'\); "
                "try another device or optimization_level")
    with pytest.raises(RuntimeError, match=expected) as info:
        QRNN(1, 3, seed=0, backend=ibm).transform(X[:, :1])
    assert isinstance(info.value.__cause__, TranspilerError)
    assert ibm.calls == [] and not (tmp_path / "ledger.jsonl").exists()


def test_readout_errors_are_applied_qubit_by_qubit(rng):
    from qrnn.backends.ibm.simulator import _apply_readout

    n = 3
    mats = [np.array([[1 - a, b], [a, 1 - b]]) for a, b in rng.uniform(0, 0.2, size=(n, 2))]
    probs = rng.dirichlet(np.ones(2**n), size=5)
    full = mats[2]  # Qiskit's outcome index has qubit 0 as its least significant bit
    for m in (mats[1], mats[0]):
        full = np.kron(full, m)
    np.testing.assert_allclose(_apply_readout(probs, mats), probs @ full.T, rtol=0, atol=1e-15)


def test_noisy_rehearsal_on_active_qubits_matches_aer_on_the_whole_device(rng):
    """The restricted circuit and noise model give what Aer gives on all of FakeManilaV2's qubits."""
    from qiskit_aer.noise import NoiseModel
    from qiskit_aer.primitives import SamplerV2

    from qrnn.backends._aer import z_expectations_from_bits
    from qrnn.backends.ibm.simulator import _AerLocalRunner

    ibm = IBMBackend("fake_manila", seed=0)
    res = QRNN(1, 3, seed=4, backend=ibm, correlators=True)
    compiled = ibm.compile(res._readout_vqc, res.weights)
    values = res._readout_vqc.input_angles(rng.normal(size=(4, 4)))[:, None, :]
    pubs = []
    runner = _AerLocalRunner(ibm.device_backend(), noise=True, shots=None)
    spy(runner, "_run", pubs)
    ibm._runner = runner
    mine = compiled(torch.as_tensor(values[:, 0, 0::2]).tan()).numpy()  # exact noisy values, (1, B, n_obs)

    (isa, observables, vals), = pubs[0][0]
    shots = 200_000
    measured = isa.copy()
    measured.measure_all()
    sampler = SamplerV2(default_shots=shots, seed=1,
                        options={"backend_options": {"method": "density_matrix",
                                                     "noise_model": NoiseModel.from_backend(ibm.device_backend())}})
    bits = sampler.run([(measured, vals[:, 0, :])]).result()[0].data.meas.array
    wires = [tuple(np.flatnonzero(op.paulis.z[0])) for op in observables]
    theirs = z_expectations_from_bits(bits, isa.num_qubits, wires)
    se = np.sqrt(np.clip(1 - theirs**2, 1e-12, None) / shots)
    assert np.max(np.abs(mine[0] - theirs) / se) < 5
    # ... and the comparison can tell: the ideal values are far outside it.
    ideal = QRNN(1, 3, seed=4, correlators=True)._readout_vqc
    exact = TorchBackend().compile(ideal, res.weights)(torch.as_tensor(values[:, 0, 0::2]).tan()).numpy()
    assert np.max(np.abs(exact[0] - theirs) / se) > 20


@pytest.mark.parametrize("cls, correlators", [(QRNN, False), (QLSTM, True), (QGRU, False)])
def test_estimate_matches_the_calls_and_pubs_made(cls, correlators, X):
    ibm = IBMBackend("fake_manila", shots=200, seed=0)
    res = cls(1, 3, seed=0, backend=ibm, correlators=correlators)
    cost = ibm.estimate(res, X)
    submits = []
    spy(ibm._runner_for(), "submit", submits)
    res.transform(X)
    assert cost["calls"] == len(submits) == T * ROUNDS[cls]
    assert cost["pubs"] == sum(len(pubs) for pubs, _, _ in submits)
    assert cost["circuits"] == sum(v.shape[0] for pubs, _, _ in submits for _, _, v in pubs)
    assert cost["shots"] == 200 * cost["circuits"]
    assert cost["qpu_seconds"] == pytest.approx(ibm.qpu_seconds_spent)


def test_qpu_ceiling_refuses_before_submitting(X, tmp_path):
    ibm = IBMBackend("fake_manila", shots=200, seed=0, max_qpu_seconds=12.0, store=tmp_path)
    res = QLSTM(1, 3, seed=0, backend=ibm)
    with pytest.raises(ValueError, match=r"needs \d+\.\d more QPU seconds \(8 new calls of 8, 384 circuits of 200 "
                                         r"shots\), and 0\.0 s are already spent, above max_qpu_seconds=12; "
                                         "nothing was submitted"):
        ibm.check_budget(res, X)
    assert ibm.calls == []
    # Ran anyway, it stops at the call that would cross the ceiling, before submitting it.
    with pytest.raises(RuntimeError, match="max_qpu_seconds=12 would be exceeded.*nothing was submitted"):
        res.transform(X)
    assert len(ibm.calls) == 2 and ibm.qpu_seconds_spent <= 12.0
    spent = ibm.qpu_seconds_spent
    del ibm, res  # the store is released with its last backend
    # A ceiling above the estimate lets the run through, replaying the paid calls;
    # the spend already recorded in the store counts against it.
    roomy = IBMBackend("fake_manila", shots=200, seed=0, max_qpu_seconds=40.0, store=tmp_path)
    cost = roomy.check_budget(QLSTM(1, 3, seed=0), X)
    assert (cost["calls"], cost["new_calls"], cost["spent_qpu_seconds"]) == (2 * T, 2 * T - 2, spent)
    QLSTM(1, 3, seed=0, backend=roomy).transform(X)
    assert [c["how"] for c in roomy.calls][:2] == ["replayed"] * 2


def test_real_device_path_with_a_stub_service(X, tmp_path):
    """The hardware path end to end: PUBs on all device qubits, job ids, ledger, fetch via service.job."""
    from qiskit.primitives import StatevectorEstimator
    from qiskit_ibm_runtime import QiskitRuntimeService
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    class StubService(QiskitRuntimeService):
        def __init__(self):  # no account, no network
            self.all, self.asked, self.tags = {}, [], {}

        def backend(self, name):
            return FakeManilaV2()

        def job(self, job_id):
            self.asked.append(job_id)
            return self.all[job_id]

        def jobs(self, job_tags=None, backend_name=None, limit=10, **kwargs):
            return [self.all[i] for i in self.all if set(job_tags) <= set(self.tags[i])][:limit]

    class StubEstimator:  # stands for executor_estimator.Estimator on the service
        def __init__(self, service):
            self.service = service
            self.options = SimpleNamespace(environment=SimpleNamespace(job_tags=[]))

        def run(self, pubs, precision=None):
            job = FakeJob(f"job-{len(self.service.all)}", StatevectorEstimator().run(pubs).result())
            self.service.all[job.job_id()] = job
            self.service.tags[job.job_id()] = list(self.options.environment.job_tags)
            return job

    def backend(service):
        ibm = IBMBackend("ibm_stub", service=service, seed=0, store=tmp_path, resilience_level=0)
        ibm._runner_for()._estimator = StubEstimator(service)
        return ibm

    x = X[:4]  # Qiskit's reference estimator is slow; B = 4 = number of observables of VQC1-5
    service = StubService()
    first = backend(service)
    assert first.primitive == "executor_estimator"
    spy(first._runner_for(), "collect", [], fail_at=3)
    with pytest.raises(Killed):
        QLSTM(1, 3, seed=0, backend=first, correlators=True).transform(x)
    again = backend(service)
    feats = QLSTM(1, 3, seed=0, backend=again, correlators=True).transform(x)
    assert service.asked == ["job-2"]  # the uncollected job, fetched by its id
    assert [c["how"] for c in again.calls] == ["replayed"] * 2 + ["fetched"] + ["submitted"] * (2 * T - 3)
    np.testing.assert_allclose(feats, QLSTM(1, 3, seed=0, correlators=True).transform(x), rtol=0, atol=1e-10)


def test_live_device_tiny_run(tmp_path):
    """On real hardware, only when asked: QRNN_IBM_LIVE=1, credentials, and QRNN_IBM_DEVICE (a device name)."""
    import os

    from qrnn.backends.ibm.credentials import _has_credentials

    if os.environ.get("QRNN_IBM_LIVE") != "1" or not os.environ.get("QRNN_IBM_DEVICE"):
        pytest.skip("live IBM test: set QRNN_IBM_LIVE=1 and QRNN_IBM_DEVICE=<device> to spend QPU time")
    if not _has_credentials():
        pytest.skip("live IBM test: no IBM Quantum credentials (saved account or QISKIT_IBM_TOKEN)")
    x = np.linspace(-1, 1, 4).reshape(2, 2, 1)
    ibm = IBMBackend(os.environ["QRNN_IBM_DEVICE"], shots=100, resilience_level=0, store=tmp_path,
                     max_qpu_seconds=30.0, job_tags=["qrnn-live-test"])
    res = QRNN(1, 1, seed=0, backend=ibm)
    cost = ibm.check_budget(res, x)  # estimate first: 2 calls, each 1 circuit x 2 samples x 100 shots
    feats = res.transform(x)
    assert len(ibm.calls) == cost["calls"] == 2 and feats.shape == (2, 2, 1)
    assert np.all(np.abs(feats) <= 1)


def test_ibm_by_name_and_through_a_model_file(tmp_path):
    import qrnn
    from qrnn.backends import BACKEND_NAMES, get_backend

    assert "ibm:<device>" in BACKEND_NAMES
    b = get_backend("ibm:fake_manila", shots=100, seed=3)
    assert isinstance(b, IBMBackend) and (b.device, b.shots, b.seed, b.noise) == ("fake_manila", 100, 3, True)
    with pytest.raises(ValueError, match="needs a device: 'ibm:<device>'"):
        get_backend("ibm")
    with pytest.raises(ValueError, match="unknown fake device 'fake_nowhere'; expected one of"):
        get_backend("ibm:fake_nowhere")
    res = QRNN(1, 2, seed=0, backend=IBMBackend("fake_manila", noise=False, seed=2))
    qrnn.save(res, tmp_path / "r.qrnn")
    # A model file never configures a device: it loads on the exact engine, saying so.
    with pytest.warns(UserWarning, match="names an IBM backend.*loaded on the exact torch engine"):
        back = qrnn.load(tmp_path / "r.qrnn")
    assert back._backend.name == "torch" and back.loaded_backend_config_ == res._backend.to_config()
    X = np.random.default_rng(0).uniform(-1, 1, (3, 2, 1))
    np.testing.assert_allclose(back.transform(X), QRNN(1, 2, seed=0).transform(X), atol=1e-10)
    # The caller puts it on a device explicitly.
    ibm = IBMBackend("fake_manila", noise=False, seed=2)
    on_ibm = qrnn.load(tmp_path / "r.qrnn", backend=ibm)
    np.testing.assert_allclose(on_ibm.transform(X), QRNN(1, 2, seed=0).transform(X), atol=1e-10)
    assert len(ibm.calls) == 2


def test_hardware_script_estimates_runs_compares_and_resumes(tmp_path):
    from experiments import hardware

    report = hardware.run("fake_manila", shots=256, noise=False, n_windows=12, seed=1, out=tmp_path)
    assert report["calls_made"] == report["cost"]["calls"] == 8
    assert report["calls_by_source"] == {"submitted": 8, "resubmitted": 0, "found": 0, "fetched": 0,
                                         "recovered": 0, "replayed": 0}
    assert [r["features"] for r in report["rows"]][0] == "exact (torch engine)"
    assert 0 < report["feature_drift_mean"] < 0.2  # shot noise at 256 shots, no device noise
    assert (tmp_path / "hardware.md").read_text().count("|") > 10
    assert json.loads((tmp_path / "hardware.json").read_text())["calls_made"] == 8
    again = hardware.run("fake_manila", shots=256, noise=False, n_windows=12, seed=1, out=tmp_path)
    assert again["calls_by_source"] == {"submitted": 0, "resubmitted": 0, "found": 0, "fetched": 0,
                                        "recovered": 0, "replayed": 8}
    assert again["rows"] == report["rows"]
    with pytest.raises(ValueError, match="above max_qpu_seconds=1; nothing was submitted"):
        hardware.run("fake_manila", shots=256, noise=False, n_windows=12, out=tmp_path / "b", max_qpu_seconds=1)
    assert not list((tmp_path / "b" / "store").glob("*.npz"))
    for bad, match in ((3, "n_windows must be >= 6"), (10_000, "n_windows must be <= 236")):
        with pytest.raises(ValueError, match=match):
            hardware.run("fake_manila", shots=256, n_windows=bad, out=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_the_hardware_primitive_itself_in_local_mode(rng, tmp_path):
    """The path real devices take (qiskit-ibm-runtime's executor Estimator, PUBs, ``data.evs``/``stds``),
    run in the runtime's local mode on an ideal Aer simulator: every value within 5 standard errors."""
    from qiskit_aer import AerSimulator

    from qrnn.backends.ibm.runner import _RuntimeRunner

    x = rng.normal(size=(8, 2, 1))
    ibm = IBMBackend("fake_manila", noise=False, seed=4, shots=4000, store=tmp_path)
    ibm._runner = _RuntimeRunner(None, AerSimulator(seed_simulator=11), {"default_shots": 4000}, "job", None)
    res = QRNN(1, 3, seed=2, backend=ibm, correlators=True)
    res.transform(x)
    assert len(ibm.calls) == 2 and {c["how"] for c in ibm.calls} == {"submitted"}
    for call in ibm.calls:
        arrays = ibm.ledger.arrays(call["key"])
        exact = exact_evs(res, 0, 1, True, arrays["values_0"])
        assert arrays["evs_0"].shape == exact.shape == (1, 8, 10)
        assert np.all(arrays["stds_0"] > 0)
        assert np.max(np.abs(arrays["evs_0"] - exact) / arrays["stds_0"]) < 5
