"""Shots and device noise on the torch engine, against Qiskit Aer (issue 19).

The noisy reference is written here from the circuit description: each gate
of ``vqc.gates()`` rendered in Qiskit, the channels appended after it as
explicit Aer error instructions, the density matrix simulated by Aer.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qrnn import QGRU, QLSTM, QRNN
from qrnn.backends import AerBackend, Backend, Noise, TorchBackend, get_backend
from qrnn.backends.base import NumpyCompiled
from qrnn.circuit import VQC, Ansatz, Weight, init_weights

aer_noise = pytest.importorskip("qiskit_aer.noise")
qiskit = pytest.importorskip("qiskit")

NOISE = Noise(p1=[0.01, 0.02, 0.015, 0.03, 0.005], p2=0.04, readout=[0.01, 0.03, 0.02, 0.05, 0.0],
              t1=[50.0, 80.0, 60.0, 70.0, 90.0], t2=[70.0, 100.0, 110.0, 60.0, 150.0], gate_time=0.6,
              gate_time_2q=2.5)


def _one_wire_errors(noise, q, n):
    errs = [aer_noise.depolarizing_error(noise._wires("p1", n)[q], 1)]
    if noise.t1 is not None:
        errs.append(aer_noise.thermal_relaxation_error(noise._wires("t1", n)[q], noise._wires("t2", n)[q],
                                                       noise.gate_time))
    return errs


def noisy_reference(vqc: VQC, w: np.ndarray, x: np.ndarray, noise: Noise) -> np.ndarray:
    """``<Z products>`` of one circuit on one input, with ``noise``, by Aer's density matrix: ``(n_obs,)``."""
    from qiskit_aer import AerSimulator

    n = vqc.n_qubits
    angles = np.asarray(vqc.input_angles(x[None, :]))[0]
    wc = vqc.with_constants(w.reshape(-1))
    qc = qiskit.QuantumCircuit(n)
    n_enc = sum(len(op.wires) for op in vqc.encoding_ops())
    for i, (name, wires, ref) in enumerate(vqc.gates()):
        gate = {"H": "h", "RX": "rx", "RY": "ry", "RZ": "rz", "CNOT": "cx", "SWAP": "swap", "CZ": "cz",
                "CRZ": "crz", "RZZ": "rzz"}[name]
        if ref is None:
            getattr(qc, gate)(*wires)
        elif name == "CRZ":  # not a gate of Aer's density-matrix method: its matrix instead
            from qiskit.circuit.library import CRZGate, UnitaryGate
            from qiskit.quantum_info import Operator

            qc.append(UnitaryGate(Operator(CRZGate(float(wc[vqc.slot(ref)])))), list(wires))
        else:
            value = angles[ref[1]] if ref[0] == "x" else wc[vqc.slot(ref)]
            getattr(qc, gate)(float(value), *wires)
        if len(wires) == 1:
            # the paper's Rot = RZ RY RZ is one gate: its channel follows the last RZ only
            if i >= n_enc and vqc.ansatz.name == "paper" and ref[1] % 3 != 2:
                continue
            for e in _one_wire_errors(noise, wires[0], n):
                qc.append(e.to_instruction(), [wires[0]])
        else:
            qc.append(aer_noise.depolarizing_error(noise.p2, 2).to_instruction(), list(wires))
            if noise.t1 is not None:
                for q in wires:
                    qc.append(aer_noise.thermal_relaxation_error(noise._wires("t1", n)[q], noise._wires("t2", n)[q],
                                                                 noise.gate_time_2q).to_instruction(), [q])
    qc.save_density_matrix()
    rho = np.asarray(AerSimulator(method="density_matrix").run(qc).result().data()["density_matrix"])
    flips = noise.readout_factors(n)
    out = []
    for wires in vqc.observables():
        # Qiskit's basis index has qubit 0 as its lowest bit
        idx = np.arange(2**n)
        sign = np.prod([1 - 2 * ((idx >> q) & 1) for q in wires], axis=0)
        out.append(float(np.real(np.diag(rho)) @ sign) * np.prod(flips[list(wires)]))
    return np.array(out)


