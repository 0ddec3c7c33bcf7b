"""Numba kernels of ``qrnn.backends._stream``, at module level so that numba's disk cache serves them.

(Kernels defined inside a function close over the jitted helpers they call,
and numba keys its cache on those closure values, which differ per process:
such kernels were compiled anew in every process.) Imported on first use only.
"""
import math

import numpy as np
from numba import njit, prange


# reassociation lets LLVM vectorise the dot products (no finite-math assumptions; agreement
# with the batched path stays at rounding level, tested to 1e-12)


@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def group(v, maps, coeffs, bloch, kron, out):
    """One group in the Heisenberg picture, for one sample.

    ``v (n,)`` inputs; ``maps (n, 4, 9)`` Bloch maps of the encoding
    (wire w: H, RY(arctan v_w), RZ(arctan v_w^2)); ``coeffs (4 R, 4^(n-1))``
    rows (output, Pauli index of wire 0); ``out (R,)`` the outputs.
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
    # Kronecker product of wires 1..n-1, wire 1 most significant
    size = 1
    kron[0] = 1.0
    for w in range(n - 1, 0, -1):
        for a in range(3, -1, -1):  # a = 0 last: it overwrites the entries the others read
            f = bloch[w, a]
            for j in range(size):
                kron[a * size + j] = f * kron[j]
        size *= 4
    D = coeffs.shape[1]
    for r in range(out.shape[0]):
        acc = 0.0
        for a in range(4):
            row = coeffs[4 * r + a]
            s = 0.0
            for j in range(D):
                s += row[j] * kron[j]
            acc += s * bloch[0, a]
        out[r] = acc


@njit(cache=True)
def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@njit(cache=True, parallel=True)
def qrnn(xs, h0, maps, coeffs, n_obs, corr, feats, h_out):
    """QRNN over ``xs (B, T, I)`` from ``h0 (B, H)``; writes ``feats (B, T, F)`` and ``h_out``."""
    B, T, I = xs.shape
    H = h0.shape[1]
    n = maps.shape[0]
    for b in prange(B):  # sequences are independent: one per thread
        bloch = np.empty((n, 4))
        kron = np.empty(4 ** (n - 1))
        v = np.empty(n)
        out = np.empty(n_obs)
        h = np.empty(H)
        h[:] = h0[b]
        for t in range(T):
            v[:I] = xs[b, t]
            v[I:] = h
            group(v, maps, coeffs, bloch, kron, out)
            for k in range(H):
                h[k] = math.tanh(out[k])
                feats[b, t, k] = h[k]
            if corr:
                feats[b, t, H:] = out[n:]
        h_out[b] = h


@njit(cache=True, parallel=True)
def qlstm(xs, h0, c0, maps_g, coeffs_g, maps_r, coeffs_r, n_obs, mode, corr, feats, h_out, c_out):
    """QLSTM; ``mode`` 0 output, 1 state, 2 all (see QLSTM.n_features)."""
    B, T, I = xs.shape
    H = h0.shape[1]
    n = maps_g.shape[0]
    for b in prange(B):  # sequences are independent: one per thread
        bloch = np.empty((n, 4))
        kron = np.empty(4 ** (n - 1))
        v = np.empty(n)
        z = np.empty(4 * n)
        heads = np.empty(2 * n_obs)
        h = np.empty(H)
        c = np.empty(n)
        a = np.empty(n)
        h[:] = h0[b]
        c[:] = c0[b]
        for t in range(T):
            v[:I] = xs[b, t]
            v[I:] = h
            group(v, maps_g, coeffs_g, bloch, kron, z)
            for q in range(n):
                c[q] = sigmoid(z[q]) * c[q] + sigmoid(z[n + q]) * math.tanh(z[2 * n + q])
                a[q] = sigmoid(z[3 * n + q]) * math.tanh(c[q])
            group(a, maps_r, coeffs_r, bloch, kron, heads)
            h[:] = heads[:H]
            f = feats[b, t]
            i = 0
            if mode != 1:
                f[:n] = heads[n_obs:n_obs + n]
                i = n
            if mode != 0:
                f[i:i + H] = h
                f[i + H:i + H + n] = c
                i += H + n
            if corr:
                f[i:] = heads[n_obs + n:]
        h_out[b] = h
        c_out[b] = c


@njit(cache=True, parallel=True)
def qgru(xs, h0, maps_g, coeffs_g, maps_c, coeffs_c, n_obs_g, n_obs_c, corr, feats, h_out):
    B, T, I = xs.shape
    H = h0.shape[1]
    n = maps_g.shape[0]
    for b in prange(B):  # sequences are independent: one per thread
        bloch = np.empty((n, 4))
        kron = np.empty(4 ** (n - 1))
        v = np.empty(n)
        rz = np.empty(2 * n_obs_g)
        out = np.empty(n_obs_c)
        h = np.empty(H)
        h[:] = h0[b]
        for t in range(T):
            v[:I] = xs[b, t]
            v[I:] = h
            group(v, maps_g, coeffs_g, bloch, kron, rz)
            for k in range(H):
                v[I + k] = sigmoid(rz[k]) * h[k]
            group(v, maps_c, coeffs_c, bloch, kron, out)
            for k in range(H):
                zk = sigmoid(rz[n_obs_g + k])
                h[k] = zk * h[k] + (1.0 - zk) * math.tanh(out[k])
                feats[b, t, k] = h[k]
            if corr:
                feats[b, t, H:] = out[n:]
        h_out[b] = h


KERNELS = {"qrnn": qrnn, "qlstm": qlstm, "qgru": qgru}
