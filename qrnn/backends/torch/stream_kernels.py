"""Numba kernels of ``qrnn.backends.torch.stream``, at module level so that numba's disk cache serves them.

(Kernels defined inside a function close over the jitted helpers they call,
and numba keys its cache on those closure values, which differ per process:
such kernels were compiled anew in every process.) Imported on first use only.
"""
import math

import numpy as np
from numba import njit, prange


# Two sequences advance together in each thread ("lanes"; LANES is 2 throughout): the dot products
# against the Heisenberg coefficients, most of a step's arithmetic, then load
# each coefficient once for both, and keep 8 independent accumulators in
# flight: faster than one sequence a row at a time (the per-sample times of one coefficient
# block: benchmarks/RESULTS.md, "One long stream and small batches: compiled recurrence kernels").
LANES = 2

# reassociation lets LLVM vectorise the dot products (no finite-math assumptions; agreement
# with the batched path stays at rounding level, tested to 1e-12)
_FAST = {"reassoc", "contract", "nsz"}


@njit(cache=True, fastmath=_FAST)
def encode(v, maps, bloch, kron):
    """Bloch vectors ``bloch (n, 4)`` of the encoded inputs ``v (n,)`` and the Kronecker
    product ``kron (4^(n-1),)`` of wires 1..n-1 (wire 1 most significant).

    ``maps (n, 4, 9)`` are the encoding's Bloch maps (wire w: H, RY(arctan v_w),
    RZ(arctan v_w^2)), multilinear in ``(1, cos, sin)`` of both angles.
    """
    n = maps.shape[0]
    for w in range(n):
        u1 = v[w]
        u2 = u1 * u1
        c1 = 1.0 / math.sqrt(1.0 + u1 * u1)
        s1 = u1 * c1
        c2 = 1.0 / math.sqrt(1.0 + u2 * u2)
        s2 = u2 * c2
        for a in range(4):
            m = maps[w, a]
            bloch[w, a] = (m[0] + m[1] * c2 + m[2] * s2 + c1 * (m[3] + m[4] * c2 + m[5] * s2)
                           + s1 * (m[6] + m[7] * c2 + m[8] * s2))
    size = 1
    kron[0] = 1.0
    for w in range(n - 1, 0, -1):
        for a in range(3, -1, -1):  # a = 0 last: it overwrites the entries the others read
            f = bloch[w, a]
            for j in range(size):
                kron[a * size + j] = f * kron[j]
        size *= 4


@njit(cache=True, fastmath=_FAST)
def group(v, maps, coeffs, bloch, kron, out, lanes):
    """One group in the Heisenberg picture, for the ``lanes`` (1 or 2) sequences of a thread.

    ``v (LANES, n)`` inputs; ``coeffs (4 R, 4^(n-1))`` rows (output, Pauli
    index of wire 0); ``out (LANES, R)`` the outputs; ``bloch`` and ``kron``
    scratch of shapes ``(LANES, n, 4)`` and ``(LANES, 4^(n-1))``.
    """
    encode(v[0], maps, bloch[0], kron[0])
    k0, b0 = kron[0], bloch[0, 0]
    if lanes == 1:
        for r in range(out.shape[1]):
            c0, c1, c2, c3 = coeffs[4 * r], coeffs[4 * r + 1], coeffs[4 * r + 2], coeffs[4 * r + 3]
            s0 = s1 = s2 = s3 = 0.0
            for j in range(coeffs.shape[1]):
                p = k0[j]
                s0 += c0[j] * p
                s1 += c1[j] * p
                s2 += c2[j] * p
                s3 += c3[j] * p
            out[0, r] = s0 * b0[0] + s1 * b0[1] + s2 * b0[2] + s3 * b0[3]
        return
    encode(v[1], maps, bloch[1], kron[1])
    k1, b1 = kron[1], bloch[1, 0]
    for r in range(out.shape[1]):
        c0, c1, c2, c3 = coeffs[4 * r], coeffs[4 * r + 1], coeffs[4 * r + 2], coeffs[4 * r + 3]
        s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = 0.0
        for j in range(coeffs.shape[1]):
            p, q = k0[j], k1[j]
            s0 += c0[j] * p
            s1 += c1[j] * p
            s2 += c2[j] * p
            s3 += c3[j] * p
            t0 += c0[j] * q
            t1 += c1[j] * q
            t2 += c2[j] * q
            t3 += c3[j] * q
        out[0, r] = s0 * b0[0] + s1 * b0[1] + s2 * b0[2] + s3 * b0[3]
        out[1, r] = t0 * b1[0] + t1 * b1[1] + t2 * b1[2] + t3 * b1[3]


@njit(cache=True)
def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True)
def lanes_of(p, B, lanes):
    """The sequences of lane group ``p`` and how many there are (an odd last one runs alone)."""
    first = lanes * p
    return (first, min(first + 1, B - 1)), min(lanes, B - first)


@njit(cache=True)
def scratch(n):
    """A thread's scratch for ``group``, per lane: Bloch vectors, Kronecker products, circuit inputs."""
    return np.empty((LANES, n, 4)), np.empty((LANES, 4 ** (n - 1))), np.empty((LANES, n))


@njit(cache=True)
def gather(dst, src, seqs, nl):
    """``dst[lane] = src[the lane's sequence]``: a state in."""
    for ln in range(nl):
        dst[ln] = src[seqs[ln]]