class NoisyAerReference(Backend):
    """The reference above as a backend, so that whole cells run on it."""

    name = "noisy-aer-reference"

    def __init__(self, noise):
        self.noise = noise

    def to_config(self):
        return {"kind": self.name}

    def compile(self, vqc, weights):
        w = weights.detach().numpy().reshape(weights.shape[0], -1)

        def run(x):
            return np.stack([np.stack([noisy_reference(vqc, wk, xb, self.noise) for xb in x]) for wk in w])

        return NumpyCompiled(self, run, weights, vqc)


def _pick(noise, n):
    """``noise`` restricted to the first ``n`` wires."""
    cfg = noise.to_config()
    for k in ("p1", "readout", "t1", "t2"):
        if isinstance(cfg[k], list):
            cfg[k] = cfg[k][:n]
    return Noise(**cfg)


@pytest.mark.parametrize("cell", [QRNN, QLSTM, QGRU])
def test_cells_with_noise_match_the_aer_density_matrix(cell):
    kw = dict(input_size=1, hidden_size=2, seed=3, correlators=True, init="uniform")
    noise = _pick(NOISE, 3)
    X = np.random.default_rng(0).normal(size=(2, 3, 1))
    got = cell(**kw, backend=TorchBackend(noise=noise)).transform(X)
    ref = cell(**kw, backend=NoisyAerReference(noise)).transform(X)
    exact = cell(**kw).transform(X)
    assert np.abs(got - ref).max() < 1e-8
    assert np.abs(got - exact).max() > 1e-2  # the noise is there


@pytest.mark.parametrize("ansatz", [
    None,
    Ansatz(3, [("RX", 0, Weight(0)), ("CZ", (0, 1)), ("CRZ", (1, 2), Weight(1)), ("H", 2), ("SWAP", (0, 2)),
               ("RZZ", (0, 1), Weight(2)), ("RY", 1, 0.7), ("CNOT", (2, 0))]),
])
@pytest.mark.parametrize("encoding", ["paper", "angle"])
def test_circuits_with_noise_match_aer_for_custom_gates_and_encodings(ansatz, encoding):
    vqc = VQC(3, ansatz=ansatz, correlators=True, encoding=encoding, n_inputs=2)
    noise = _pick(NOISE, 3)
    w = init_weights(2, vqc, "uniform", seed=1)
    x = np.random.default_rng(2).normal(size=(3, 2))
    got = TorchBackend(noise=noise).compile(vqc, torch.tensor(w))(torch.tensor(x)).numpy()
    ref = np.stack([np.stack([noisy_reference(vqc, wk, xb, noise) for xb in x]) for wk in w])
    assert np.abs(got - ref).max() < 1e-8


def test_identity_channels_give_the_exact_values():
    # relaxation over no time and zero probabilities: the noisy form must be the exact Heisenberg form
    vqc = VQC(4, correlators=True)
    w = torch.tensor(init_weights(3, vqc, "uniform", seed=4))
    x = torch.tensor(np.random.default_rng(5).normal(size=(6, 4)))
    idle = Noise(t1=math.inf, t2=math.inf, gate_time=1.0)
    got = TorchBackend(noise=idle).compile(vqc, w)(x)
    assert torch.abs(got - TorchBackend().compile(vqc, w)(x)).max() < 1e-13


def test_readout_flips_scale_each_z_by_one_minus_two_e():
    vqc = VQC(3, correlators=True)
    w = torch.tensor(init_weights(2, vqc, "uniform", seed=6))
    x = torch.tensor(np.random.default_rng(7).normal(size=(4, 3)))
    e = np.array([0.02, 0.1, 0.3])
    got = TorchBackend(noise=Noise(readout=list(e))).compile(vqc, w)(x).numpy()
    exact = TorchBackend().compile(vqc, w)(x).numpy()
    f = 1 - 2 * e
    factors = [f[list(o)].prod() for o in vqc.observables()]
    np.testing.assert_allclose(got, exact * np.array(factors), atol=1e-14)


