"""IBM Quantum backend: reservoirs on IBM devices, rehearsed offline on IBM's fake devices.

A recurrent reservoir needs step ``t``'s measured values before it can build
step ``t+1``'s circuits, so the floor is one round trip per dependent round of
circuits per time step. :class:`IBMBackend` meets it: each call of a compiled
group's ``columns`` (one round of one step) is exactly one primitive call
carrying every sample and every circuit of the group as parameterised PUBs.
With ``store=`` every call goes through a :class:`~qrnn.backends._ledger.Ledger`
first, so an interrupted run resumes without paying twice.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np

from .._optional import require
from .._validation import check_bool, check_choice, check_int, check_real
from ..circuit import VQC
from ._aer import build_qiskit_circuit
from ._ledger import Ledger, check_store_path
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

    def __init__(self, device_backend, noise: bool, shots: int | None):
        self.device, self.noise, self.shots = device_backend, noise, shots
        self._restricted: dict = {}
        self._noise: dict = {}
        self._full_noise = None

    def submit(self, pubs, seed: int):
        return _LocalJob(f"local-{os.urandom(8).hex()}", lambda: self._run(pubs, seed))

    def fetch(self, job_id: str, pubs, seed: int):
        # A fake device keeps no jobs: fetching re-runs the recorded PUBs with the
        # recorded simulator seed, which reproduces the job's result exactly.
        return _LocalJob(job_id, lambda: self._run(pubs, seed))

    def collect(self, job):
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
            out = [self._run([pub], seed + i) for i, pub in enumerate(pubs)]
            return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])
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
        return np.stack(evs), np.stack(stds)


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

    def submit(self, pubs, seed: int):
        return self._get_estimator().run(pubs, precision=self.precision)

    def fetch(self, job_id: str, pubs, seed: int):
        return self.service.job(job_id)

    def collect(self, job):
        result = job.result()
        evs = np.stack([np.asarray(r.data.evs, dtype=np.float64) for r in result])
        stds = np.stack([np.asarray(r.data.stds, dtype=np.float64) for r in result])
        return evs, stds


class _PlanBackend(Backend):
    """Stands in for the device while a transform is planned: returns zeros, records each call's size."""

    name = "ibm-plan"

    def __init__(self):
        self.sizes: list[tuple[int, int, int]] = []  # (circuits, samples, observables) per call

    def to_config(self) -> dict:  # pragma: no cover - never saved
        raise TypeError("the planning stand-in of IBMBackend.estimate is never saved")

    def compile(self, vqc: VQC, weights):
        K, n_obs = weights.shape[0], vqc.n_outputs

        def run(x):
            self.sizes.append((K, x.shape[0], n_obs))
            return np.zeros((K, x.shape[0], n_obs))

        return NumpyCompiled(self, run, weights.detach(), vqc)


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
        call is recorded before its result is awaited, finished calls are
        replayed from disk, submitted ones are fetched by job id, and a store
        made for another device, options or reservoir is refused.
    max_qpu_seconds : float, optional
        A ceiling (``> 0``) on the estimated QPU seconds this backend may spend
        (see :meth:`estimate`): a call that would cross it is refused before it
        is submitted. Calls replayed from the store cost nothing.
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
    retry_delay : float, default 1.0
        Seconds before the first retry, doubled at each further one.

    Attributes
    ----------
    calls : list of dict
        One entry per primitive call asked for in this process: ``key``,
        ``round``, ``step``, ``job_id`` and ``how`` (``"submitted"``,
        ``"fetched"`` or ``"replayed"`` from the store).

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
                 job_tags=None, max_retries=3, retry_delay=1.0):
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
        self._ledger = None if store is None else Ledger(store, self._ledger_config())
        self._device_backend = self._pass_manager = self._runner = None
        self._transient = _transient_errors()
        self._groups: list[str] = []
        self.calls: list[dict] = []
        self.qpu_seconds_spent = 0.0  # estimated, of calls submitted by this object

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

        The transform is planned on a stand-in backend (no circuit runs), so the
        counts are exactly those of the real run, for any reservoir.

        Returns
        -------
        dict
            ``calls`` (primitive calls: T times the rounds per step), ``pubs``
            (circuits per call, summed), ``circuits`` (circuit executions: PUBs
            times samples), ``shots`` (all of them), ``qpu_seconds`` (by the
            rough model ``SECONDS_PER_JOB`` per call plus ``SECONDS_PER_SHOT``
            per shot) and ``max_qpu_seconds``.

        Examples
        --------
        >>> import numpy as np
        >>> from qrnn import QLSTM
        >>> cost = IBMBackend("fake_manila", shots=1000).estimate(QLSTM(1, 3, seed=0), np.zeros((16, 4, 1)))
        >>> cost["calls"], cost["pubs"], cost["circuits"], cost["shots"]
        (8, 24, 384, 384000)
        """
        plan = _PlanBackend()
        params = {k: v for k, v in reservoir.get_params().items() if k != "compile"}
        params.update(backend=plan, shots=None, trainable=False, use_torch_compile=False)
        type(reservoir)(**params).transform(X)
        executions = sum(K * b for K, b, _ in plan.sizes)
        return {"calls": len(plan.sizes), "pubs": sum(K for K, _, _ in plan.sizes), "circuits": executions,
                "shots": executions * self.shots_per_circuit(),
                "qpu_seconds": self._qpu_seconds(len(plan.sizes), executions),
                "max_qpu_seconds": self.max_qpu_seconds}

    def check_budget(self, reservoir, X) -> dict:
        """:meth:`estimate`, refusing a run whose estimate exceeds ``max_qpu_seconds``.

        Call it before ``reservoir.transform(X)``: it raises before anything is
        submitted. (During the run, each call is also checked against the ceiling.)

        Raises
        ------
        ValueError
            The estimate exceeds ``max_qpu_seconds`` (the message gives both).

        Examples
        --------
        >>> import numpy as np
        >>> from qrnn import QRNN
        >>> ibm = IBMBackend("fake_manila", shots=1000, max_qpu_seconds=5.0)
        >>> ibm.check_budget(QRNN(1, 3, seed=0), np.zeros((4, 4, 1)))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the run is estimated at 12.0 QPU seconds (4 calls, 16 circuits of 1000 shots), ...
        """
        cost = self.estimate(reservoir, X)
        if self.max_qpu_seconds is not None and cost["qpu_seconds"] > self.max_qpu_seconds:
            raise ValueError(
                f"the run is estimated at {cost['qpu_seconds']:.1f} QPU seconds ({cost['calls']} calls, "
                f"{cost['circuits']} circuits of {self.shots_per_circuit()} shots), above "
                f"max_qpu_seconds={self.max_qpu_seconds:g}; nothing was submitted")
        return cost

    def _check_call_budget(self, K: int, B: int) -> None:
        if self.max_qpu_seconds is None:
            return
        cost = self._qpu_seconds(1, K * B)
        if self.qpu_seconds_spent + cost > self.max_qpu_seconds:
            raise RuntimeError(
                f"max_qpu_seconds={self.max_qpu_seconds:g} would be exceeded: {self.qpu_seconds_spent:.1f} s "
                f"estimated spent, this call needs {cost:.1f} s more; nothing was submitted. Check a run "
                "first with IBMBackend.estimate(reservoir, X), and raise the ceiling or shrink the run")

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
                "retry_delay": self.retry_delay}

    def _ledger_config(self) -> dict:
        """What a store is bound to: everything that changes the results (not where, or how patiently)."""
        cfg = self.to_config()
        for k in ("store", "max_qpu_seconds", "max_retries", "retry_delay", "job_tags", "mode"):
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
                self._runner = _AerLocalRunner(self.device_backend(), self.noise, self._effective_shots())
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
        if self._ledger is not None:
            rnd = self._ledger.register_group(fingerprint, description)
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

    def _retry(self, fn, what: str):
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except self._transient as exc:
                if attempt == self.max_retries:
                    raise RuntimeError(f"{what} failed {attempt + 1} times ({type(exc).__name__}: {exc}); "
                                       "run again to resume from the store") from exc
                time.sleep(self.retry_delay * 2**attempt)

    def _call(self, group: _Group, x: np.ndarray) -> np.ndarray:
        values = np.ascontiguousarray(group.vqc.input_angles(x)[:, None, :])  # (B, 1, P)
        digest = hashlib.sha256(group.fingerprint.encode())
        digest.update(repr(values.shape).encode())
        digest.update(values.tobytes())
        # Content-addressed: a re-run of the same transform (by this object or a new
        # process) meets the same keys and replays them. Within one run two calls
        # never share a key unless their circuits and inputs coincide exactly.
        key = digest.hexdigest()[:40]
        step = group.n_calls
        group.n_calls += 1
        info = {"round": group.round, "step": step, "backend": self.device, "primitive": self.primitive,
                "options": self._ledger_config(), "n_pubs": len(group.isa), "batch": int(values.shape[0])}
        state = None if self._ledger is None else self._ledger.state(key)
        if state is not None and state["status"] == "done":
            evs, _ = self._ledger.load(key)
            self.calls.append({"key": key, "round": group.round, "step": step,
                               "job_id": state.get("job_id"), "how": "replayed"})
            return evs
        runner, pubs = self._runner_for(), group.pubs(values)
        if state is not None:  # submitted before, never collected: fetch it, do not pay again
            seed, job_id, how = state["sim_seed"], state["job_id"], "fetched"
            job = self._retry(lambda: runner.fetch(job_id, pubs, seed), f"fetching job {job_id}")
        else:
            self._check_call_budget(len(group.isa), int(values.shape[0]))
            seed, how = self._call_seed(key), "submitted"
            job = self._retry(lambda: runner.submit(pubs, seed), f"submitting round {group.round} step {step}")
            job_id = job.job_id()
            self.qpu_seconds_spent += self._qpu_seconds(1, len(group.isa) * int(values.shape[0]))
            info.update(job_id=job_id, sim_seed=seed)
            if self._ledger is not None:
                self._ledger.submitted(key, info)
        self.calls.append({"key": key, "round": group.round, "step": step, "job_id": job_id, "how": how})
        evs, stds = self._collect(runner, job, job_id, pubs, seed)
        if self._ledger is not None:
            self._ledger.done(key, evs, stds, {**info, "job_id": job_id, "sim_seed": seed}, values=values)
        return evs

    def _collect(self, runner, job, job_id, pubs, seed):
        for attempt in range(self.max_retries + 1):
            try:
                return runner.collect(job)
            except self._transient as exc:
                if attempt == self.max_retries:
                    raise RuntimeError(f"collecting job {job_id} failed {attempt + 1} times "
                                       f"({type(exc).__name__}: {exc}); run again to fetch it from the store") from exc
                time.sleep(self.retry_delay * 2**attempt)
                job = self._retry(lambda: runner.fetch(job_id, pubs, seed), f"fetching job {job_id}")
