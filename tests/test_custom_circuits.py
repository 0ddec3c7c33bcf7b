"""Users' own circuits (ansatz=, encoding=) on every backend, against an independent Qiskit Statevector computation."""
import numpy as np
import pytest
import torch

from qrnn import QGRU, QLSTM, QRNN, load, save
from qrnn.backends import AerBackend, PennyLaneBackend, TorchBackend
from qrnn.circuit import GATES, VQC, Ansatz, Encoding, Weight, init_weights
from tests import reference
from tests.gradients import check_weight_gradient

qiskit = pytest.importorskip("qiskit")
from qiskit.circuit import ParameterVector  # noqa: E402
from qiskit.circuit.library import real_amplitudes  # noqa: E402
from qiskit.quantum_info import Statevector  # noqa: E402

CELLS = {"QRNN": QRNN, "QLSTM": QLSTM, "QGRU": QGRU}
REFERENCES = {"QRNN": reference.qrnn_reference, "QLSTM": reference.qlstm_reference, "QGRU": reference.qgru_reference}


def cz_rx(n=4):
    """A hand-made ansatz of CZ and RX (and a constant RY), in Qiskit."""
    t = ParameterVector("t", 2 * n)
    qc = qiskit.QuantumCircuit(n)
    for q in range(n):
        qc.rx(t[q], q)
    for q in range(n - 1):
        qc.cz(q, q + 1)
    qc.ry(0.3, 0)
    for q in range(n):
        qc.rx(t[n + q], q)
    return qc


ANSATZE = {"real_amplitudes": lambda: real_amplitudes(4, reps=2), "cz_rx": cz_rx}


def statevector_expvals(circuit, encoding="paper"):
    """``expvals(v, w)``: <Z_q> of the encoded ``v`` through ``circuit`` bound to ``w``, by Qiskit alone."""
    n = circuit.num_qubits

    def expvals(v, w):
        qc = qiskit.QuantumCircuit(n)
        for i, x in enumerate(v):
            if encoding == "paper":
                qc.h(i)
                qc.ry(np.arctan(x), i)
                qc.rz(np.arctan(x * x), i)
            else:
                qc.ry(x, i)
        qc.compose(circuit.assign_parameters(dict(zip(circuit.parameters, np.ravel(w)))), inplace=True)
        p = Statevector(qc).probabilities()  # index bit q is qubit q
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
        return p @ (1.0 - 2.0 * bits)

    return expvals


def test_qiskit_and_own_descriptions_are_one_circuit():
    own = Ansatz(4, [("RX", q, Weight(q)) for q in range(4)] + [("CZ", (q, q + 1)) for q in range(3)]
                 + [("RY", 0, 0.3)] + [("RX", q, Weight(4 + q)) for q in range(4)])
    converted = Ansatz.from_qiskit(cz_rx())
    assert converted == own and hash(converted) == hash(own)
    assert converted.weight_names == tuple(f"t[{j}]" for j in range(8))
    assert Ansatz.from_config(converted.to_config()) == converted
    # identity is the gates, not the size: another ansatz of the same shape is another circuit
    other = Ansatz(4, [("RY", q, Weight(q)) for q in range(4)] + [("CZ", (q, q + 1)) for q in range(3)]
                   + [("RY", 0, 0.3)] + [("RX", q, Weight(4 + q)) for q in range(4)])
    assert other != own and VQC(4, ansatz=other) != VQC(4, ansatz=own)