def test_noise_reaches_gradients_by_autograd():
    vqc = VQC(3)
    w = torch.tensor(init_weights(1, vqc, "uniform", seed=8), requires_grad=True)
    x = torch.tensor(np.random.default_rng(9).normal(size=(2, 3)))
    be = TorchBackend(noise=_pick(NOISE, 3))
    be.compile(vqc, w)(x).sum().backward()
    h, d = 1e-6, torch.zeros_like(w)
    d.view(-1)[5] = h
    with torch.no_grad():
        num = (be.compile(vqc, w + d)(x).sum() - be.compile(vqc, w - d)(x).sum()) / (2 * h)
    assert abs(w.grad.view(-1)[5].item() - num.item()) < 1e-7


# --- shots ---------------------------------------------------------------------------------------

def _shot_runs(backend_of, vqc, w, x, seeds):
    return np.stack([backend_of(s).compile(vqc, w)(x).numpy() for s in seeds])  # (seeds, K, B, n_obs)


def test_torch_shots_are_distributed_as_aer_shots():
    vqc = VQC(3, correlators=True)
    w = torch.tensor(init_weights(1, vqc, "uniform", seed=10))
    x = torch.tensor(np.random.default_rng(11).normal(size=(2, 3)))
    shots, seeds = 100, range(300)
    torch_runs = _shot_runs(lambda s: TorchBackend(shots=shots, seed=s), vqc, w, x, seeds)
    aer_runs = _shot_runs(lambda s: AerBackend(shots=shots, seed=s), vqc, w, x, seeds)
    exact = TorchBackend().compile(vqc, w)(x).numpy()
    var = (1 - exact**2) / shots  # a Z product is +-1 shot by shot
    se = np.sqrt(var / len(seeds))
    for runs in (torch_runs, aer_runs):
        assert np.all(np.abs(runs.mean(0) - exact) < 4.5 * se + 1e-12)
        ratio = runs.var(0, ddof=1) / var
        assert np.all((ratio > 0.65) & (ratio < 1.45)), ratio
    spread = torch_runs.var(0, ddof=1) / aer_runs.var(0, ddof=1)
    assert np.all((spread > 0.55) & (spread < 1.8)), spread
    # every feature from the same shots: a correlator estimate is the mean of the product of the bits,
    # so it is exactly +-1 when there is one shot and it equals the product of the single estimates
    one = TorchBackend(shots=1, seed=0).compile(vqc, w)(x).numpy()
    np.testing.assert_array_equal(one[..., 3], one[..., 0] * one[..., 1])


def test_noisy_shots_average_to_the_exact_noisy_values():
    vqc = VQC(3, correlators=True)
    noise = _pick(NOISE, 3)
    w = torch.tensor(init_weights(1, vqc, "uniform", seed=12))
    x = torch.tensor(np.random.default_rng(13).normal(size=(2, 3)))
    runs = _shot_runs(lambda s: TorchBackend(shots=200, seed=s, noise=noise), vqc, w, x, range(200))
    exact = TorchBackend(noise=noise).compile(vqc, w)(x).numpy()
    se = np.sqrt((1 - exact**2) / 200 / 200)
    assert np.all(np.abs(runs.mean(0) - exact) < 4.5 * se)


def test_shots_on_many_wires_sample_state_vectors():
    vqc = VQC(7, correlators=True)  # beyond the Heisenberg form: probabilities from state vectors
    w = torch.tensor(init_weights(2, vqc, "uniform", seed=14))
    x = torch.tensor(np.random.default_rng(15).normal(size=(3, 7)))
    runs = _shot_runs(lambda s: TorchBackend(shots=400, seed=s), vqc, w, x, range(100))
    exact = TorchBackend().compile(vqc, w)(x).numpy()
    se = np.sqrt((1 - exact**2) / 400 / 100)
    assert np.all(np.abs(runs.mean(0) - exact) < 4.5 * se + 1e-12)


