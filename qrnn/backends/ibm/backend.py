"""The IBM backend: its options, what its copies share, the device, transpilation and compiled groups."""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import uuid

import numpy as np

from ..._optional import require
from ..._validation import check_bool, check_choice, check_int, check_real
from ...circuit import VQC
from .._aer import build_qiskit_circuit
from ..base import Backend, NumpyCompiled
from .calls import _Group, _LedgerCalls
from .credentials import _has_credentials
from .devices import DEFAULT_PRECISION, choose_primitive, fake_device_names
from .ledger import check_store_path, open_ledger
from .planner import _CostPlanner
from .runner import _RuntimeRunner
from .shared import _LOCAL, _SHARED, _Shared, _shared_for
from .simulator import _AerLocalRunner


class IBMBackend(_CostPlanner, _LedgerCalls, Backend):
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
        Directory of the call ledger (see :mod:`qrnn.backends.ibm.ledger`): every
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
        :class:`~qrnn.backends.ibm.ledger.StoreLockedError` naming it, ``True``
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
        """The store's :class:`~qrnn.backends.ibm.ledger.Ledger` (its records, spend, results), or None."""
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

    def layout(self, vqc: VQC) -> list[int]:
        """The physical qubit of each wire of ``vqc`` that this backend's transpiler picks (its initial layout).

        It depends on the circuit's gates, not on its angles; ``Noise.from_device(device, qubits=...)``
        takes it, so that a noise model reads the calibration of the qubits the circuits would run on.

        Examples
        --------
        >>> from qrnn.circuit import VQC
        >>> len(IBMBackend("fake_manila", seed=1).layout(VQC(4)))
        4
        """
        if not isinstance(vqc, VQC):
            raise TypeError(f"vqc must be a qrnn.circuit.VQC, got {type(vqc).__name__}")
        if vqc.n_qubits > self.device_backend().num_qubits:
            raise ValueError(f"vqc needs {vqc.n_qubits} qubits but device {self.device!r} has "
                             f"{self.device_backend().num_qubits}")
        # generic angles: zeros could let the transpiler drop gates and with them a wire's constraints
        w = np.random.default_rng(0).uniform(0.5, 1.5, vqc.n_weights)
        with self._state().mutex:
            circuit = self._transpile(build_qiskit_circuit(vqc, w))
        return [int(q) for q in circuit.layout.initial_index_layout(filter_ancillas=True)[:vqc.n_qubits]]

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
