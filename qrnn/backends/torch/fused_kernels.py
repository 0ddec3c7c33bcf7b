"""Numba kernels of ``qrnn.backends.torch.fused``, at module level so that numba's disk cache serves them.

A state of ``2^n`` amplitudes is seen as ``2^h`` rows (the high bits, wire 0
the most significant) of ``2^l`` contiguous amplitudes (the low bits). Pass A
of a layer writes each row ("tile") once: it gathers the row's amplitudes
through the layer's index map (from the previous state, or from the product
state, computed, never stored), multiplies in the phases, and applies the
layer's rotations on the low bits while the tile is in the L1/L2 cache. Pass
B applies the rotations on the high bits to groups of ``C`` columns, copied
into a contiguous buffer (the rows are ``2^l`` amplitudes apart: worked in
place, a power-of-two stride maps them all to a few cache sets), and either
writes them back or, after the last layer, reads the Z expectations off them
without writing anything. Sums are taken per column group and added in
order, so the results do not depend on the number of threads.

Imported on first use only.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True)
def product_tables(amp, l, ehi, elo):
    """Row and column factors of the product state: ``psi[r 2^l + c] = ehi[r] elo[c]``.

    ``amp (n, 2)``: each wire's amplitudes; wire ``q`` is bit ``n - 1 - q``.
    """
    n = amp.shape[0]
    elo[0] = 1.0
    for b in range(l):
        q = n - 1 - b
        half = 1 << b
        for i in range(half):
            elo[i + half] = elo[i] * amp[q, 1]
            elo[i] = elo[i] * amp[q, 0]
    ehi[0] = 1.0
    for b in range(n - l):
        q = n - 1 - l - b
        half = 1 << b
        for i in range(half):
            ehi[i + half] = ehi[i] * amp[q, 1]
            ehi[i] = ehi[i] * amp[q, 0]


@njit(cache=True, fastmath=True)
def rotate(f, start, stop, dist, c, s):
    """Real rotation ``[[c, -s], [s, c]]`` on the pairs ``(i, i + dist)`` of ``f[start:stop]``, taken in
    runs of ``dist`` every ``2 dist``. Unsigned indices: with signed ones numba guards every access
    against negative indices and LLVM does not vectorize the loop (5x slower, measured)."""
    d = np.uint64(dist)
    base = np.uint64(start)
    end = np.uint64(stop)
    while base < end:
        k = base
        e = base + d
        while k < e:
            a = f[k]
            b = f[k + d]
            f[k] = c * a - s * b
            f[k + d] = s * a + c * b
            k += np.uint64(1)
        base += np.uint64(2) * d


@njit(cache=True)
def pass_a_tile(t, l, src, from_product, ehi, elo, thi, tlo, q_on, qhi, qlo, d_on, phi, plo,
                ryc, rys, ry_on, dst, dstf):
    """Row ``t`` of a layer's output: gathered, phased, rotated on the low bits."""
    L = 1 << l
    mask = L - 1
    o = t * L
    base = thi[t]
    ph = phi[t]
    for c in range(L):
        j = base ^ tlo[c]
        if from_product:
            v = ehi[j >> l] * elo[j & mask]
        else:
            v = src[j]
            if q_on:
                v = v * (qhi[j >> l] * qlo[j & mask])
        if d_on:
            v = v * (ph * plo[c])
        dst[o + c] = v
    for b in range(l):
        if ry_on[b]:
            rotate(dstf, 2 * o, 2 * (o + L), 2 << b, ryc[b], rys[b])


@njit(cache=True, fastmath=True)
def copy_rows(a, a0, a_stride, b, b0, b_stride, rows, width):
    """``width`` doubles of each of ``rows`` rows from ``a`` to ``b`` (unsigned indices: see :func:`rotate`)."""
    u = np.uint64
    w = u(width)
    for r in range(rows):
        ia = u(a0) + u(r) * u(a_stride)
        ib = u(b0) + u(r) * u(b_stride)
        x = u(0)
        while x < w:
            b[ib + x] = a[ia + x]
            x += u(1)