def test_shots_do_not_depend_on_the_memory_budget_split():
    vqc = VQC(3, correlators=True)
    w = torch.tensor(init_weights(2, vqc, "uniform", seed=20))
    x = torch.tensor(np.random.default_rng(21).normal(size=(40, 3)))
    for noise in (None, _pick(NOISE, 3)):
        whole = TorchBackend(shots=64, seed=3, noise=noise).compile(vqc, w)(x)
        small = TorchBackend(shots=64, seed=3, noise=noise, chunk_bytes=2**15)
        group = small.compile(vqc, w)
        assert group.budget // group._sample_bytes() < 40  # it really splits the batch
        assert torch.equal(group(x), whole)


def test_same_seed_same_shots_and_calls_draw_independently():
    vqc = VQC(3)
    w = torch.tensor(init_weights(1, vqc, "uniform", seed=16))
    x = torch.tensor(np.random.default_rng(17).normal(size=(4, 3)))
    a = TorchBackend(shots=50, seed=1).compile(vqc, w)(x)
    b = TorchBackend(shots=50, seed=1).compile(vqc, w)(x)
    c = TorchBackend(shots=50, seed=2).compile(vqc, w)(x)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # two inputs equal within one batch still get their own shots
    same = TorchBackend(shots=50, seed=1).compile(vqc, w)(x[:1].expand(8, 3).clone())
    assert len({tuple(r.tolist()) for r in same[0]}) > 1
    # a reservoir with shots: its seed reproduces a transform
    X = np.random.default_rng(18).normal(size=(3, 4, 1))
    r1 = QLSTM(1, 2, seed=5, backend="torch", shots=100).transform(X)
    r2 = QLSTM(1, 2, seed=5, backend="torch", shots=100).transform(X)
    np.testing.assert_array_equal(r1, r2)
    assert not QLSTM(1, 2, seed=5, shots=100).exact


def test_backend_round_trips_its_config():
    be = TorchBackend(shots=64, seed=3, noise=_pick(NOISE, 4))
    cfg = be.to_config()
    back = get_backend("torch").__class__(**{k: v for k, v in cfg.items() if k != "kind"})
    assert back.noise == be.noise and back.shots == 64 and back.seed == 3
    from qrnn.backends import backend_from_config

    assert backend_from_config(cfg).noise == be.noise


