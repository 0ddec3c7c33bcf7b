"""Numba kernels of ``qrnn.backends.torch.adjoint``, at module level so that numba's disk cache serves them.

(Kernels defined inside a function close over the jitted helpers they call,
and numba keys its cache on those closure values, which differ per process:
such kernels were compiled anew in every process.) Imported on first use only.
"""
import math

import numpy as np
from numba import njit, prange

from .fused_kernels import measure


_FAST = {"reassoc", "contract", "nsz"}


@njit(cache=True)
def gate(code, theta):
    """``(m00, m01, m10, m11)`` of a one-wire gate."""
    if code == 0:  # H
        r = 1.0 / math.sqrt(2.0)
        return complex(r, 0.0), complex(r, 0.0), complex(r, 0.0), complex(-r, 0.0)
    c, s = math.cos(0.5 * theta), math.sin(0.5 * theta)
    if code == 1:  # RX
        return complex(c, 0.0), complex(0.0, -s), complex(0.0, -s), complex(c, 0.0)
    if code == 2:  # RY
        return complex(c, 0.0), complex(-s, 0.0), complex(s, 0.0), complex(c, 0.0)
    return complex(c, -s), 0j, 0j, complex(c, s)  # RZ


@njit(cache=True)
def block(sub, x, w, m, d):
    """The fused matrix of one block into ``m (4,)``, and into ``d (S, 4)`` for each of its
    angle gates ``j`` the block with gate ``j`` replaced by ``R(theta + pi) = 2 dR/dtheta``."""
    S = sub.shape[0]
    m[0], m[1], m[2], m[3] = 1.0, 0.0, 0.0, 1.0
    for j in range(S):
        d[j, 0], d[j, 1], d[j, 2], d[j, 3] = 1.0, 0.0, 0.0, 1.0
    for s in range(S):
        code, src = sub[s, 0], sub[s, 1]
        if code < 0:
            break
        theta = x[sub[s, 2]] if src == 1 else (w[sub[s, 2]] if src == 2 else 0.0)
        g00, g01, g10, g11 = gate(code, theta)
        for j in range(S):  # every product so far, left-multiplied by this gate
            if j == s and src != 0:
                h00, h01, h10, h11 = gate(code, theta + math.pi)
            else:
                h00, h01, h10, h11 = g00, g01, g10, g11
            a00, a01, a10, a11 = d[j, 0], d[j, 1], d[j, 2], d[j, 3]
            d[j, 0], d[j, 1] = h00 * a00 + h01 * a10, h00 * a01 + h01 * a11
            d[j, 2], d[j, 3] = h10 * a00 + h11 * a10, h10 * a01 + h11 * a11
        a00, a01, a10, a11 = m[0], m[1], m[2], m[3]
        m[0], m[1] = g00 * a00 + g01 * a10, g00 * a01 + g01 * a11
        m[2], m[3] = g10 * a00 + g11 * a10, g10 * a01 + g11 * a11


@njit(cache=True, fastmath=_FAST)
def apply(psi, bit, m, inverse):
    """One-wire matrix ``m`` (or its inverse, the conjugate transpose) on ``psi``, in place."""
    if inverse:
        m00, m01, m10, m11 = m[0].conjugate(), m[2].conjugate(), m[1].conjugate(), m[3].conjugate()
    else:
        m00, m01, m10, m11 = m[0], m[1], m[2], m[3]
    # pairs (i, i + half) in runs of half every 2 half, unsigned (see fused_kernels.rotate): the
    # same pairs in the same order as one loop over k with i built from k's bits, which LLVM did not vectorize
    u = np.uint64
    half = u(1) << u(bit)
    base = u(0)
    end = u(psi.shape[0])
    while base < end:
        i = base
        e = base + half
        while i < e:
            a, b = psi[i], psi[i + half]
            psi[i] = m00 * a + m01 * b
            psi[i + half] = m10 * a + m11 * b
            i += u(1)
        base += u(2) * half


@njit(cache=True, fastmath=_FAST)
def permute(psi, tlo, thi, tmp):
    """``psi[i] = psi[thi[i >> l] ^ tlo[i & (2^l - 1)]]`` (a CNOT/SWAP run: ``fused._index_map``), via ``tmp``."""
    u = np.uint64
    L = u(tlo.shape[0])
    t = u(0)
    while t < u(thi.shape[0]):
        base = thi[t]
        o = t * L
        c = u(0)
        while c < L:
            tmp[o + c] = psi[base ^ tlo[c]]
            c += u(1)
        t += u(1)
    psi[:] = tmp


@njit(cache=True)
def block_arrays(kinds, sub, x, w, ms, ds, lo, hi):
    for o in range(lo, hi):
        if kinds[o] == 0:
            block(sub[o], x, w, ms[o], ds[o])


@njit(cache=True)
def run(psi, kinds, where, tlo, thi, l, ms, lo, hi, tmp):
    for o in range(lo, hi):
        if kinds[o] == 0:
            apply(psi, where[o], ms[o], False)
        else:
            permute(psi, tlo[where[o]], thi[where[o]], tmp)


