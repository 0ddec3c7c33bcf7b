"""Ledger-backed calls: each round of circuits as one primitive call, replayed, fetched, found or submitted."""
from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np

from ...circuit import VQC
from .errors import JobFailedError, _job_failures, _transient_errors
from .ledger import DamagedResultError
from .shared import _LOCAL


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


class _LedgerCalls:
    """:class:`~qrnn.backends.IBMBackend`'s calls: keys, seeds, retries, the store's records and the jobs."""

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