@njit(cache=True)
def scatter(dst, src, seqs, nl):
    """``dst[the lane's sequence] = src[lane]``: a state out."""
    for ln in range(nl):
        dst[seqs[ln]] = src[ln]


@njit(cache=True)
def load_inputs(v, xs, t, h, seqs, nl):
    """``v[lane] = concat(x_t, h)`` of each lane's sequence."""
    I = xs.shape[2]
    for ln in range(nl):
        v[ln, :I] = xs[seqs[ln], t]
        v[ln, I:] = h[ln]


@njit(cache=True, parallel=True)
def qrnn(xs, h0, maps, coeffs, n_obs, corr, feats, h_out, lanes):
    """QRNN over ``xs (B, T, I)`` from ``h0 (B, H)``; writes ``feats (B, T, F)`` and ``h_out``.

    ``lanes`` (1 or ``LANES``) sequences advance together in a thread (``qrnn.backends.torch.stream.lanes_for``)."""
    B, T, I = xs.shape
    H = h0.shape[1]
    n = maps.shape[0]
    for p in prange((B + lanes - 1) // lanes):  # sequences are independent: one or two per thread at a time
        seqs, nl = lanes_of(p, B, lanes)
        bloch, kron, v = scratch(n)
        out = np.empty((LANES, n_obs))
        h = np.empty((LANES, H))
        gather(h, h0, seqs, nl)
        for t in range(T):
            load_inputs(v, xs, t, h, seqs, nl)
            group(v, maps, coeffs, bloch, kron, out, nl)
            for ln in range(nl):
                b = seqs[ln]
                for k in range(H):
                    h[ln, k] = math.tanh(out[ln, k])
                    feats[b, t, k] = h[ln, k]
                if corr:
                    feats[b, t, H:] = out[ln, n:]
        scatter(h_out, h, seqs, nl)


@njit(cache=True, parallel=True)
def qlstm(xs, h0, c0, maps_g, coeffs_g, maps_r, coeffs_r, n_obs, mode, corr, feats, h_out, c_out, lanes):
    """QLSTM; ``mode`` 0 output, 1 state, 2 all (see QLSTM.n_features)."""
    B, T, I = xs.shape
    H = h0.shape[1]
    n = maps_g.shape[0]
    for p in prange((B + lanes - 1) // lanes):  # sequences are independent: one or two per thread at a time
        seqs, nl = lanes_of(p, B, lanes)
        bloch, kron, v = scratch(n)
        z = np.empty((LANES, 4 * n))
        heads = np.empty((LANES, 2 * n_obs))
        h = np.empty((LANES, H))
        c = np.empty((LANES, n))
        a = np.empty((LANES, n))
        gather(h, h0, seqs, nl)
        gather(c, c0, seqs, nl)
        for t in range(T):
            load_inputs(v, xs, t, h, seqs, nl)
            group(v, maps_g, coeffs_g, bloch, kron, z, nl)
            for ln in range(nl):
                for q in range(n):
                    c[ln, q] = (sigmoid(z[ln, q]) * c[ln, q]
                                + sigmoid(z[ln, n + q]) * math.tanh(z[ln, 2 * n + q]))
                    a[ln, q] = sigmoid(z[ln, 3 * n + q]) * math.tanh(c[ln, q])
            group(a, maps_r, coeffs_r, bloch, kron, heads, nl)
            for ln in range(nl):
                h[ln] = heads[ln, :H]
                f = feats[seqs[ln], t]
                i = 0
                if mode != 1:
                    f[:n] = heads[ln, n_obs:n_obs + n]
                    i = n
                if mode != 0:
                    f[i:i + H] = h[ln]
                    f[i + H:i + H + n] = c[ln]
                    i += H + n
                if corr:
                    f[i:] = heads[ln, n_obs + n:]
        scatter(h_out, h, seqs, nl)
        scatter(c_out, c, seqs, nl)


@njit(cache=True, parallel=True)
def qgru(xs, h0, maps_g, coeffs_g, maps_c, coeffs_c, n_obs_g, n_obs_c, corr, feats, h_out, lanes):
    B, T, I = xs.shape
    H = h0.shape[1]
    n = maps_g.shape[0]
    for p in prange((B + lanes - 1) // lanes):  # sequences are independent: one or two per thread at a time
        seqs, nl = lanes_of(p, B, lanes)
        bloch, kron, v = scratch(n)
        rz = np.empty((LANES, 2 * n_obs_g))
        out = np.empty((LANES, n_obs_c))
        h = np.empty((LANES, H))
        gather(h, h0, seqs, nl)
        for t in range(T):
            load_inputs(v, xs, t, h, seqs, nl)
            group(v, maps_g, coeffs_g, bloch, kron, rz, nl)
            for ln in range(nl):
                for k in range(H):
                    v[ln, I + k] = sigmoid(rz[ln, k]) * h[ln, k]
            group(v, maps_c, coeffs_c, bloch, kron, out, nl)
            for ln in range(nl):
                b = seqs[ln]
                for k in range(H):
                    zk = sigmoid(rz[ln, n_obs_g + k])
                    h[ln, k] = zk * h[ln, k] + (1.0 - zk) * math.tanh(out[ln, k])
                    feats[b, t, k] = h[ln, k]
                if corr:
                    feats[b, t, H:] = out[ln, n:]
        scatter(h_out, h, seqs, nl)


KERNELS = {"qrnn": qrnn, "qlstm": qlstm, "qgru": qgru}
