"""IBM Quantum backend: reservoirs on IBM devices, rehearsed offline on IBM's fake devices.

A recurrent reservoir needs step ``t``'s measured values before it can build
step ``t+1``'s circuits, so the floor is one round trip per dependent round of
circuits per time step. :class:`IBMBackend` meets it: each call of a compiled
group's ``columns`` (one round of one step) is one primitive call carrying
every sample and every circuit of the group as parameterised PUBs; the
members of an ensemble on one backend run in lock step, so that one call
carries the round of every member.
With ``store=`` every call goes through a :class:`~qrnn.backends._ledger.Ledger`
first, so an interrupted run resumes without paying twice.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import os
import threading
import time
import uuid
import warnings
import weakref
from dataclasses import dataclass

import numpy as np

from .._optional import require
from .._validation import check_bool, check_choice, check_int, check_real
from ..circuit import VQC
from ._aer import build_qiskit_circuit
from .._files import atomic_write
from ._ledger import DamagedResultError, _loads, check_store_path, open_ledger
from .base import Backend, NumpyCompiled

# IBM Runtime's Estimator default target precision; a rehearsal without shots or
# precision (other than the exact ideal one) uses it, as the service would.
DEFAULT_PRECISION = 0.015625
# The QPU-time model of IBMBackend.estimate: a fixed cost per job (loading, compiling
# the parameter bindings) plus a cost per shot (circuit, measurement and reset delay,
# about 250 us on Eagle/Heron devices). Rough, on the safe side; for budgeting only.
SECONDS_PER_JOB = 2.0
SECONDS_PER_SHOT = 250e-6
# Classes of qiskit_ibm_runtime.fake_provider that are not one device.
_NOT_DEVICES = ("FakeProviderForBackendV2", "FakeFractionalBackend", "FakeProvider")


def fake_device_names() -> dict[str, str]:
    """Fake device names accepted as ``device`` -> their ``fake_provider`` class name.

    ``"fake_manila"`` names ``FakeManilaV2``, ``"fake_sherbrooke"`` names
    ``FakeSherbrooke`` (the device's own ``backend.name``).

    Examples
    --------
    >>> names = fake_device_names()
    >>> names["fake_manila"], names["fake_sherbrooke"]
    ('FakeManilaV2', 'FakeSherbrooke')
    """
    fp = require("qiskit_ibm_runtime.fake_provider", "backend 'ibm' with a fake device")
    names = {}
    for cls in dir(fp):
        if cls.startswith("Fake") and cls not in _NOT_DEVICES:
            base = cls[len("Fake"):]
            base = base[:-2] if base.endswith("V2") else base
            names["fake_" + base.lower()] = cls
    return names


def choose_primitive(fake: bool) -> str:
    """Which primitive runs the PUBs: the one place this is decided.

    - Real devices: ``"executor_estimator"``, i.e.
      ``qiskit_ibm_runtime.executor_estimator.Estimator``. qiskit-ibm-runtime
      0.50 deprecated ``EstimatorV2`` in its favour (it does the pre- and
      post-processing client-side and will become the top-level
      ``Estimator``); code written against the deprecated class would break
      within a release or two.
    - Fake devices: ``"aer_local"``, Aer's own primitives on the ISA circuit
      restricted to the physical qubits its layout uses, with the device
      noise model restricted to them. The runtime's local mode (either
      Estimator on a fake backend) did not finish one 6-sample call on
      ``FakeKolkataV2`` in 300 s, as it simulates all 27 qubits; Aer's
      ``EstimatorV2`` on the same ISA circuit takes under 0.1 s. Running the
      transpiled ISA circuits (not the logical ones on a plain simulator)
      also avoids the executor Estimator's wrong values on a plain
      ``AerSimulator`` when two or more qubits end with RY/U3 (issue 9).

    Examples
    --------
    >>> choose_primitive(fake=True), choose_primitive(fake=False)
    ('aer_local', 'executor_estimator')
    """
    return "aer_local" if fake else "executor_estimator"


@functools.cache
def _transient_errors() -> tuple:
    """Errors worth retrying (network, time-outs, API hiccups); everything else is raised at once."""
    errors = [ConnectionError, TimeoutError]
    try:
        import requests

        errors += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
        from qiskit_ibm_runtime.api.exceptions import RequestsApiError

        errors.append(RequestsApiError)
    except ImportError:  # pragma: no cover - requests comes with qiskit-ibm-runtime
        pass
    return tuple(errors)


@functools.cache
def _job_failures() -> tuple:
    """Errors that mean the job itself failed or was cancelled (billed, no result): never retried in place."""
    from qiskit.providers.exceptions import JobError  # RuntimeJobFailureError derives from it
    from qiskit_ibm_runtime.exceptions import RuntimeInvalidStateError  # result() of a cancelled job
    from qiskit_ibm_runtime.exceptions import RuntimeJobMaxTimeoutError  # billed up to the limit, no result

    return (JobError, RuntimeInvalidStateError, RuntimeJobMaxTimeoutError)


class JobFailedError(RuntimeError):
    """A submitted job failed or was cancelled on the service; the store records it (see ``resubmit_failed``)."""


def _has_credentials() -> bool:
    """Whether a QiskitRuntimeService() could find an account (environment or saved file)."""
    if os.environ.get("QISKIT_IBM_TOKEN"):
        return True
    runtime = require("qiskit_ibm_runtime", "backend 'ibm'")
    try:
        return bool(runtime.QiskitRuntimeService.saved_accounts())
    except Exception:  # an unreadable account file is as good as none
        return False


@dataclass
class _Group:
    """One compiled VQC group on the device: ISA circuits, mapped observables, ledger identity."""

    vqc: VQC
    isa: list
    observables: list  # per circuit: a list of n_obs SparsePauliOps on the device's qubits
    fingerprint: str
    round: int
    n_calls: int = 0

    def pubs(self, values: np.ndarray) -> list:
        # values (B, 1, P) against observables (n_obs,) broadcast to (B, n_obs);
        # a bare (B, P) array would pair sample b with observable b when B == n_obs.
        return [(qc, obs, values) for qc, obs in zip(self.isa, self.observables)]


class _LocalJob:
    """A fake device's job: runs when its result is asked for, like a queued job."""

    def __init__(self, job_id: str, fn):
        self._id, self._fn, self._result = job_id, fn, None

    def job_id(self) -> str:
        return self._id

    def result(self):
        if self._result is None:
            self._result = self._fn()
        return self._result


