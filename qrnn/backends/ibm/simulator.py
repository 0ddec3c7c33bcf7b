"""The local noisy simulator of a fake device: its PUBs on Aer, on the physical qubits the layout uses."""
from __future__ import annotations

import json
import os

import numpy as np

from ..._files import atomic_write
from ..._optional import require
from .ledger import _loads


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