@njit(cache=True)
def weight_blocks(kinds, sub, w, first, x_dummy):
    """Matrices of the blocks past the prefix, per circuit (they read weights, not inputs)."""
    K, n_ops, S = w.shape[0], kinds.shape[0], sub.shape[1]
    ms = np.zeros((K, n_ops, 4), dtype=np.complex128)
    ds = np.zeros((K, n_ops, S, 4), dtype=np.complex128)
    for k in range(K):
        block_arrays(kinds, sub, x_dummy, w[k], ms[k], ds[k], first, n_ops)
    return ms, ds


@njit(cache=True)
def reads_input(sub):
    for o in range(sub.shape[0]):
        for s in range(sub.shape[1]):
            if sub[o, s, 1] == 1:
                return True
    return False


@njit(cache=True)
def expectations(psi, obs, scratch, part, out, k, b):
    """The Z products of ``psi`` into ``out[k, :, b]``, read by rows and columns (``fused_kernels.measure``)."""
    kind, shi, slo, hid, shm = obs
    prob, rowsum, colsum, cs = scratch
    measure(psi.view(np.float64), shi.shape[1], slo.shape[1], 0, kind, shi, slo, hid, shm, prob, rowsum, colsum,
            cs, part)
    for o in range(kind.shape[0]):
        out[k, o, b] = part[0, o]


@njit(cache=True)
def obs_scratch(obs):
    kind, shi, slo, hid, shm = obs
    R, L = shi.shape[1], slo.shape[1]
    return (np.empty(L), np.empty(R), np.empty(L), np.empty((shm.shape[0], L))), np.empty((1, kind.shape[0]))


@njit(cache=True, fastmath=_FAST)
def weighted(psi, g, obs, colv, lam):
    """``lam = (sum_o g[o] Z_o) psi``, the Z products' signs read by rows and columns."""
    kind, shi, slo, hid, shm = obs
    R, L = shi.shape[1], slo.shape[1]
    for c in range(L):
        acc = 0.0
        for o in range(kind.shape[0]):
            if kind[o] == 1:
                acc += g[o] * slo[o, c]
        colv[c] = acc
    for r in range(R):
        rc = 0.0
        for o in range(kind.shape[0]):
            if kind[o] == 0:
                rc += g[o] * shi[o, r]
        for c in range(L):
            wgt = rc + colv[c]
            for o in range(kind.shape[0]):
                if kind[o] == 2:
                    wgt += g[o] * shi[o, r] * slo[o, c]
            lam[r * L + c] = wgt * psi[r * L + c]


@njit(cache=True)
def encode(v, b, cap, x):
    """The encoding angles of sample ``b`` into ``x``: ``arctan x_i`` and ``arctan x_i^2``, in
    ``VQC.input_angles`` order, the values capped at ``cap`` in magnitude."""
    for i in range(v.shape[0]):
        u = v[i, b]
        x[2 * i] = math.atan(min(max(u, -cap), cap))
        x[2 * i + 1] = math.atan(min(u * u, cap))


@njit(cache=True)
def encode_slopes(v, b, cap, gx, gv):
    """Chain the angle slopes ``gx`` of sample ``b`` to its inputs: ``d arctan(u)/du = 1 / (1 + u^2)``,
    for ``u = x_i`` and ``u = x_i^2`` (``du/dx = 2 x_i``); a capped value has slope 0."""
    for i in range(v.shape[0]):
        u = v[i, b]
        sq = u * u
        d1 = 1.0 / (1.0 + sq) if abs(u) <= cap else 0.0
        d2 = 2.0 * u / (1.0 + sq * sq) if sq <= cap else 0.0
        gv[i, b] = gx[2 * i] * d1 + gx[2 * i + 1] * d2


@njit(cache=True, parallel=True)
def forward(v, cap, w, kinds, where, sub, tlo, thi, ilo, ihi, l, first, obs, n_qubits, out):
    """``v (n_inputs, B)`` encoded values, ``w (K, P)`` weights -> ``out (K, n_obs, B)`` expectations."""
    B, K, D, n_ops, S, A = v.shape[1], w.shape[0], 2**n_qubits, kinds.shape[0], sub.shape[1], 2 * v.shape[0]
    wm, _ = weight_blocks(kinds, sub, w, first, np.zeros(max(A, 1)))
    late_inputs = reads_input(sub[first:])
    for b in prange(B):
        xb = np.empty(A)
        encode(v, b, cap, xb)
        xm = np.zeros((n_ops, 4), dtype=np.complex128)
        xd = np.zeros((n_ops, S, 4), dtype=np.complex128)
        block_arrays(kinds, sub, xb, w[0], xm, xd, 0, first)
        tmp = np.empty(D, dtype=np.complex128)
        enc = np.zeros(D, dtype=np.complex128)
        enc[0] = 1.0
        run(enc, kinds, where, tlo, thi, l, xm, 0, first, tmp)
        psi = np.empty(D, dtype=np.complex128)
        scratch, part = obs_scratch(obs)
        for k in range(K):
            ms = wm[k]
            if late_inputs:  # blocks past the prefix that read inputs: this sample's matrices
                ms = ms.copy()
                block_arrays(kinds, sub, xb, w[k], ms, xd, first, n_ops)
            psi[:] = enc
            run(psi, kinds, where, tlo, thi, l, ms, first, n_ops, tmp)
            expectations(psi, obs, scratch, part, out, k, b)