@pytest.mark.parametrize("name", GATES.names())
def test_every_gate_on_every_backend(name, rng):
    """Each registered gate, alone between random rotations and a constant one, on every exact backend and
    form (Lightning's per-gate kernel comparison): a new gate is covered by registering it."""
    spec = GATES[name]
    wires = (1,) if spec.n_wires == 1 else (2, 0)
    t = ParameterVector("t", 7)
    qc = qiskit.QuantumCircuit(3)
    for q in range(3):
        qc.ry(t[q], q)
    qc.rz(0.4, 1)  # a constant angle
    getattr(qc, spec.qiskit)(*([t[3]] if spec.n_params else []), *wires)
    for q in range(3):
        qc.rx(t[4 + q], q)
    ansatz = Ansatz.from_qiskit(qc)
    assert [op.name for op in ansatz.ops][4] == name
    vqc = VQC(3, n_inputs=2, ansatz=ansatz)
    # weight j is qc.parameters[j], sorted by name: t[3] (the gate's angle) is the fourth
    w = rng.uniform(0, 2 * np.pi, size=(2, qc.num_parameters))
    x = rng.normal(size=(5, 2)) * 2
    ref = np.stack([[statevector_expvals(qc)(v, wk) for v in x] for wk in w])
    backends = [TorchBackend(m) for m in ("heisenberg", "unitary", "gates")] + [PennyLaneBackend(), AerBackend()]
    for be in backends:
        out = be.compile(vqc, torch.as_tensor(w))(torch.as_tensor(x)).numpy()
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10, err_msg=f"{name} on {be!r}")
    # trained: the adjoint kernels where they know the gate, autograd otherwise; both against finite differences
    R = torch.as_tensor(rng.normal(size=ref.shape))
    xt = torch.as_tensor(x)

    def loss(weights, gradient="autograd"):
        return (TorchBackend(gradient=gradient).compile(vqc, weights)(xt) * R).sum()

    h, fd = 1e-6, np.zeros_like(w)
    for idx in np.ndindex(*w.shape):
        for sign in (1, -1):
            wp = w.copy()
            wp[idx] += sign * h
            fd[idx] += sign * float(loss(torch.as_tensor(wp))) / (2 * h)
    for gradient in ("auto", "autograd"):
        wt = torch.as_tensor(w).requires_grad_(True)
        group = TorchBackend(gradient=gradient).compile(vqc, wt)
        assert type(group).__name__ == ("_Adjoint" if gradient == "auto" and name not in ("CZ", "CRZ", "RZZ")
                                        else "_Heisenberg")
        np.testing.assert_allclose(group(xt).detach().numpy(), ref, rtol=0, atol=1e-10)
        loss(wt, gradient).backward()
        np.testing.assert_allclose(wt.grad.numpy(), fd, rtol=0, atol=1e-7, err_msg=f"gradient={gradient}")


def cell_backends(trainable_ok=True):
    yield "torch", TorchBackend()  # frozen: the stream kernels (the paper's encoding, any ansatz)
    for m in ("heisenberg", "unitary", "gates"):
        yield f"torch-{m}", TorchBackend(m, stream_max_batch=0)
    yield "pennylane", PennyLaneBackend()
    yield "aer", AerBackend()


@pytest.mark.parametrize("ansatz", sorted(ANSATZE))
@pytest.mark.parametrize("cls", sorted(CELLS))
def test_cells_on_a_custom_ansatz_agree_with_qiskit(cls, ansatz, rng):
    qc = ANSATZE[ansatz]()
    X = rng.normal(size=(3, 4, 1)) * 1.5
    seed = int(rng.integers(1000))
    ref_cell = CELLS[cls](1, 3, seed=seed, init="uniform", ansatz=qc)
    W = np.stack(ref_cell.circuit_weights())
    assert W.shape == (CELLS[cls].n_circuits, qc.num_parameters)
    ref = REFERENCES[cls](X, W, 3, expvals=statevector_expvals(qc))
    for label, be in cell_backends():
        F = CELLS[cls](1, 3, seed=seed, init="uniform", ansatz=qc, backend=be).transform(X)
        np.testing.assert_allclose(F, ref, rtol=0, atol=1e-10, err_msg=label)
    for gradient in ("auto", "autograd"):  # trainable: adjoint kernels (real_amplitudes) or autograd (CZ)
        res = CELLS[cls](1, 3, seed=seed, init="uniform", ansatz=qc, trainable=True,
                         backend=TorchBackend(gradient=gradient))
        F = res(torch.as_tensor(X)).detach().numpy()
        np.testing.assert_allclose(F, ref, rtol=0, atol=1e-10, err_msg=f"trainable, gradient={gradient}")