class _AerLocalRunner:
    """Runs PUBs for a fake device on Aer, on the active physical qubits only (see choose_primitive).

    Each call is one Aer run of every circuit and sample of the round. Aer
    returns the exact outcome distribution of the active qubits (ideal state
    vector, or density matrix under the device's gate errors); the device's
    readout errors are applied to it exactly (they act on each qubit
    independently), and ``shots`` outcomes are then drawn from it at once,
    which gives the statistics of shot-by-shot sampling (correlators from the
    same shots) at a fraction of the cost of sampling in Aer.
    """

    def __init__(self, device_backend, noise: bool, shots: int | None, jobs_dir=None):
        self.device, self.noise, self.shots = device_backend, noise, shots
        # The fake service's memory of jobs by tag: in the store (so that a later
        # process finds a job whose submission it never saw confirmed), else here.
        self.jobs_dir, self._jobs = jobs_dir, {}
        self._restricted: dict = {}
        self._noise: dict = {}
        self._full_noise = None

    def submit(self, pubs, seed: int, tag: str):
        job_id = f"local-{os.urandom(8).hex()}"
        record = {"job_id": job_id, "seed": int(seed)}
        if self.jobs_dir is None:
            self._jobs[tag] = record
        else:
            self.jobs_dir.mkdir(exist_ok=True)
            atomic_write(self.jobs_dir / f"{tag}.json", lambda fh: fh.write(json.dumps(record).encode()))
        return _LocalJob(job_id, lambda: self._run(pubs, seed))

    def find(self, tag: str, pubs):
        """The job submitted under ``tag``, if the (fake) service has it."""
        record = self._jobs.get(tag)
        path = None if self.jobs_dir is None else self.jobs_dir / f"{tag}.json"
        if record is None and path is not None and path.exists():
            record = _loads(path.read_text())
            if not (isinstance(record, dict) and isinstance(record.get("job_id"), str)
                    and isinstance(record.get("seed"), int)):
                raise ValueError(f"the fake service's job record {str(path)!r} is damaged (expected job_id and seed)")
        if record is None:
            return None
        job = _LocalJob(record["job_id"], lambda: self._run(pubs, record["seed"]))
        job.sim_seed = record["seed"]  # the seed it ran with, whatever this process would draw
        return job

    def fetch(self, job_id: str, pubs, seed: int):
        # A fake device keeps no results: fetching re-runs the recorded PUBs with the
        # recorded simulator seed, which reproduces the job's result exactly.
        return _LocalJob(job_id, lambda: self._run(pubs, seed))

    def collect(self, job) -> list:
        return job.result()

    def _restrict(self, isa, observables):
        """The ISA circuit on its active qubits (saving their probabilities), Z-sign table, qubits.

        The sign table ``(n_obs, 2**n_active)`` holds each observable's
        eigenvalue on each outcome (outcome bit ``i`` is active qubit ``i``).
        """
        key = id(isa)
        if key not in self._restricted:
            qiskit = require("qiskit", "backend 'ibm'")
            require("qiskit_aer", "backend 'ibm' with a fake device")  # registers save_probabilities
            used = {isa.find_bit(q).index for inst in isa.data
                    if inst.operation.name not in ("barrier", "delay") for q in inst.qubits}
            z_support = [np.flatnonzero(op.paulis.z[0]) for op in observables]
            for op, sup in zip(observables, z_support):
                if len(op) != 1 or op.paulis.x.any() or not set(sup) <= used:
                    raise RuntimeError(f"observable {op} is not a Z product on the circuit's qubits")
            active = sorted(used)
            index = {q: i for i, q in enumerate(active)}
            rc = qiskit.QuantumCircuit(len(active))
            for inst in isa.data:
                if inst.operation.name in ("barrier", "delay"):
                    continue
                rc.append(inst.operation, [rc.qubits[index[isa.find_bit(q).index]] for q in inst.qubits])
            rc.save_probabilities()
            bits = (np.arange(2 ** len(active))[:, None] >> np.arange(len(active))) & 1
            signs = np.stack([np.prod(1 - 2 * bits[:, [index[int(q)] for q in sup]], axis=1)
                              for sup in z_support]).astype(np.float64)
            self._restricted[key] = (isa, rc, signs, tuple(active))  # isa kept alive: id() stays unique
        return self._restricted[key][1:]

    def _device_noise(self, active: tuple):
        """Gate errors of the device restricted to ``active`` (renamed ``0..``), and readout matrices.

        The readout matrices ``M[q][measured, prepared]`` are those of the
        device noise model on each active qubit.
        """
        if active not in self._noise:
            noise = require("qiskit_aer.noise", "backend 'ibm' with noise=True")
            if self._full_noise is None:
                self._full_noise = noise.NoiseModel.from_backend(self.device)
            full, index = self._full_noise, {q: i for i, q in enumerate(active)}
            nm = noise.NoiseModel(basis_gates=full.basis_gates)
            # Aer has no public accessor for per-qubit errors; these dicts are what from_backend fills.
            for inst, errors in full._local_quantum_errors.items():
                for qubits, err in errors.items():
                    if all(q in index for q in qubits):
                        nm.add_quantum_error(err, inst, [index[q] for q in qubits])
            for inst, err in full._default_quantum_errors.items():
                nm.add_all_qubit_quantum_error(err, inst)
            readout = []
            for q in active:
                err = full._local_readout_errors.get((q,), full._default_readout_error)
                readout.append(np.eye(2) if err is None else np.asarray(err.probabilities, dtype=np.float64).T)
            if any(len(qubits) > 1 for qubits in full._local_readout_errors):
                raise NotImplementedError("correlated multi-qubit readout errors are not simulated")
            self._noise[active] = (nm, readout)
        return self._noise[active]

    def _run(self, pubs, seed: int):
        aer = require("qiskit_aer", "backend 'ibm' with a fake device")
        parts = [self._restrict(qc, obs) + (values,) for qc, obs, values in pubs]
        actives = {p[2] for p in parts}
        if self.noise and len(actives) != 1:  # one simulator run has one noise model
            return [out for i, pub in enumerate(pubs) for out in self._run([pub], seed + i)]
        if self.noise:
            noise_model, readout = self._device_noise(next(iter(actives)))
            sim = aer.AerSimulator(method="density_matrix", noise_model=noise_model)
        else:
            readout, sim = None, aer.AerSimulator(method="statevector")
        circuits = [rc for rc, _, _, _ in parts]
        binds = [{p: values[:, 0, i] for i, p in enumerate(rc.parameters)} for rc, _, _, values in parts]
        result = sim.run(circuits, parameter_binds=binds).result()
        rng = np.random.default_rng(seed)
        evs, stds, i = [], [], 0
        for rc, signs, _, values in parts:
            B = values.shape[0]
            probs = np.stack([np.asarray(result.data(i + b)["probabilities"], dtype=np.float64) for b in range(B)])
            i += B
            if readout is not None:
                probs = _apply_readout(probs, readout)
            if self.shots is None:
                ev, sd = probs @ signs.T, np.zeros((B, len(signs)))
            else:
                counts = np.stack([rng.multinomial(self.shots, p / p.sum()) for p in np.clip(probs, 0, None)])
                ev = counts @ signs.T / self.shots
                sd = np.sqrt(np.clip(1.0 - ev**2, 0.0, None) / self.shots)
            evs.append(ev)
            stds.append(sd)
        return list(zip(evs, stds))  # per PUB: (B, n_obs) each; PUBs may measure different observables


def _apply_readout(probs: np.ndarray, readout: list) -> np.ndarray:
    """``probs (B, 2**n)`` of prepared outcomes -> of measured ones, qubit ``q`` through ``readout[q]``."""
    n = len(readout)
    p = probs.reshape((probs.shape[0],) + (2,) * n)  # axis 1 is the most significant bit, qubit n-1
    for q, m in enumerate(readout):
        p = np.moveaxis(np.tensordot(m, p, axes=([1], [n - q])), 0, n - q)
    return p.reshape(probs.shape)