@njit(cache=True, fastmath=_FAST)
def slopes(lam, psi, bit, d, sub, acc):
    """``acc[s] = Re <lam| d[s] |psi>`` for every angle gate ``s`` of the block, in one pass."""
    S = sub.shape[0]
    for s in range(S):
        acc[s] = 0.0
    u = np.uint64
    half = u(1) << u(bit)
    base = u(0)
    end = u(psi.shape[0])
    while base < end:  # the pairs of apply(), in its order
        i = base
        e = base + half
        while i < e:
            a, b = psi[i], psi[i + half]
            li, lj = lam[i].conjugate(), lam[i + half].conjugate()
            for s in range(S):
                if sub[s, 1] > 0:
                    acc[s] += (li * (d[s, 0] * a + d[s, 1] * b) + lj * (d[s, 2] * a + d[s, 3] * b)).real
            i += u(1)
        base += u(2) * half


@njit(cache=True)
def undo(psi, lam, o, kinds, where, ilo, ihi, l, sub, m, d, tmp, acc, gx_b, gw_bk):
    """Undo operation ``o`` on ``psi`` and ``lam``, adding its angles' slopes to ``gx_b`` / ``gw_bk``."""
    if kinds[o] == 1:
        permute(psi, ilo[where[o]], ihi[where[o]], tmp)
        permute(lam, ilo[where[o]], ihi[where[o]], tmp)
        return
    apply(psi, where[o], m, True)
    slopes(lam, psi, where[o], d, sub[o], acc)
    for s in range(sub.shape[1]):
        if sub[o, s, 1] == 1:
            gx_b[sub[o, s, 2]] += acc[s]
        elif sub[o, s, 1] == 2:
            gw_bk[sub[o, s, 2]] += acc[s]
    apply(lam, where[o], m, True)


@njit(cache=True, parallel=True)
def backward(v, cap, w, kinds, where, sub, tlo, thi, ilo, ihi, l, first, obs, n_qubits, grad, gv, gw):
    """Adjoint pass: ``grad (K, n_obs, B)`` -> ``gv (n_inputs, B)`` and per-sample ``gw (B, K, P)``."""
    B, K, D, n_ops, S, A = v.shape[1], w.shape[0], 2**n_qubits, kinds.shape[0], sub.shape[1], 2 * v.shape[0]
    wm, wd = weight_blocks(kinds, sub, w, first, np.zeros(max(A, 1)))
    late_inputs = reads_input(sub[first:])
    for b in prange(B):
        xb = np.empty(A)
        encode(v, b, cap, xb)
        gxb = np.zeros(A)
        gw[b, :, :] = 0.0
        xm = np.zeros((n_ops, 4), dtype=np.complex128)
        xd = np.zeros((n_ops, S, 4), dtype=np.complex128)
        block_arrays(kinds, sub, xb, w[0], xm, xd, 0, first)
        tmp = np.empty(D, dtype=np.complex128)
        acc = np.empty(S)
        enc = np.zeros(D, dtype=np.complex128)
        enc[0] = 1.0
        run(enc, kinds, where, tlo, thi, l, xm, 0, first, tmp)
        psi = np.empty(D, dtype=np.complex128)
        lam = np.empty(D, dtype=np.complex128)
        lam_prefix = np.zeros(D, dtype=np.complex128)
        colv = np.empty(1 << l)
        for k in range(K):
            ms, ds = wm[k], wd[k]
            if late_inputs:  # blocks past the prefix that read inputs: this sample's matrices
                ms, ds = ms.copy(), ds.copy()
                block_arrays(kinds, sub, xb, w[k], ms, ds, first, n_ops)
            psi[:] = enc
            run(psi, kinds, where, tlo, thi, l, ms, first, n_ops, tmp)
            weighted(psi, grad[k, :, b], obs, colv, lam)
            for o in range(n_ops - 1, first - 1, -1):
                undo(psi, lam, o, kinds, where, ilo, ihi, l, sub, ms[o], ds[o], tmp, acc, gxb, gw[b, k])
            lam_prefix += lam
        # The prefix is the same for every circuit and the slopes are linear in lam: one pass
        # back through it with the circuits' lams summed gives all their input slopes at once.
        psi[:] = enc
        for o in range(first - 1, -1, -1):
            undo(psi, lam_prefix, o, kinds, where, ilo, ihi, l, sub, xm[o], xd[o], tmp, acc, gxb, gw[b, 0])
        encode_slopes(v, b, cap, gxb, gv)


KERNELS = forward, backward