@pytest.mark.parametrize("ansatz", sorted(ANSATZE))
@pytest.mark.parametrize("cls", sorted(CELLS))
def test_gradients_on_a_custom_ansatz_match_finite_differences(cls, ansatz, rng):
    qc = ANSATZE[ansatz]()
    X = torch.as_tensor(rng.normal(size=(2, 3, 1)))
    res = CELLS[cls](1, 3, seed=int(rng.integers(1000)), init="uniform", ansatz=qc, trainable=True)
    R = torch.as_tensor(rng.normal(size=(2, 3, res.n_features)))
    check_weight_gradient(res, X, R)


def test_angle_encoding_on_every_backend(rng):
    qc = cz_rx()
    X = rng.normal(size=(2, 4, 1))
    seed = int(rng.integers(1000))
    enc = Encoding("angle", scaling=0.7)
    W = np.stack(QRNN(1, 3, seed=seed, ansatz=qc, encoding=enc).circuit_weights())
    expvals = statevector_expvals(qc, encoding="angle")
    ref = reference.qrnn_reference(X, W, 3, expvals=lambda v, w: expvals(0.7 * np.asarray(v), w))
    for label, be in cell_backends():
        F = QRNN(1, 3, seed=seed, ansatz=qc, encoding=enc, backend=be).transform(X)
        np.testing.assert_allclose(F, ref, rtol=0, atol=1e-10, err_msg=label)
    res = QRNN(1, 3, seed=seed, ansatz=qc, encoding=enc, trainable=True)
    np.testing.assert_allclose(res(torch.as_tensor(X)).detach().numpy(), ref, rtol=0, atol=1e-10)
    # the paper's encoding with the same ansatz is another circuit
    assert np.abs(QRNN(1, 3, seed=seed, ansatz=qc).transform(X) - ref).max() > 1e-3


@pytest.mark.parametrize("given", ["qiskit", "own"])
def test_a_custom_circuit_saves_and_loads(given, tmp_path, rng):
    qc = cz_rx()
    ansatz = qc if given == "qiskit" else Ansatz.from_qiskit(qc)
    X = rng.normal(size=(2, 5, 1))
    res = QLSTM(1, 3, seed=3, ansatz=ansatz, encoding=Encoding("angle", scaling=2.0), features="all")
    save(res, tmp_path / "m.npz")
    back = load(tmp_path / "m.npz")
    assert back.vqc == res.vqc and isinstance(back.ansatz, Ansatz) and back.encoding == res.encoding
    np.testing.assert_array_equal(back.transform(X), res.transform(X))


def test_a_cache_is_keyed_on_the_gates_not_the_size(rng):
    """Two cells of one size and seed but other ansatze never share compiled circuits or kernels."""
    X = rng.normal(size=(2, 4, 1))
    a = QRNN(1, 3, seed=1, ansatz=cz_rx())
    other = cz_rx()
    other.h(2)
    b = QRNN(1, 3, seed=1, ansatz=other)
    assert a.weights.shape == b.weights.shape
    assert np.abs(a.transform(X) - b.transform(X)).max() > 1e-3
    ref = reference.qrnn_reference(X, np.stack(b.circuit_weights()), 3, expvals=statevector_expvals(other))
    np.testing.assert_allclose(b.transform(X), ref, rtol=0, atol=1e-10)