class _RuntimeRunner:
    """Runs PUBs on a real IBM device through the primitive of :func:`choose_primitive`."""

    def __init__(self, service, device_backend, options: dict, mode: str, precision):
        self.service, self.device, self.options = service, device_backend, options
        self.mode, self.precision = mode, precision
        self._estimator = None

    def _get_estimator(self):
        if self._estimator is None:
            runtime = require("qiskit_ibm_runtime", "backend 'ibm'")
            from qiskit_ibm_runtime.executor_estimator import Estimator

            # A session keeps the T dependent rounds of one transform together in the queue.
            mode = {"job": lambda: self.device, "batch": lambda: runtime.Batch(backend=self.device),
                    "session": lambda: runtime.Session(backend=self.device)}[self.mode]()
            self._estimator = Estimator(mode=mode, options=self.options)
        return self._estimator

    def submit(self, pubs, seed: int, tag: str):
        estimator = self._get_estimator()
        # The call's tag goes with the job, so that a submission whose response was
        # lost (or whose process died before recording it) is found, not paid again.
        estimator.options.environment.job_tags = list(self.options.get("environment", {}).get("job_tags", [])) + [tag]
        return estimator.run(pubs, precision=self.precision)

    def find(self, tag: str, pubs):
        jobs = self.service.jobs(job_tags=[tag], backend_name=self.device.name, limit=1)
        return jobs[0] if jobs else None

    def fetch(self, job_id: str, pubs, seed: int):
        return self.service.job(job_id)

    def collect(self, job) -> list:
        return [(np.asarray(r.data.evs, dtype=np.float64), np.asarray(r.data.stds, dtype=np.float64))
                for r in job.result()]


@dataclass
class _Part:
    """One reservoir's share of a primitive call: a compiled group and its parameter values."""

    group: _Group
    values: np.ndarray  # (B, 1, P)
    key: str
    step: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return len(self.group.isa), int(self.values.shape[0]), len(self.group.observables[0])


@dataclass
class _Plan:
    """What a planned transform would do: every call, and what the store already holds."""

    calls: int = 0
    pubs: int = 0
    circuits: int = 0
    replayed: int = 0
    new_calls: int = 0
    new_circuits: int = 0
    new_qpu_seconds: float = 0.0


_LOCAL = threading.local()  # the rendezvous (and member index) of an ensemble member's thread


class _Rendezvous:
    """Members of an ensemble that share one IBM backend, run in lock step: their calls become one.

    Each member runs in its own thread. A call waits until every member still
    running has posted its call (or finished); the calls are then submitted as
    one primitive call, in member order. Every member advances exactly one
    call per merged call, so the merging, and with it every call's key, is the
    same in every run.
    """

    def __init__(self, n: int, plan):
        self.live, self.cond, self.plan = n, threading.Condition(), plan
        self.pending: dict[int, tuple] = {}
        self.results: dict[int, np.ndarray] = {}
        self.error: BaseException | None = None

    def abort(self, error: BaseException) -> None:
        """Stop every member at its next call (an interrupt of the caller): nothing more is submitted."""
        with self.cond:
            if self.error is None:
                self.error = error
            self.cond.notify_all()

    def call(self, backend, part: _Part) -> np.ndarray:
        me = _LOCAL.member
        with self.cond:
            if self.error is not None:
                raise RuntimeError("the ensemble's run was stopped") from self.error
            self.pending[me] = (backend, part)
            self._fire()
            while me not in self.results and self.error is None:
                self.cond.wait()
            if me in self.results:
                return self.results.pop(me)
            raise RuntimeError("another member of the ensemble failed") from self.error

    def leave(self, error: BaseException | None = None) -> None:
        with self.cond:
            self.live -= 1
            if error is not None and self.error is None:
                self.error = error
            self._fire()
            self.cond.notify_all()

    def _fire(self) -> None:
        if not self.pending or len(self.pending) < self.live or self.error is not None:
            return
        order = sorted(self.pending)
        backend = self.pending[order[0]][0]
        parts = [self.pending[i][1] for i in order]
        backends = [self.pending[i][0] for i in order]
        self.pending = {}
        try:
            configs = {json.dumps(b.to_config(), sort_keys=True, default=str) for b in backends}
            if len(configs) > 1:
                raise ValueError("the members of an ensemble on one IBM store must use one backend configuration "
                                 "(their calls are merged into one): got " + " and ".join(sorted(configs))
                                 + "; give them the same backend object, or separate stores")
            outs = backend._run_parts(parts)
        except BaseException as exc:
            self.error = exc
            self.cond.notify_all()
            raise
        self.results.update(zip(order, outs))
        self.cond.notify_all()


class _Shared:
    """What every copy of one IBM backend shares: the store (or a spend counter), and lock-step runs.

    Copies made by ``copy.deepcopy``, ``sklearn.base.clone`` or pickling within
    a process share one object, so that a ceiling holds for all of them.
    """

    def __init__(self, ledger):
        self.ledger, self._spent, self.pid = ledger, 0.0, os.getpid()
        self.legacy: float | None = None  # estimated spend of calls a store of format 1 never priced
        self.mutex = threading.RLock()

    def spent(self) -> float:
        if self.ledger is None:
            return self._spent
        return self.ledger.spent + (self.legacy or 0.0)

    @functools.cached_property
    def lockstep(self) -> "_Lockstep":
        """The lock-step group of every backend on this store (or counter)."""
        return _Lockstep()


