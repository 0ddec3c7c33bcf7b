"""An independent computation of docs/models.md sections 1 and 2, written from the text.

Dense 2^n x 2^n matrices built with numpy Kronecker products, one sample at a
time; none of the package's code is used, only the weights it reports through
``circuit_weights()``.
"""
import numpy as np

I2 = np.eye(2)
H = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
Z = np.diag([1.0, -1.0])


def ry(t):
    return np.array([[np.cos(t / 2), -np.sin(t / 2)], [np.sin(t / 2), np.cos(t / 2)]])


def rz(t):
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


def on_wire(gate, wire, n):
    mats = [I2] * n
    mats[wire] = gate
    out = np.array([[1.0]])
    for m in mats:  # wire 0 is the leftmost (most significant) factor
        out = np.kron(out, m)
    return out


def cnot(control, target, n):
    P0, P1 = np.diag([1.0, 0.0]), np.diag([0.0, 1.0])
    X = np.array([[0.0, 1.0], [1.0, 0.0]])
    a = [I2] * n
    b = [I2] * n
    a[control] = P0
    b[control] = P1
    b[target] = X
    ka, kb = np.array([[1.0]]), np.array([[1.0]])
    for m1, m2 in zip(a, b):
        ka, kb = np.kron(ka, m1), np.kron(kb, m2)
    return ka + kb


def vqc_expvals(v, weights, correlators=False):
    """<Z_k> on every wire of the circuit of docs/models.md for one input vector ``v`` (len <= n),
    then, with ``correlators``, <Z_i Z_j> for i < j."""
    L, n, _ = weights.shape
    psi = np.zeros(2**n, dtype=complex)
    psi[0] = 1.0
    for i, x in enumerate(v):
        psi = on_wire(H, i, n) @ psi
        psi = on_wire(ry(np.arctan(x)), i, n) @ psi
        with np.errstate(over="ignore"):  # x**2 -> inf gives arctan = pi/2, as it should
            psi = on_wire(rz(np.arctan(x**2)), i, n) @ psi
    for layer in range(L):
        for d in (1, 2):
            for i in range(n):
                if (i + d) % n != i:
                    psi = cnot(i, (i + d) % n, n) @ psi
        for q in range(n):
            a, b, c = weights[layer, q]
            psi = on_wire(rz(c) @ ry(b) @ rz(a), q, n) @ psi
    ops = [on_wire(Z, k, n) for k in range(n)]
    if correlators:
        ops += [on_wire(Z, i, n) @ on_wire(Z, j, n) for i in range(n) for j in range(i + 1, n)]
    return np.array([np.real(psi.conj() @ op @ psi) for op in ops])


_paper = vqc_expvals  # the cell references take any circuit's expvals(v, w); the paper's by default


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def qrnn_reference(X, W, hidden, expvals=None):
    vqc_expvals = expvals or _paper
    out = np.zeros(X.shape[:2] + (hidden,))
    for b in range(X.shape[0]):
        h = np.zeros(hidden)
        for t in range(X.shape[1]):
            h = np.tanh(vqc_expvals(np.concatenate([X[b, t], h]), W[0])[:hidden])
            out[b, t] = h
    return out


def qlstm_reference(X, W, hidden, features="output", expvals=None):
    vqc_expvals = expvals or _paper
    n = X.shape[2] + hidden
    rows = []
    for b in range(X.shape[0]):
        h, c = np.zeros(hidden), np.zeros(n)
        seq = []
        for t in range(X.shape[1]):
            v = np.concatenate([X[b, t], h])
            f = sigmoid(vqc_expvals(v, W[0]))
            i = sigmoid(vqc_expvals(v, W[1]))
            g = np.tanh(vqc_expvals(v, W[2]))
            o = sigmoid(vqc_expvals(v, W[3]))
            c = f * c + i * g
            a = o * np.tanh(c)
            h = vqc_expvals(a, W[4])[:hidden]
            y = vqc_expvals(a, W[5])
            seq.append({"output": y, "state": np.concatenate([h, c]),
                        "all": np.concatenate([y, h, c])}[features])
        rows.append(seq)
    return np.array(rows)


def qgru_reference(X, W, hidden, expvals=None):
    vqc_expvals = expvals or _paper
    out = np.zeros(X.shape[:2] + (hidden,))
    for b in range(X.shape[0]):
        Hs = np.zeros(hidden)
        for t in range(X.shape[1]):
            x = X[b, t]
            v = np.concatenate([x, Hs])
            r = sigmoid(vqc_expvals(v, W[0])[:hidden])
            z = sigmoid(vqc_expvals(v, W[1])[:hidden])
            Ht = np.tanh(vqc_expvals(np.concatenate([x, r * Hs]), W[2])[:hidden])
            Hs = z * Hs + (1 - z) * Ht
            out[b, t] = Hs
    return out