@pytest.mark.parametrize("make, exc, match", [
    (lambda: Noise(p1=1.2), ValueError, r"p1 must be in \[0, 1\]"),
    (lambda: Noise(p2=-0.1), ValueError, r"p2 must be in \[0, 1\]"),
    (lambda: Noise(readout=[0.1, 2.0]), ValueError, r"readout\[1\] must be in \[0, 1\]"),
    (lambda: Noise(t1=10.0, t2=25.0, gate_time=1.0), ValueError, "t2 must be <= 2 t1"),
    (lambda: Noise(t1=10.0), ValueError, "t1 and t2 go together"),
    (lambda: Noise(t1=10.0, t2=5.0), ValueError, "need gate_time"),
    (lambda: Noise(gate_time=1.0), ValueError, "only apply with t1 and t2"),
    (lambda: Noise(p1=[0.1, 0.2], readout=[0.1]), ValueError, "one length"),
    (lambda: TorchBackend(shots=0), ValueError, "shots must be >= 1"),
    (lambda: TorchBackend(noise=0.01), TypeError, "noise must be a qrnn.backends.Noise"),
    (lambda: TorchBackend(method="gates", noise=Noise(p1=0.01)), ValueError, "method must be 'auto' or 'heisenberg'"),
    (lambda: TorchBackend(gradient="adjoint", noise=Noise(p1=0.01)), ValueError, "gradient='adjoint'"),
    (lambda: get_backend("pennylane", shots=10), ValueError, "takes no shots"),
    (lambda: Noise.from_device("fake_nowhere", qubits=[0]), ValueError, "unknown fake device 'fake_nowhere'"),
    (lambda: Noise.from_device("fake_manila"), ValueError, "qubits: give the physical qubit"),
    (lambda: Noise.from_device("fake_manila", qubits=[0, 7]), ValueError, r"distinct physical qubits in \[0, 5\)"),
])
def test_bad_input_is_refused_at_construction(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_wrong_wire_count_and_trainable_shots_are_refused():
    vqc = VQC(3)
    w = torch.tensor(init_weights(1, vqc, seed=0))
    with pytest.raises(ValueError, match="per-wire values for 2 wires"):
        TorchBackend(noise=Noise(p1=[0.1, 0.2])).compile(vqc, w)
    with pytest.raises(ValueError, match="shot estimates have no gradient"):
        TorchBackend(shots=10).compile(vqc, w.clone().requires_grad_())


# --- calibrated from a device ----------------------------------------------------------------------

def test_from_device_reads_the_layout_qubits_calibration():
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    dev = FakeManilaV2()
    noise = Noise.from_device(dev, qubits=[3, 1])
    t = dev.target
    assert noise.readout == (t["measure"][(3,)].error, t["measure"][(1,)].error)
    assert noise.t1 == (t.qubit_properties[3].t1, t.qubit_properties[1].t1)
    # two sx pulses, less what their relaxation explains (Aer's rule; 0 where relaxation explains it all)
    from qrnn.backends.noise import average_gate_fidelity, relaxation_ptm

    for p, q in zip(noise.p1, [3, 1]):
        e = 1 - (1 - t["sx"][(q,)].error) ** 2
        qp = t.qubit_properties[q]
        r = 1 - average_gate_fidelity(relaxation_ptm(qp.t1, min(qp.t2, 2 * qp.t1), 2 * t["sx"][(q,)].duration))
        assert p == pytest.approx(max(0.0, 2 * (e - r) / (2 * (1 - r) - 1)), rel=1e-12)
    assert noise.p1[1] > 0  # qubit 1's error is more than its relaxation
    # against Aer's own device model: two of its sx errors have the infidelity of our one-wire channel
    from qiskit.quantum_info import average_gate_fidelity as aer_fidelity
    from qiskit_aer.noise import NoiseModel

    aer = NoiseModel.from_backend(dev)._local_quantum_errors["sx"]
    for w, q in enumerate([3, 1]):
        two = aer[(q,)].compose(aer[(q,)])
        ours = noise.one_wire(2)[w]
        assert 1 - average_gate_fidelity(ours) == pytest.approx(1 - aer_fidelity(two), rel=2e-3)
    assert abs(noise.gate_time - 2 * t["sx"][(3,)].duration) < 1e-12
    # the layout's qubits 3 and 1 share no coupling: p2 is then the device's mean
    assert 0.005 < noise.p2 < 0.015
    assert Noise.from_device("fake_manila", qubits=[3, 1]) == noise


def test_calibrated_noise_is_closer_to_the_noisy_rehearsal_than_exact():
    from qrnn.backends import IBMBackend

    X = np.random.default_rng(19).uniform(-1, 1, size=(3, 3, 1))
    cell = dict(input_size=1, hidden_size=3, seed=2, init="uniform", correlators=True)
    rehearsal = IBMBackend("fake_manila", shots=200_000, seed=1)
    layout = rehearsal.layout(QLSTM(**cell).circuit(0))
    noise = Noise.from_device("fake_manila", qubits=layout)
    ref = QLSTM(**cell, backend=rehearsal).transform(X)
    exact = QLSTM(**cell).transform(X)
    calibrated = QLSTM(**cell, backend=TorchBackend(noise=noise)).transform(X)
    d_exact, d_cal = np.abs(exact - ref).mean(), np.abs(calibrated - ref).mean()
    assert d_cal <= 0.5 * d_exact, (d_cal, d_exact)