@njit(cache=True, fastmath=True)
def measure(buf, R, C, g, kind, shi, slo, hid, shm, prob, rowsum, colsum, cs, part):
    """Z products of column group ``g`` (its amplitudes ``buf (R, C)``, as doubles) into ``part[g]``."""
    W = 2 * C
    for x in range(C):
        colsum[x] = 0.0
    for m in range(shm.shape[0]):
        for x in range(C):
            cs[m, x] = 0.0
    for r in range(R):
        acc = 0.0
        for x in range(C):
            re = buf[r * W + 2 * x]
            im = buf[r * W + 2 * x + 1]
            p = re * re + im * im
            prob[x] = p
            acc += p
            colsum[x] += p
        rowsum[r] = acc
        for m in range(shm.shape[0]):  # signed column sums for the observables on both halves
            sgn = shm[m, r]
            for x in range(C):
                cs[m, x] += sgn * prob[x]
    for o in range(kind.shape[0]):
        acc = 0.0
        if kind[o] == 0:  # high wires only
            for r in range(R):
                acc += shi[o, r] * rowsum[r]
        elif kind[o] == 1:  # low wires only
            for x in range(C):
                acc += slo[o, g * C + x] * colsum[x]
        else:
            for x in range(C):
                acc += slo[o, g * C + x] * cs[hid[o], x]
        part[g, o] = acc


@njit(cache=True)
def pass_b_group(g, l, C, statef, buf, ryc, rys, ry_on, last, kind, shi, slo, hid, shm, scratch, part):
    """Columns ``g C .. g C + C - 1``: rotated on the high bits, then written back or measured."""
    n = ryc.shape[0]
    h = n - l
    L = 1 << l
    R = 1 << h
    W = 2 * C
    if not last:
        for b in range(l, n):
            if ry_on[b]:
                break
        else:  # no rotation on the high bits, and nothing to measure
            return
    copy_rows(statef, 2 * g * C, 2 * L, buf, 0, W, R, W)
    for j in range(h):
        b = l + j
        if ry_on[b]:
            rotate(buf, 0, R * W, W << j, ryc[b], rys[b])
    if last:
        prob, rowsum, colsum, cs = scratch
        measure(buf, R, C, g, kind, shi, slo, hid, shm, prob, rowsum, colsum, cs, part)
    else:
        copy_rows(buf, 0, W, statef, 2 * g * C, 2 * L, R, W)


@njit(cache=True)
def measure_scratch(R, C, M):
    return np.empty(C), np.empty(R), np.empty(C), np.empty((M, C))


@njit(cache=True)
def circuit(amp, k, l, C, tlo, thi, ident, p1lo, p1hi, d1, qlo, qhi, qon, ryc, rys, ryon, kind, shi, slo,
            hid, shm, bufa, bufb, ehi, elo, buf, scratch, part, out_col):
    """One circuit on one sample, serially: ``out_col (n_obs,)``."""
    n = amp.shape[0]
    L = 1 << l
    R = 1 << (n - l)
    G = L // C
    n_layers = tlo.shape[0]
    product_tables(amp, l, ehi, elo)
    bufa_f = bufa.view(np.float64)
    bufb_f = bufb.view(np.float64)
    src_is_a = True
    for y in range(n_layers):
        if y == 0:
            dst_is_a = True
        elif ident[y]:
            dst_is_a = src_is_a
        else:
            dst_is_a = not src_is_a
        src = bufa if src_is_a else bufb
        dst = bufa if dst_is_a else bufb
        dstf = bufa_f if dst_is_a else bufb_f
        for t in range(R):
            pass_a_tile(t, l, src, y == 0, ehi, elo, thi[y], tlo[y], qon[k, y], qhi[k, y], qlo[k, y],
                        d1[k, y], p1hi[k, y], p1lo[k, y], ryc[k, y], rys[k, y], ryon[k, y], dst, dstf)
        last = y == n_layers - 1
        for g in range(G):
            pass_b_group(g, l, C, dstf, buf, ryc[k, y], rys[k, y], ryon[k, y], last, kind, shi, slo, hid, shm,
                         scratch, part)
        src_is_a = dst_is_a
    for o in range(kind.shape[0]):
        acc = 0.0
        for g in range(G):
            acc += part[g, o]
        out_col[o] = acc