class _Lockstep:
    """The backends of one store (or spend counter): ensemble members on them run together.

    Their calls are merged into one, made under one backend's settings, so
    backends with other settings (another ceiling, retry policy, tags) on one
    store are refused before anything is submitted.
    """

    def run_lockstep(self, fns: list) -> list:
        """Run ``fns`` (members' transforms) in lock step, their calls merged; results in order.

        An interrupt of the caller (Ctrl-C) stops every member at its next
        call, waits for the call in flight, and is raised.
        """
        rv = _Rendezvous(len(fns), getattr(_LOCAL, "plan", None))
        results: list = [None] * len(fns)

        def work(i):
            _LOCAL.rendezvous, _LOCAL.member, _LOCAL.plan = rv, i, rv.plan
            try:
                results[i] = fns[i]()
                error = None
            except BaseException as exc:
                error = exc
            try:
                rv.leave(error)
            except BaseException:  # the merged call this leave fired failed: rv.error holds it for the caller
                pass
            _LOCAL.rendezvous = _LOCAL.plan = None

        threads = [threading.Thread(target=work, args=(i,), name=f"qrnn-ibm-member-{i}") for i in range(len(fns))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except BaseException as exc:  # KeyboardInterrupt lands here, in the caller's thread
            rv.abort(exc)
            for t in threads:
                t.join()
            raise
        if rv.error is not None:
            raise rv.error
        return results


_SHARED: "weakref.WeakValueDictionary[tuple, _Shared]" = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def _shared_for(key: tuple, open_store) -> _Shared:
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is None:
            shared = _Shared(open_store())
            _SHARED[key] = shared
        return shared


def _part_key(fingerprint: str, values: np.ndarray) -> str:
    # Content-addressed: a re-run of the same transform (by this object or a new
    # process) meets the same keys and replays them. Within one run two calls
    # never share a key unless their circuits and inputs coincide exactly.
    digest = hashlib.sha256(fingerprint.encode())
    digest.update(repr(values.shape).encode())
    digest.update(values.tobytes())
    return digest.hexdigest()[:40]


def _call_key(parts: list) -> str:
    """A lone part keeps its own key (stores of format 1 replay); merged parts get one from all of theirs."""
    if len(parts) == 1:
        return parts[0].key
    return hashlib.sha256("|".join(p.key for p in parts).encode()).hexdigest()[:40]


class IBMBackend(Backend):
    """IBM Quantum devices through qiskit-ibm-runtime, and offline rehearsal on fake devices.

    Each VQC group is transpiled once into ISA circuits for the device
    (input angles stay parameters, weights are bound) and its observables
    ``Z_k`` (and ``Z_i Z_j`` with correlators) are mapped through the layout.
    Each round of each time step is then one primitive call whose PUBs carry
    every sample and circuit of the round: ``T`` calls per transform for QRNN,
    ``2 T`` for QLSTM and QGRU.

    Parameters
    ----------
    device : str
        A fake device such as ``"fake_manila"`` (``FakeManilaV2``; see
        :func:`fake_device_names`), simulated locally, or a real device name
        (``"ibm_brisbane"``), which needs IBM Quantum credentials.
    shots : int, optional
        Shots per circuit and sample. Give ``shots`` or ``precision``, not both.
    precision : float, optional
        Target standard error per expectation value (``> 0``); a rehearsal
        spends ``ceil(1 / precision**2)`` shots. With neither, a real device
        uses the service's default precision; a fake device computes exact
        expectation values when ``noise=False``, else uses that default (1/64).
    noise : bool, default True
        Fake devices only: simulate with the device's noise model (gate and
        readout errors of the qubits the layout uses). ``False`` gives an ideal
        simulation of the same transpiled circuits.
    seed : int, optional
        Seeds transpilation and the simulator. Each call's simulator seed is
        derived from it and the call's content, so a resumed run reproduces an
        uninterrupted one exactly.
    store : str or os.PathLike, optional
        Directory of the call ledger (see :mod:`qrnn.backends._ledger`): every
        call is recorded before it is sent and before its result is awaited,
        finished calls are replayed from disk (after checking that the file is
        that call's), submitted ones are fetched by job id, a submission whose
        response was lost is found by its tag, and a store made for another
        device, options or reservoir is refused. One process writes a store
        at a time (an exclusive lock; see ``wait``).
    max_qpu_seconds : float, optional
        A ceiling (``> 0``) on the estimated QPU seconds (see :meth:`estimate`)
        spent: with a store, by every run on that store, in any process (the
        spend is recorded with each submission and read back on open);
        without one, by this backend and every copy of it. A call that would
        cross it is refused before it is submitted. Calls replayed from the
        store cost nothing.
    service : qiskit_ibm_runtime.QiskitRuntimeService, optional
        For real devices; without it the saved account or the ``QISKIT_IBM_*``
        environment variables are used.
    optimization_level : {0, 1, 2, 3}, default 2
        Preset pass manager level.
    initial_layout : list of int, optional
        Physical qubit of each circuit wire.
    resilience_level : {0, 1, 2}, optional
        Real devices: the Estimator's error mitigation level (service default if None).
    dynamical_decoupling, twirling : bool, default False
        Real devices: the Estimator's dynamical decoupling, gate and measurement twirling.
    mode : {"job", "batch", "session"}, default "job"
        Real devices: execution mode; a session keeps one transform's rounds together.
    job_tags : list of str, optional
        Real devices: tags attached to every job.
    max_retries : int, default 3
        Retries of a transient error (network, time-out) per submission or collection.
        Before a submission is retried, the job is looked up by its tag, in
        case the service accepted it and only the response was lost.
    retry_delay : float, default 1.0
        Seconds before the first retry, doubled at each further one.
    resubmit_failed : bool, default True
        A job that failed or was cancelled (the service bills it and returns no
        result) raises :class:`JobFailedError` and is recorded in the store;
        the next run resubmits it, counted against ``max_qpu_seconds``, at most
        ``max_resubmits`` times. ``False`` refuses to pay for it again.
    max_resubmits : int, default 2
        How many times one call is resubmitted after failures.
    wait : bool or float, default False
        If another process holds the store: ``False`` refuses at once with a
        :class:`~qrnn.backends._ledger.StoreLockedError` naming it, ``True``
        waits for it, a number waits at most that many seconds.

    Attributes
    ----------
    calls : list of dict
        One entry per primitive call asked for through this object: ``key``,
        ``round`` and ``step`` (lists, one per reservoir whose circuits the
        call carried), ``job_id``, ``calibration`` (the id of the device
        calibration it ran under, see :meth:`calibration`) and ``how``:
        ``"submitted"``, ``"fetched"`` (submitted earlier, collected now),
        ``"found"`` (submitted earlier, its response lost, found by its tag),
        ``"resubmitted"`` (after a failure), ``"recovered"`` (a damaged result
        file fetched again) or ``"replayed"`` from the store.
    qpu_seconds_spent : float
        Estimated QPU seconds spent: the store's total, or this backend's and
        its copies'.

    Examples
    --------
    >>> import numpy as np
    >>> from qrnn import QRNN
    >>> ibm = IBMBackend("fake_manila", noise=False, seed=1)
    >>> QRNN(1, 2, seed=0, backend=ibm).transform(np.ones((3, 2, 1))).shape
    (3, 2, 2)
    >>> len(ibm.calls)  # one primitive call per time step
    2
    """

    name = "ibm"
    differentiable = False
    MODES = ("job", "batch", "session")

    def __init__(self, device, shots=None, precision=None, noise=True, seed=None, store=None,
                 max_qpu_seconds=None, service=None, optimization_level=2, initial_layout=None,
                 resilience_level=None, dynamical_decoupling=False, twirling=False, mode="job",
                 job_tags=None, max_retries=3, retry_delay=1.0, resubmit_failed=True, max_resubmits=2,
                 wait=False):
        if not isinstance(device, str) or not device:
            raise TypeError(f"device must be a device name such as 'fake_manila' or 'ibm_brisbane', got {device!r}")
        self.device = device
        self.shots = None if shots is None else check_int(shots, "shots", minimum=1)
        self.precision = None if precision is None else check_real(precision, "precision", low=0.0, low_open=True)
        if self.shots is not None and self.precision is not None:
            raise ValueError(f"give shots or precision, not both (got shots={shots}, precision={precision})")
        self.noise = check_bool(noise, "noise")
        # An int only (not a Generator): the seed is part of the saved config and of call keys.
        self.seed = None if seed is None else check_int(seed, "seed", minimum=0)
        self.store = None if store is None else str(check_store_path(store))
        self.max_qpu_seconds = (None if max_qpu_seconds is None
                                else check_real(max_qpu_seconds, "max_qpu_seconds", low=0.0, low_open=True))
        self.optimization_level = check_int(optimization_level, "optimization_level", minimum=0)
        if self.optimization_level > 3:
            raise ValueError(f"optimization_level must be one of [0, 1, 2, 3], got {optimization_level}")
        if initial_layout is not None:
            if (not isinstance(initial_layout, (list, tuple)) or len(set(initial_layout)) != len(initial_layout)):
                raise ValueError("initial_layout must be a list of distinct physical qubit indices, "
                                 f"got {initial_layout!r}")
            initial_layout = [check_int(q, "initial_layout entries", minimum=0) for q in initial_layout]
        self.initial_layout = initial_layout
        if resilience_level is not None and (check_int(resilience_level, "resilience_level") not in (0, 1, 2)):
            raise ValueError(f"resilience_level must be one of [0, 1, 2] or None, got {resilience_level}")
        self.resilience_level = resilience_level
        self.dynamical_decoupling = check_bool(dynamical_decoupling, "dynamical_decoupling")
        self.twirling = check_bool(twirling, "twirling")
        self.mode = check_choice(mode, "mode", self.MODES)
        if job_tags is not None and (not isinstance(job_tags, (list, tuple))
                                     or not all(isinstance(t, str) for t in job_tags)):
            raise TypeError(f"job_tags must be a list of strings, got {job_tags!r}")
        self.job_tags = None if job_tags is None else list(job_tags)
        self.max_retries = check_int(max_retries, "max_retries", minimum=0)
        self.retry_delay = check_real(retry_delay, "retry_delay", low=0.0)
        self.resubmit_failed = check_bool(resubmit_failed, "resubmit_failed")
        self.max_resubmits = check_int(max_resubmits, "max_resubmits", minimum=0)
        if not isinstance(wait, bool):
            check_real(wait, "wait (False, True or seconds)", low=0.0)
        self.wait = wait

        runtime = require("qiskit_ibm_runtime", "backend 'ibm'")
        self.fake = device.startswith("fake_")
        if self.fake:
            names = fake_device_names()
            if device not in names:
                raise ValueError(f"unknown fake device {device!r}; expected one of {sorted(names)}")
            self._fake_class = names[device]
        else:
            if not self.noise:
                raise ValueError(f"noise=False simulates a fake device without its noise model; device "
                                 f"{device!r} is a real device (fake ones are named like 'fake_manila')")
            if service is not None and not isinstance(service, runtime.QiskitRuntimeService):
                raise TypeError("service must be a qiskit_ibm_runtime.QiskitRuntimeService, "
                                f"got {type(service).__name__}")
            if service is None and not _has_credentials():
                raise ValueError(
                    f"device {device!r} is a real IBM device and needs IBM Quantum credentials, and none "
                    "were found: save an account with QiskitRuntimeService.save_account(...), set the "
                    "QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE) environment variables, or pass "
                    "service=QiskitRuntimeService(...); for an offline rehearsal use a fake device "
                    "such as 'fake_manila'")
            self._runtime_options = self._estimator_options()  # validated now, before any circuit
        self.service = service
        self.primitive = choose_primitive(self.fake)
        self.exact = self.fake and not self.noise and self.shots is None and self.precision is None
        self._shared_key = (("store", os.path.realpath(self.store)) if store is not None
                            else ("memory", uuid.uuid4().hex))
        self._origin_pid = os.getpid()
        self._shared = None
        self._state()  # the store is opened (locked, checked) now, not at the first call
        self._device_backend = self._pass_manager = self._runner = self._calib = None
        self._groups: list[str] = []
        self.calls: list[dict] = []

    # -- what copies share; pickling -----------------------------------------------------------
    _UNSHARED = ("_shared", "_device_backend", "_pass_manager", "_runner", "_calib")

    def _state(self) -> _Shared:
        if self._shared is None and self.store is None and self.max_qpu_seconds is not None:
            shared = _SHARED.get(self._shared_key)
            if (shared is None and self._origin_pid != os.getpid()) or (shared is not None
                                                                        and shared.pid != os.getpid()):
                raise RuntimeError(self._no_shared_ceiling())
        if self._shared is None:
            opener = (lambda: None) if self.store is None else (
                lambda: open_ledger(self.store, self._ledger_config(), wait=self.wait))
            self._shared = _shared_for(self._shared_key, opener)
            led = self._shared.ledger
            if led is not None and self._shared.legacy is None:  # priced by this model, once per store
                self._shared.legacy = sum(self._qpu_seconds(1, int(r.get("n_pubs", 0)) * int(r.get("batch", 0)))
                                          for r in led.unpriced())
        return self._shared

    def _no_shared_ceiling(self) -> str:
        return (f"this backend's max_qpu_seconds={self.max_qpu_seconds:g} was set in process {self._origin_pid}; "
                f"without a store its spend cannot be shared with this process ({os.getpid()}), so the ceiling "
                "could not hold: give the backend a store= (a directory), which carries the spend")

    @property
    def ledger(self):
        """The store's :class:`~qrnn.backends._ledger.Ledger` (its records, spend, results), or None."""
        return self._state().ledger

    @property
    def qpu_seconds_spent(self) -> float:
        return self._state().spent()

    def __getstate__(self) -> dict:
        # The service (a live connection) is not pickled: an unpickled copy uses the
        # standard credentials. The device, transpiler and store are rebuilt on use.
        state = {k: v for k, v in self.__dict__.items() if k not in self._UNSHARED}
        state["service"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for k in self._UNSHARED:
            setattr(self, k, None)
        self.calls = []  # a copy's own calls

    def __deepcopy__(self, memo):
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        state = {k: v for k, v in self.__dict__.items() if k not in self._UNSHARED + ("service",)}
        new.__dict__.update(copy.deepcopy(state, memo))
        # A copy is the same device and the same ceiling: it shares the store (or
        # spend counter), the connection and the compiled device objects.
        new.service, new._calib = self.service, self._calib
        new._shared, new._device_backend = self._state(), self._device_backend
        new._pass_manager, new._runner = self._pass_manager, self._runner
        new.calls = []
        return new

    def lockstep_key(self):
        """Members of an ensemble on backends with the same key run in lock step, one call per round.

        The key is shared by this backend, its copies and any backend on the same
        store; the members' backends must then have one configuration.
        """
        return self._state().lockstep

    def __repr__(self) -> str:
        return (f"IBMBackend({self.device!r}, shots={self.shots}, precision={self.precision}, "
                f"noise={self.noise}, seed={self.seed}, store={self.store!r})")

    # -- cost ----------------------------------------------------------------------------------
    def shots_per_circuit(self) -> int:
        """Shots each circuit and sample costs (the service default precision's when neither is given)."""
        shots = self._effective_shots()
        return math.ceil(1.0 / DEFAULT_PRECISION**2) if shots is None else shots

    def _qpu_seconds(self, n_calls: int, n_executions: int) -> float:
        return n_calls * SECONDS_PER_JOB + n_executions * self.shots_per_circuit() * SECONDS_PER_SHOT

    def estimate(self, reservoir, X) -> dict:
        """What ``reservoir.transform(X)`` would cost on this backend, before anything is spent.

        ``reservoir`` is any reservoir (a quantum cell, an
        :class:`~qrnn.Ensemble`, ...), on this backend or not: a copy of it
        on this backend is planned, with no circuit run and nothing written.
        The counts are those of the real run. With a store, calls it already
        holds are replayed in the plan (their results are read, so that the
        later calls are planned from the right inputs) and cost nothing.

        Returns
        -------
        dict
            ``calls`` (primitive calls: T times the dependent rounds per step),
            ``pubs`` (circuits per call, summed), ``circuits`` (circuit
            executions: PUBs times samples), ``shots`` (all of them),
            ``qpu_seconds`` (of all of them, by the rough model
            ``SECONDS_PER_JOB`` per call plus ``SECONDS_PER_SHOT`` per shot);
            ``new_calls``, ``new_qpu_seconds`` (those not already in the store:
            what the run would pay now), ``spent_qpu_seconds`` (already spent
            on the store, or by this backend) and ``max_qpu_seconds``.

        Examples
        --------
        >>> import numpy as np
        >>> from qrnn import QLSTM
        >>> cost = IBMBackend("fake_manila", shots=1000).estimate(QLSTM(1, 3, seed=0), np.zeros((16, 4, 1)))
        >>> cost["calls"], cost["pubs"], cost["circuits"], cost["shots"]
        (8, 24, 384, 384000)
        """
        from ..cells import on_backend  # cells import the backends

        shared = self._state()
        planned = on_backend(reservoir, self)
        # The plan belongs to this thread (and the member threads it starts), so that a
        # real run in another thread on the same store is never planned instead of paid.
        _LOCAL.plan = plan = _Plan()
        try:
            planned.transform(X)
        finally:
            _LOCAL.plan = None
        return {"calls": plan.calls, "pubs": plan.pubs, "circuits": plan.circuits,
                "shots": plan.circuits * self.shots_per_circuit(),
                "qpu_seconds": self._qpu_seconds(plan.calls, plan.circuits),
                "new_calls": plan.new_calls, "new_qpu_seconds": plan.new_qpu_seconds,
                "spent_qpu_seconds": shared.spent(), "max_qpu_seconds": self.max_qpu_seconds}

    def check_budget(self, reservoir, X) -> dict:
        """:meth:`estimate`, refusing a run whose new calls would take the spend past ``max_qpu_seconds``.

        Call it before ``reservoir.transform(X)``: it raises before anything is
        submitted. Only calls the store does not already hold count, on top of
        what the store (or this backend and its copies) has already spent.
        (During the run, each call is also checked against the ceiling.)

        Raises
        ------
        ValueError
            The spend would exceed ``max_qpu_seconds`` (the message gives the figures).

        Examples
        --------
        >>> import numpy as np
        >>> from qrnn import QRNN
        >>> ibm = IBMBackend("fake_manila", shots=1000, max_qpu_seconds=5.0)
        >>> ibm.check_budget(QRNN(1, 3, seed=0), np.zeros((4, 4, 1)))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the run needs 12.0 more QPU seconds (4 new calls of 4, 16 circuits of 1000 shots), ...
        """
        cost = self.estimate(reservoir, X)
        if (self.max_qpu_seconds is not None
                and cost["spent_qpu_seconds"] + cost["new_qpu_seconds"] > self.max_qpu_seconds):
            raise ValueError(
                f"the run needs {cost['new_qpu_seconds']:.1f} more QPU seconds ({cost['new_calls']} new calls of "
                f"{cost['calls']}, {cost['circuits']} circuits of {self.shots_per_circuit()} shots), and "
                f"{cost['spent_qpu_seconds']:.1f} s are already spent, above max_qpu_seconds="
                f"{self.max_qpu_seconds:g}; nothing was submitted")
        return cost

    def _check_call_budget(self, cost: float) -> None:
        shared = self._state()
        if shared.ledger is None and self.max_qpu_seconds is not None and shared.pid != os.getpid():
            raise RuntimeError(self._no_shared_ceiling())  # a forked copy of the counter
        spent = shared.spent()
        if self.max_qpu_seconds is not None and spent + cost > self.max_qpu_seconds:
            where = "on this store" if self.store is not None else "by this backend and its copies"
            raise RuntimeError(
                f"max_qpu_seconds={self.max_qpu_seconds:g} would be exceeded: {spent:.1f} s estimated spent "
                f"{where}, this call needs {cost:.1f} s more; nothing was submitted. Check a run first with "
                "IBMBackend.check_budget(reservoir, X), and raise the ceiling or shrink the run")

    # -- configuration -------------------------------------------------------------------------
    def to_config(self) -> dict:
        """Constructor arguments as JSON (``service`` is not saved: a reload uses the standard credentials).

        >>> IBMBackend("fake_manila", shots=100).to_config()["shots"]
        100
        """
        return {"kind": "ibm", "device": self.device, "shots": self.shots, "precision": self.precision,
                "noise": self.noise, "seed": self.seed, "store": self.store,
                "max_qpu_seconds": self.max_qpu_seconds, "optimization_level": self.optimization_level,
                "initial_layout": self.initial_layout, "resilience_level": self.resilience_level,
                "dynamical_decoupling": self.dynamical_decoupling, "twirling": self.twirling,
                "mode": self.mode, "job_tags": self.job_tags, "max_retries": self.max_retries,
                "retry_delay": self.retry_delay, "resubmit_failed": self.resubmit_failed,
                "max_resubmits": self.max_resubmits, "wait": self.wait}

    def _ledger_config(self) -> dict:
        """What a store is bound to: everything that changes the results (not where, or how patiently)."""
        cfg = self.to_config()
        for k in ("store", "max_qpu_seconds", "max_retries", "retry_delay", "job_tags", "mode",
                  "resubmit_failed", "max_resubmits", "wait"):
            cfg.pop(k)
        return cfg

    def _effective_shots(self) -> int | None:
        """Shots a rehearsal spends (None: exact)."""
        if self.shots is not None:
            return self.shots
        if self.precision is not None:
            return math.ceil(1.0 / self.precision**2)
        return None if self.exact else math.ceil(1.0 / DEFAULT_PRECISION**2)

    def _estimator_options(self) -> dict:
        opts: dict = {"dynamical_decoupling": {"enable": self.dynamical_decoupling},
                      "twirling": {"enable_gates": self.twirling, "enable_measure": self.twirling}}
        if self.shots is not None:
            opts["default_shots"] = self.shots
        if self.precision is not None:
            opts["default_precision"] = self.precision
        if self.resilience_level is not None:
            opts["resilience_level"] = self.resilience_level
        if self.job_tags:
            opts["environment"] = {"job_tags": self.job_tags}
        from qiskit_ibm_runtime.options_models import EstimatorOptions

        EstimatorOptions(**opts)  # raises on anything the service would refuse
        return opts

    # -- device, transpilation -----------------------------------------------------------------
    def device_backend(self):
        """The qiskit ``BackendV2`` of the device (built on first use)."""
        if self._device_backend is None:
            if self.fake:
                fp = require("qiskit_ibm_runtime.fake_provider", "backend 'ibm'")
                self._device_backend = getattr(fp, self._fake_class)()
            else:
                if self.service is None:
                    self.service = require("qiskit_ibm_runtime", "backend 'ibm'").QiskitRuntimeService()
                self._device_backend = self.service.backend(self.device)
        return self._device_backend

    def _runner_for(self):
        if self._runner is None:
            if self.fake:
                jobs = None if self.store is None else check_store_path(self.store) / "fake-service-jobs"
                self._runner = _AerLocalRunner(self.device_backend(), self.noise, self._effective_shots(), jobs)
            else:
                self._runner = _RuntimeRunner(self.service, self.device_backend(), self._runtime_options,
                                              self.mode, self.precision)
        return self._runner

    def _transpile(self, qc):
        if self._pass_manager is None:
            from qiskit.transpiler import generate_preset_pass_manager

            self._pass_manager = generate_preset_pass_manager(
                optimization_level=self.optimization_level, backend=self.device_backend(),
                seed_transpiler=self.seed, initial_layout=self.initial_layout)
        try:
            return self._pass_manager.run(qc)
        except Exception as exc:  # e.g. FakeCairoV2: a CX direction error in qiskit 2.6's presets
            raise RuntimeError(f"transpiling the circuit for device {self.device!r} failed "
                               f"({type(exc).__name__}: {exc}); try another device or optimization_level") from exc

    def compile(self, vqc: VQC, weights):
        self.check_weights(vqc, weights)
        if weights.requires_grad:  # refused before any transpilation
            NumpyCompiled(self, None, weights, vqc)
        # Members of an ensemble compile in their own threads: one transpiler, one device object.
        with self._state().mutex:
            return self._compile(vqc, weights)

    def _compile(self, vqc: VQC, weights):
        dev = self.device_backend()
        if vqc.n_qubits > dev.num_qubits:
            raise ValueError(f"these circuits need {vqc.n_qubits} qubits but device {self.device!r} has "
                             f"{dev.num_qubits}; use a smaller reservoir or a larger device")
        if self.initial_layout is not None and (len(self.initial_layout) != vqc.n_qubits
                                                or max(self.initial_layout) >= dev.num_qubits):
            raise ValueError(f"initial_layout must give one physical qubit in [0, {dev.num_qubits}) per "
                             f"circuit wire ({vqc.n_qubits}), got {self.initial_layout}")
        qi = require("qiskit.quantum_info", "backend 'ibm'")
        w = weights.detach().cpu().numpy().reshape(weights.shape[0], -1).astype(np.float64)
        n = vqc.n_qubits
        # Qiskit's Pauli labels put qubit 0 rightmost.
        labels = ["".join("Z" if q in wires else "I" for q in reversed(range(n))) for wires in vqc.observables()]
        isa, observables = [], []
        for wk in w:
            logical = build_qiskit_circuit(vqc, wk)
            circuit = self._transpile(logical)
            if list(circuit.parameters) != list(logical.parameters):
                raise RuntimeError("transpilation changed the circuit's input parameters; "
                                   f"{list(logical.parameters)} became {list(circuit.parameters)}")
            isa.append(circuit)
            observables.append([qi.SparsePauliOp(lab).apply_layout(circuit.layout) for lab in labels])
        digest = hashlib.sha256(json.dumps([self._ledger_config(), repr(vqc)]).encode())
        digest.update(np.ascontiguousarray(w).tobytes())
        fingerprint = digest.hexdigest()
        description = {"vqc": repr(vqc), "n_circuits": int(w.shape[0])}
        shared = self._state()
        if shared.ledger is not None:
            rnd = shared.ledger.register_group(fingerprint, description,
                                               write=getattr(_LOCAL, "plan", None) is None)
        else:
            if fingerprint not in self._groups:
                self._groups.append(fingerprint)
            rnd = self._groups.index(fingerprint)
        group = _Group(vqc, isa, observables, fingerprint, rnd)
        return NumpyCompiled(self, lambda x: self._call(group, x), weights, vqc)

    # -- calls ---------------------------------------------------------------------------------
    def _call_seed(self, key: str) -> int:
        if self.seed is None:
            return int.from_bytes(os.urandom(4), "little") >> 1
        return int.from_bytes(hashlib.sha256(f"{self.seed}/{key}".encode()).digest()[:4], "little") >> 1

    def _retry(self, fn, what: str, on_transient=None):
        """``fn()``, retried on transient errors; ``on_transient()`` may return a result instead of a retry."""
        transient = _transient_errors()
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except transient as exc:
                if on_transient is not None:
                    found = self._retry(on_transient, f"looking up the job of {what}")
                    if found is not None:
                        return found
                if attempt == self.max_retries:
                    raise RuntimeError(f"{what} failed {attempt + 1} times ({type(exc).__name__}: {exc}); "
                                       "run again to resume from the store") from exc
                time.sleep(self.retry_delay * 2**attempt)

    def _call(self, group: _Group, x: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(group.vqc.input_angles(x)[:, None, :])  # (B, 1, P)
        part = _Part(group, values, _part_key(group.fingerprint, values), group.n_calls)
        group.n_calls += 1
        rv = getattr(_LOCAL, "rendezvous", None)
        if rv is not None:  # an ensemble member in lock step: its call joins the other members'
            return rv.call(self, part)
        return self._run_parts([part])[0]

    def calibration(self, cid: str) -> dict:
        """The device calibration snapshot ``cid`` (from :attr:`calls` or the store's records)."""
        if self._calib is not None and self._calib["id"] == cid:
            return self._calib
        if self.ledger is None:
            raise KeyError(f"calibration {cid!r} is not this backend's, and it has no store to look in")
        return self.ledger.calibration(cid)

    def _calibration(self) -> dict:
        """The device's calibration snapshot now: its error data, their timestamp, an id (a digest of them)."""
        if self._calib is None:
            dev = self.device_backend()
            target = dev.target
            errors = {name: {str(list(qargs)): [props.error, props.duration]
                             for qargs, props in target[name].items() if qargs is not None and props is not None}
                      for name in sorted(target.operation_names)}
            qubits = [None if q is None else [getattr(q, "t1", None), getattr(q, "t2", None),
                                              getattr(q, "frequency", None)]
                      for q in (target.qubit_properties or [])]
            timestamp = None
            try:
                if self.fake:
                    timestamp = dev._load_json(dev.props_filename).get("last_update_date")
                else:
                    props = dev.properties()
                    timestamp = None if props is None else str(props.last_update_date)
            except Exception:  # a device without properties: the error data still identify the calibration
                pass
            data = {"device": self.device, "backend_version": getattr(dev, "backend_version", None),
                    "timestamp": timestamp, "errors": errors, "qubits": qubits}
            text = json.dumps(data, sort_keys=True, default=str)
            source = ("qiskit-ibm-runtime fake device snapshot" if self.fake else "the device's target and properties")
            self._calib = {"id": hashlib.sha256(text.encode()).hexdigest()[:16], "source": source,
                           **json.loads(text)}
        if self.ledger is not None:
            self.ledger.note_calibration(self._calib)
        return self._calib

    def _run_parts(self, parts: list) -> list:
        """One primitive call carrying every part (one per reservoir): replayed, fetched, found or submitted."""
        shared = self._state()
        key = _call_key(parts)
        pubs = [pub for p in parts for pub in p.group.pubs(p.values)]
        shapes = [p.shape for p in parts]
        executions = sum(K * B for K, B, _ in shapes)
        cost = self._qpu_seconds(1, executions)
        info = {"rounds": [p.group.round for p in parts], "steps": [p.step for p in parts],
                "backend": self.device, "primitive": self.primitive, "options": self._ledger_config(),
                "n_pubs": len(pubs), "batch": int(parts[0].values.shape[0])}
        entry = {"key": key, "round": info["rounds"], "step": info["steps"]}
        led = shared.ledger
        with shared.mutex:
            state = None if led is None else led.state(key)
            plan = getattr(_LOCAL, "plan", None)
            if plan is not None:
                return self._plan_call(plan, key, state, parts, shapes, executions, cost)
            if state is not None and state["status"] == "done":
                try:
                    results = led.load(key, [p.values for p in parts], shapes)
                except DamagedResultError as exc:
                    warnings.warn(f"{exc}; fetching job {state['job_id']} again", RuntimeWarning, stacklevel=2)
                else:
                    self.calls.append({**entry, "job_id": state.get("job_id"),
                                       "calibration": state.get("calibration"), "how": "replayed"})
                    return [evs for evs, _ in results]
            runner = self._runner_for()
            job, record = self._obtain_job(runner, key, state, pubs, cost, info)
            self.calls.append({**entry, "job_id": record["job_id"], "calibration": record.get("calibration"),
                               "how": record["how"]})
            try:
                per_pub = self._collect(runner, job, record["job_id"], pubs, record["sim_seed"])
            except _job_failures() as exc:
                if led is not None:
                    led.failed(key, {**info, "job_id": record["job_id"], "attempt": record["attempt"],
                                     "error": f"{type(exc).__name__}: {exc}"})
                left = self.max_resubmits - (0 if led is None else led.failures(key) - 1)
                policy = ("it is recorded in the store; the next run resubmits it (resubmit_failed=True, "
                          f"{max(left, 0)} resubmission(s) left), counted against max_qpu_seconds"
                          if led is not None and self.resubmit_failed else
                          "it is recorded in the store and will not be resubmitted (resubmit_failed=False)"
                          if led is not None else "without a store nothing records it")
                raise JobFailedError(f"job {record['job_id']} (rounds {info['rounds']}, steps {info['steps']}) "
                                     f"failed on {self.device!r} ({type(exc).__name__}: {exc}); {policy}") from exc
            out, i = [], 0
            for (K, B, n_obs), p in zip(shapes, parts):
                evs = np.stack([np.asarray(e, dtype=np.float64).reshape(B, n_obs) for e, _ in per_pub[i:i + K]])
                stds = np.stack([np.asarray(d, dtype=np.float64).reshape(B, n_obs) for _, d in per_pub[i:i + K]])
                out.append((evs, stds, p.values))
                i += K
            if led is not None:
                led.done(key, out, {**info, "job_id": record["job_id"], "sim_seed": record["sim_seed"],
                                    "attempt": record["attempt"], "calibration": record.get("calibration")})
            return [evs for evs, _, _ in out]

    def _plan_call(self, plan: _Plan, key, state, parts, shapes, executions, cost) -> list:
        plan.calls += 1
        plan.pubs += sum(K for K, _, _ in shapes)
        plan.circuits += executions
        status = None if state is None else state["status"]
        if status == "done":
            try:
                results = self.ledger.load(key, [p.values for p in parts], shapes)
            except DamagedResultError:
                pass  # recovered by fetching its job: no new cost
            else:
                plan.replayed += 1
                return [evs for evs, _ in results]
        elif status in (None, "failed"):  # a new submission (a failed one only if it may be resubmitted)
            if status is None or (self.resubmit_failed and self.ledger.failures(key) <= self.max_resubmits):
                plan.new_calls += 1
                plan.new_circuits += executions
                plan.new_qpu_seconds += cost
        return [np.zeros(shape) for shape in shapes]

    def _obtain_job(self, runner, key: str, state, pubs, cost: float, info: dict):
        """The job of call ``key`` and its record: fetched, found by tag, resubmitted or newly submitted."""
        led = self.ledger
        status = None if state is None else state["status"]
        what = f"rounds {info['rounds']} steps {info['steps']}"
        if status in ("done", "submitted"):  # collect it again (a damaged result) or for the first time
            job_id, seed = state["job_id"], state["sim_seed"]
            job = self._retry(lambda: runner.fetch(job_id, pubs, seed), f"fetching job {job_id}")
            how = "recovered" if status == "done" else "fetched"
            return job, {"job_id": job_id, "sim_seed": seed, "attempt": state.get("attempt", 1), "how": how,
                         "calibration": state.get("calibration")}
        attempt = 0 if led is None else led.attempts(key)
        seed = self._call_seed(key)
        calib = self._calibration()["id"]

        def recorded(job, how):  # the job id on disk before its result is awaited
            record = {"job_id": job.job_id(), "sim_seed": getattr(job, "sim_seed", seed), "attempt": attempt,
                      "calibration": calib}
            if led is not None:
                led.submitted(key, {**info, **record})
            return job, {**record, "how": how}

        if status == "submitting":  # the process died (or the response was lost) between sending and recording
            found = self._retry(lambda: runner.find(self._tag(key, attempt), pubs), f"looking up {what}")
            if found is not None:
                return recorded(found, "found")
            how = "submitted"  # never reached the service; its cost is already counted under this attempt
        else:
            if status == "failed":
                if not self.resubmit_failed:
                    raise JobFailedError(f"the store holds a failed job for {what} ({state.get('error')}); "
                                         "resubmit_failed=False: pass resubmit_failed=True to pay for it again")
                if led.failures(key) > self.max_resubmits:
                    raise JobFailedError(f"{what} failed {led.failures(key)} times ({state.get('error')}); not "
                                         f"resubmitting again (max_resubmits={self.max_resubmits})")
            how = "resubmitted" if status == "failed" else "submitted"
            attempt += 1
            self._check_call_budget(cost)
            if led is not None:
                led.submitting(key, info, qpu_seconds=cost, attempt=attempt)
            else:
                self._state()._spent += cost
        tag, found = self._tag(key, attempt), []

        def look_up():  # the service may have taken the job before the error: then it is paid already
            for i in range(self.max_retries + 1):  # a job just accepted may take a moment to be listed
                job = runner.find(tag, pubs)
                if job is not None:
                    found.append(True)
                    return job
                time.sleep(self.retry_delay * 2**i)
            return None

        job = self._retry(lambda: runner.submit(pubs, seed, tag), f"submitting {what}", on_transient=look_up)
        return recorded(job, "found" if found else how)

    @staticmethod
    def _tag(key: str, attempt: int) -> str:
        return f"qrnn-{key}-{attempt}"

    def _collect(self, runner, job, job_id, pubs, seed):
        transient = _transient_errors()
        for attempt in range(self.max_retries + 1):
            try:
                return runner.collect(job)
            except transient as exc:
                if attempt == self.max_retries:
                    raise RuntimeError(f"collecting job {job_id} failed {attempt + 1} times "
                                       f"({type(exc).__name__}: {exc}); run again to fetch it from the store") from exc
                time.sleep(self.retry_delay * 2**attempt)
                job = self._retry(lambda: runner.fetch(job_id, pubs, seed), f"fetching job {job_id}")