def test_bad_circuits_are_refused_at_construction():
    with pytest.raises(ValueError, match=r"ansatz has 4 qubits; this cell's circuits have input_size \+ hidden_size = 3"):
        QRNN(1, 2, ansatz=cz_rx(4))
    with pytest.raises(ValueError, match="n_layers sets the depth of the paper's ansatz"):
        QRNN(1, 3, n_layers=2, ansatz=cz_rx())
    with pytest.raises(TypeError, match="ansatz must be a qrnn.circuit.Ansatz or a qiskit QuantumCircuit"):
        QRNN(1, 3, ansatz="ry-cz")
    with pytest.raises(ValueError, match="encoding must be one of"):
        QRNN(1, 3, encoding="amplitude")
    t = ParameterVector("t", 2)
    qc = qiskit.QuantumCircuit(4)
    qc.rx(2 * t[0], 0)
    with pytest.raises(ValueError, match=r"instruction 0 \(rx\): angle 2\*t\[0\] is an expression"):
        Ansatz.from_qiskit(qc)
    qc = qiskit.QuantumCircuit(4)
    qc.append(qiskit.circuit.Gate("mystery", 1, []), [0])  # no definition to decompose
    with pytest.raises(ValueError, match=r"gate 'mystery' is not supported"):
        Ansatz.from_qiskit(qc)
    qc = qiskit.QuantumCircuit(4, 1)
    with pytest.raises(ValueError, match="classical bits"):
        Ansatz.from_qiskit(qc)
    with pytest.raises(ValueError, match=r"gates\[0\]: the angle of RX must be a Weight\(j\) or a finite float"):
        Ansatz(2, [("RX", 0, 1)])
    with pytest.raises(ValueError, match=r"gates\[0\]: unknown gate 'CY'"):
        Ansatz(2, [("CY", (0, 1))])
    with pytest.raises(ValueError, match=r"gates\[0\]: gate CZ acts on 2 distinct wire\(s\) in 0..1"):
        Ansatz(2, [("CZ", (0, 2))])
    with pytest.raises(ValueError, match=r"weights \[0\] are never used"):
        Ansatz(2, [("RX", 0, Weight(1))])


def test_composite_library_blocks_are_decomposed(rng):
    """A library block (here a Qiskit gate built from a sub-circuit) is expanded into known gates."""
    inner = cz_rx(2)
    qc = qiskit.QuantumCircuit(4)
    qc.append(inner.to_gate(label="block"), [1, 3])
    qc.h(0)
    a = Ansatz.from_qiskit(qc)
    assert {op.name for op in a.ops} <= {"RX", "CZ", "RY", "H"}
    vqc = VQC(4, ansatz=a)
    w = init_weights(1, vqc, "uniform", seed=0)
    x = rng.normal(size=(3, 4))
    out = TorchBackend().compile(vqc, torch.as_tensor(w))(torch.as_tensor(x)).numpy()
    ref = np.stack([[statevector_expvals(qc)(v, wk) for v in x] for wk in w])
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-10)


def test_a_custom_circuit_on_a_fake_ibm_device(rng):
    """The IBM path renders the same description (transpiled for the device, noise off: exact)."""
    from qrnn.backends import IBMBackend

    pytest.importorskip("qiskit_ibm_runtime")
    X = rng.normal(size=(2, 3, 1))
    qc = cz_rx()
    res = QRNN(1, 3, seed=4, ansatz=qc, backend=IBMBackend("fake_manila", noise=False, seed=0))
    ref = reference.qrnn_reference(X, np.stack(res.circuit_weights()), 3, expvals=statevector_expvals(qc))
    np.testing.assert_allclose(res.transform(X), ref, rtol=0, atol=1e-10)


def test_an_ibm_store_knows_its_circuits_gates(tmp_path, rng):
    """A store keys its groups on the circuit's gates: another ansatz of the same size and seed is another
    reservoir (refused), never served the first one's paid results; the same one resumes for free."""
    from qrnn.backends import IBMBackend

    pytest.importorskip("qiskit_ibm_runtime")
    X = rng.normal(size=(2, 2, 1))
    other = cz_rx()
    other.h(1)

    def run(qc):
        be = IBMBackend("fake_manila", shots=200, seed=1, store=tmp_path)
        return QRNN(1, 3, seed=4, ansatz=qc, backend=be).transform(X), be

    first, be = run(cz_rx())
    assert len(be.calls) == 2
    again, be = run(cz_rx())
    np.testing.assert_array_equal(again, first)
    assert [c["how"] for c in be.calls] == ["replayed", "replayed"]  # nothing paid again
    with pytest.raises(ValueError, match="was made for another reservoir"):
        run(other)