@njit(cache=True, parallel=True)
def run_samples(amps, l, C, tlo, thi, ident, p1lo, p1hi, d1, qlo, qhi, qon, ryc, rys, ryon, kind, shi, slo,
                hid, shm, threads, out):
    """Every (circuit, sample) pair in parallel, each serially (small states): ``out (K, n_obs, B)``."""
    B, n = amps.shape[0], amps.shape[1]
    K, n_obs = out.shape[0], out.shape[1]
    L = 1 << l
    R = 1 << (n - l)
    G = L // C
    jobs = K * B
    n_chunks = min(jobs, threads)
    for ch in prange(n_chunks):
        bufa = np.empty(L * R, dtype=np.complex128)
        bufb = np.empty(L * R, dtype=np.complex128)
        ehi = np.empty(R, dtype=np.complex128)
        elo = np.empty(L, dtype=np.complex128)
        buf = np.empty(R * 2 * C)
        scratch = measure_scratch(R, C, shm.shape[0])
        part = np.empty((G, n_obs))
        col = np.empty(n_obs)
        for job in range(ch * jobs // n_chunks, (ch + 1) * jobs // n_chunks):
            b, k = job // K, job % K
            circuit(amps[b], k, l, C, tlo, thi, ident, p1lo, p1hi, d1, qlo, qhi, qon, ryc, rys, ryon, kind,
                    shi, slo, hid, shm, bufa, bufb, ehi, elo, buf, scratch, part, col)
            for o in range(n_obs):
                out[k, o, b] = col[o]


@njit(cache=True, parallel=True)
def run_tiles(amps, l, C, tlo, thi, ident, p1lo, p1hi, d1, qlo, qhi, qon, ryc, rys, ryon, kind, shi, slo,
              hid, shm, threads, bufa, bufb, out):
    """One (sample, circuit) at a time, each pass parallel over rows or column groups (large states)."""
    B, n = amps.shape[0], amps.shape[1]
    K, n_obs = out.shape[0], out.shape[1]
    L = 1 << l
    R = 1 << (n - l)
    G = L // C
    n_layers = tlo.shape[0]
    ehi = np.empty(R, dtype=np.complex128)
    elo = np.empty(L, dtype=np.complex128)
    part = np.empty((G, n_obs))
    n_chunks = min(G, 4 * threads)
    bufa_f = bufa.view(np.float64)
    bufb_f = bufb.view(np.float64)
    for b in range(B):
        product_tables(amps[b], l, ehi, elo)
        for k in range(K):
            src_is_a = True
            for y in range(n_layers):
                if y == 0:
                    dst_is_a = True
                elif ident[y]:
                    dst_is_a = src_is_a
                else:
                    dst_is_a = not src_is_a
                src = bufa if src_is_a else bufb
                dst = bufa if dst_is_a else bufb
                dstf = bufa_f if dst_is_a else bufb_f
                for t in prange(R):
                    pass_a_tile(t, l, src, y == 0, ehi, elo, thi[y], tlo[y], qon[k, y], qhi[k, y], qlo[k, y],
                                d1[k, y], p1hi[k, y], p1lo[k, y], ryc[k, y], rys[k, y], ryon[k, y], dst, dstf)
                last = y == n_layers - 1
                for ch in prange(n_chunks):
                    buf = np.empty(R * 2 * C)
                    scratch = measure_scratch(R, C, shm.shape[0])
                    for g in range(ch * G // n_chunks, (ch + 1) * G // n_chunks):
                        pass_b_group(g, l, C, dstf, buf, ryc[k, y], rys[k, y], ryon[k, y], last, kind,
                                     shi, slo, hid, shm, scratch, part)
                src_is_a = dst_is_a
            for o in range(n_obs):
                acc = 0.0
                for g in range(G):
                    acc += part[g, o]
                out[k, o, b] = acc
