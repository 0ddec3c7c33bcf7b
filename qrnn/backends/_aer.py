"""Qiskit Aer renderer: exact expectation values, or shot estimates from Z-basis samples."""
from __future__ import annotations

import hashlib
import os

import numpy as np

from .._optional import require
from .._validation import check_choice, check_int, check_seed
from ..circuit import GATES, VQC
from .base import Backend, NumpyCompiled


def build_qiskit_circuit(vqc: VQC, weights_flat: np.ndarray, measure: bool = False):
    """Render one circuit of ``vqc`` with its weights bound; input angles stay parameters.

    Qiskit qubit ``q`` is wire ``q``. The parameters are a ``ParameterVector``
    named ``"x"`` of length ``vqc.n_angles`` in :meth:`VQC.input_angles` order.
    """
    qiskit = require("qiskit", "rendering a circuit for Qiskit")
    from qiskit.circuit import ParameterVector

    x = ParameterVector("x", vqc.n_angles)
    qc = qiskit.QuantumCircuit(vqc.n_qubits)
    w = vqc.with_constants(np.asarray(weights_flat, dtype=np.float64))
    for name, wires, ref in vqc.gates():
        method = getattr(qc, GATES[name].qiskit)
        if ref is None:
            method(*wires)
        else:
            method(x[ref[1]] if ref[0] == "x" else float(w[vqc.slot(ref)]), *wires)
    if measure:
        qc.measure_all()
    return qc


def z_expectations_from_bits(packed: np.ndarray, n_qubits: int, observables) -> np.ndarray:
    """Z-product estimates per sample from a BitArray's packed bytes ``(B, shots, n_bytes)``.

    Returns ``(B, len(observables))``: for each wire tuple, the shot mean of
    the product of ``1 - 2 b_w``. Qiskit packs classical bit 0 as the lowest
    bit of the last byte.
    """
    bits = np.unpackbits(packed, axis=-1, bitorder="big")[..., ::-1][..., :n_qubits]
    z = 1.0 - 2.0 * bits  # (B, shots, n) eigenvalues of each Z_q, shot by shot
    return np.stack([np.prod(z[..., list(w)], axis=-1).mean(axis=1) for w in observables], axis=1)


class AerBackend(Backend):
    """Qiskit Aer simulator, exact (``shots=None``) or shot-based.

    Parameters
    ----------
    shots : int, optional
        ``None`` for exact expectation values (Aer's EstimatorV2 at precision
        0); an integer for estimates from that many Z-basis samples per input
        and circuit (Aer's SamplerV2), the way hardware measures.
    seed : int or numpy.random.Generator, optional
        Seeds the sampler. With an int, each evaluation's simulator seed is
        derived from it and from the evaluation's weights and inputs: a
        transform of the same data gives the same shots whatever ran before,
        and time steps get independent noise. A Generator is drawn from at
        each evaluation; None samples afresh every time.
    method : {"statevector", "density_matrix", "matrix_product_state", "automatic"}, default "statevector"
        Aer simulation method (the ones that give exact expectation values of
        arbitrary rotations).
    noise_model : qiskit_aer.noise.NoiseModel, optional
        A noise model, e.g. ``NoiseModel.from_backend(fake_backend)``.

    Examples
    --------
    >>> import torch
    >>> from qrnn.circuit import VQC
    >>> run = AerBackend().compile(VQC(2), torch.zeros(1, 2, 2, 3, dtype=torch.float64))
    >>> tuple(run(torch.ones(3, 2, dtype=torch.float64)).shape)
    (1, 3, 2)
    """

    name = "aer"
    differentiable = False

    METHODS = ("statevector", "density_matrix", "matrix_product_state", "automatic")

    def __init__(self, shots: int | None = None, seed=None, method: str = "statevector",
                 noise_model=None):
        aer = require("qiskit_aer", "backend 'aer'")
        self.shots = None if shots is None else check_int(shots, "shots", minimum=1)
        self.seed = check_seed(seed)
        self.method = check_choice(method, "method", self.METHODS)
        if noise_model is not None and not isinstance(noise_model, aer.noise.NoiseModel):
            raise TypeError(f"noise_model must be a qiskit_aer.noise.NoiseModel (e.g. NoiseModel.from_backend(...)), "
                            f"got {type(noise_model).__name__}")
        self.exact = self.shots is None and noise_model is None
        self.noise_model = noise_model

    def _call_seed(self, w: np.ndarray, angles: np.ndarray) -> int:
        """The simulator seed of one call: from the seed and the call's weights and inputs.

        An int seed gives every call a seed of its own that depends on nothing
        but what the call computes, so runs are reproducible whatever ran
        before, and the backend keeps no state that evaluation changes."""
        if self.seed is None:
            return int.from_bytes(os.urandom(4), "little") >> 1
        if isinstance(self.seed, np.random.Generator):  # the caller's stream, advanced
            return int(self.seed.integers(2**31 - 1))
        digest = hashlib.sha256(str(self.seed).encode())
        digest.update(np.ascontiguousarray(w).tobytes())
        digest.update(np.ascontiguousarray(angles).tobytes())
        return int.from_bytes(digest.digest()[:4], "little") >> 1

    def __repr__(self) -> str:
        return f"AerBackend(shots={self.shots}, seed={self.seed}, method={self.method!r})"

    def to_config(self) -> dict:
        if self.noise_model is not None:
            raise ValueError("an AerBackend with a noise model cannot be saved; save the model with the "
                             "backend given by name and set the noise model again after loading")
        return {"kind": "aer", "shots": self.shots, "seed": self.seed, "method": self.method}

    def _backend_options(self) -> dict:
        opts = {"method": self.method}
        if self.noise_model is not None:
            opts["noise_model"] = self.noise_model
        return opts

    def compile(self, vqc: VQC, weights):
        self.check_weights(vqc, weights)
        primitives = require("qiskit_aer.primitives", "backend 'aer'")
        w = weights.detach().cpu().numpy().reshape(weights.shape[0], -1).astype(np.float64)
        n, K, obs = vqc.n_qubits, w.shape[0], vqc.observables()
        measure = self.shots is not None
        circuits = [build_qiskit_circuit(vqc, wk, measure=measure) for wk in w]

        if not measure:
            estimator = primitives.EstimatorV2(
                options={"default_precision": 0.0, "backend_options": self._backend_options()}
            )
            # Qiskit's Pauli strings put qubit 0 rightmost.
            labels = ["".join("Z" if q in wires else "I" for q in reversed(range(n))) for wires in obs]
            observables = np.array(labels).reshape(len(obs), 1)

            def run(x: np.ndarray) -> np.ndarray:
                angles = vqc.input_angles(x)
                result = estimator.run([(qc, observables, angles) for qc in circuits]).result()
                evs = np.stack([np.asarray(r.data.evs, dtype=np.float64) for r in result])
                return evs.reshape(K, len(obs), x.shape[0]).transpose(0, 2, 1)

            return NumpyCompiled(self, run, weights, vqc)

        def run_shots(x: np.ndarray) -> np.ndarray:
            angles = vqc.input_angles(x)
            sampler = primitives.SamplerV2(
                default_shots=self.shots,
                seed=self._call_seed(w, angles),
                options={"backend_options": self._backend_options()},
            )
            result = sampler.run([(qc, angles) for qc in circuits]).result()
            return np.stack([z_expectations_from_bits(r.data.meas.array, n, obs) for r in result])

        return NumpyCompiled(self, run_shots, weights, vqc)
