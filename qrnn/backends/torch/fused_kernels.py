"""Numba kernels of ``qrnn.backends.torch.fused``, at module level so that numba's disk cache serves them.

A state of ``2^n`` amplitudes is seen as ``R = 2^h`` rows (the high bits;
wire 0 is the most significant) of ``L = 2^l`` contiguous amplitudes (the
low bits). A layer is two passes:

* Pass A writes each row ("tile") once: it gathers the row through the
  layer's index map (from the previous state, or from the product state,
  computed, never stored), multiplies in the column part of the layer's
  first diagonal, applies the rotations on the low bits while the tile is in
  the L1/L2 cache, and multiplies in the column part of its last diagonal.
* Pass B copies groups of ``C`` columns into a contiguous buffer (the rows
  are ``2^l`` amplitudes apart: worked in place, a power-of-two stride maps
  them all to a few cache sets), multiplying in the row part of the first
  diagonal, applies the rotations on the high bits, and either writes them
  back with the row part of the last diagonal or, after the last layer,
  reads the Z products off them without writing anything.

(The row part of a diagonal commutes with the rotations on the low bits and
the column part with those on the high bits, which is what lets each go
where its factor is contiguous.) Sums are taken per column group and added in
order, so the results do not depend on the number of threads. Loops index with
unsigned integers: with signed ones numba guards every access against negative
indices and LLVM does not vectorize them (5x slower, measured).

A program ``prog`` is the tuple of :meth:`FusedProgram.arrays`. Imported on first use only.
"""
import numpy as np
from numba import njit, prange

_U = np.uint64


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
    """Real rotation ``[[c, -s], [s, c]]`` on the pairs ``(i, i + dist)`` of the doubles ``f[start:stop]``,
    taken in runs of ``dist`` every ``2 dist``."""
    d = _U(dist)
    base = _U(start)
    end = _U(stop)
    while base < end:
        k = base
        e = base + d
        while k < e:
            a = f[k]
            b = f[k + d]
            f[k] = c * a - s * b
            f[k + d] = s * a + c * b
            k += _U(1)
        base += _U(2) * d


@njit(cache=True, fastmath=True)
def scale(z, start, phases):
    """``z[start + c] *= phases[c]``."""
    o = _U(start)
    c = _U(0)
    m = _U(phases.shape[0])
    while c < m:
        z[o + c] = z[o + c] * phases[c]
        c += _U(1)


@njit(cache=True, fastmath=True)
def gather(src, dst, o, base, tlo):
    """``dst[o + c] = src[base ^ tlo[c]]`` (the phases are multiplied in afterwards, on the row in cache:
    in this loop they made it twice as slow, measured)."""
    ou = _U(o)
    bu = _U(base)
    c = _U(0)
    m = _U(tlo.shape[0])
    while c < m:
        dst[ou + c] = src[bu ^ tlo[c]]
        c += _U(1)


@njit(cache=True)
def pass_a(prog, k, y, t, src, dst, dstf, ehi, elo, from_product):
    """Row ``t`` of layer ``y``'s output (circuit ``k``): gathered, phased, rotated on the low bits."""
    l, tlo, thi, ident = prog[0], prog[2], prog[3], prog[4]
    alo, alo_on, blo, blo_on, ryc, rys, ryon = prog[5], prog[6], prog[9], prog[10], prog[13], prog[14], prog[15]
    L = 1 << l
    mask = L - 1
    o = t * L
    if from_product:
        base = thi[y, t]
        for c in range(L):
            j = base ^ tlo[y, c]
            dst[o + c] = ehi[j >> _U(l)] * elo[j & _U(mask)]
    elif not ident[y]:
        gather(src, dst, o, thi[y, t], tlo[y])
    if alo_on[k, y]:
        scale(dst, o, alo[k, y])
    for b in range(l):
        if ryon[k, y, b]:
            rotate(dstf, 2 * o, 2 * (o + L), 2 << b, ryc[k, y, b], rys[k, y, b])
    if blo_on[k, y]:
        scale(dst, o, blo[k, y])


@njit(cache=True, fastmath=True)
def copy_rows(a, a0, a_stride, b, b0, b_stride, rows, width, phases, phased):
    """``width`` amplitudes of each of ``rows`` rows from ``a`` to ``b``, row ``r`` times ``phases[r]``
    when ``phased``."""
    w = _U(width)
    for r in range(rows):
        ia = _U(a0) + _U(r) * _U(a_stride)
        ib = _U(b0) + _U(r) * _U(b_stride)
        x = _U(0)
        if phased:
            ph = phases[r]
            while x < w:
                b[ib + x] = a[ia + x] * ph
                x += _U(1)
        else:
            while x < w:
                b[ib + x] = a[ia + x]
                x += _U(1)


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
def pass_b(prog, k, y, g, state, buf, last, scratch, part):
    """Columns ``g C .. g C + C - 1`` of layer ``y`` (circuit ``k``): phased and rotated on the high bits,
    then written back, phased, or measured."""
    l, C = prog[0], prog[1]
    ahi, ahi_on, bhi, bhi_on, ryc, rys, ryon = prog[7], prog[8], prog[11], prog[12], prog[13], prog[14], prog[15]
    kind, shi, slo, hid, shm = prog[16], prog[17], prog[18], prog[19], prog[20]
    n = ryc.shape[2]
    L = 1 << l
    R = 1 << (n - l)
    rotated = False
    for b in range(l, n):
        rotated = rotated or ryon[k, y, b]
    if not (last or rotated or ahi_on[k, y] or bhi_on[k, y]):
        return
    copy_rows(state, g * C, L, buf, 0, C, R, C, ahi[k, y], ahi_on[k, y])
    buff = buf.view(np.float64)
    for j in range(n - l):
        b = l + j
        if ryon[k, y, b]:
            rotate(buff, 0, 2 * R * C, (2 * C) << j, ryc[k, y, b], rys[k, y, b])
    if last:
        prob, rowsum, colsum, cs = scratch
        measure(buff, R, C, g, kind, shi, slo, hid, shm, prob, rowsum, colsum, cs, part)
    else:
        copy_rows(buf, 0, C, state, g * C, L, R, C, bhi[k, y], bhi_on[k, y])


@njit(cache=True)
def scratch_of(prog):
    """Pass B's buffer and the measurement's sums, per thread."""
    l, C, M = prog[0], prog[1], prog[20].shape[0]
    R = 1 << (prog[13].shape[2] - l)
    return np.empty(R * C, dtype=np.complex128), (np.empty(C), np.empty(R), np.empty(C), np.empty((M, C)))


@njit(cache=True)
def target(prog, y, src_is_a):
    """Whether layer ``y`` writes buffer A: the first does; a gather goes to the other buffer; an
    identity map works in place."""
    if y == 0:
        return True
    return src_is_a if prog[4][y] else not src_is_a


@njit(cache=True)
def total(part, out, k, b):
    for o in range(part.shape[1]):
        acc = 0.0
        for g in range(part.shape[0]):
            acc += part[g, o]
        out[k, o, b] = acc


@njit(cache=True)
def circuit(prog, amp, k, bufa, bufb, ehi, elo, buf, scratch, part):
    """One circuit on one sample, serially (its Z products in ``part``, per column group)."""
    l, C = prog[0], prog[1]
    n_layers = prog[2].shape[0]
    R = 1 << (amp.shape[0] - l)
    product_tables(amp, l, ehi, elo)
    bufa_f, bufb_f = bufa.view(np.float64), bufb.view(np.float64)
    src_is_a = True
    for y in range(n_layers):
        dst_is_a = target(prog, y, src_is_a)
        src, dst = (bufa if src_is_a else bufb), (bufa if dst_is_a else bufb)
        dstf = bufa_f if dst_is_a else bufb_f
        for t in range(R):
            pass_a(prog, k, y, t, src, dst, dstf, ehi, elo, y == 0)
        for g in range((1 << l) // C):
            pass_b(prog, k, y, g, dst, buf, y == n_layers - 1, scratch, part)
        src_is_a = dst_is_a


@njit(cache=True, parallel=True)
def run_samples(prog, amps, threads, out):
    """Every (circuit, sample) pair in parallel, each serially (small states): ``out (K, n_obs, B)``."""
    B, n = amps.shape[0], amps.shape[1]
    K, n_obs = out.shape[0], out.shape[1]
    l, C = prog[0], prog[1]
    L, R = 1 << l, 1 << (n - l)
    jobs = K * B
    n_chunks = min(jobs, threads)
    for ch in prange(n_chunks):
        bufa = np.empty(L * R, dtype=np.complex128)
        bufb = np.empty(L * R, dtype=np.complex128)
        ehi = np.empty(R, dtype=np.complex128)
        elo = np.empty(L, dtype=np.complex128)
        buf, scratch = scratch_of(prog)
        part = np.empty((L // C, n_obs))
        for job in range(ch * jobs // n_chunks, (ch + 1) * jobs // n_chunks):
            b, k = job // K, job % K
            circuit(prog, amps[b], k, bufa, bufb, ehi, elo, buf, scratch, part)
            total(part, out, k, b)


@njit(cache=True, parallel=True)
def pass_a_all(prog, k, y, src, dst, ehi, elo):
    """Pass A of layer ``y`` (circuit ``k``) over every row, rows in parallel."""
    R = 1 << (prog[13].shape[2] - prog[0])
    dstf = dst.view(np.float64)
    for t in prange(R):
        pass_a(prog, k, y, t, src, dst, dstf, ehi, elo, y == 0)


@njit(cache=True, parallel=True)
def pass_b_all(prog, k, y, state, part, threads):
    """Pass B of layer ``y`` (circuit ``k``) over every column group, groups in parallel (in chunks
    that reuse one buffer each)."""
    G = (1 << prog[0]) // prog[1]
    last = y == prog[2].shape[0] - 1
    n_chunks = min(G, 4 * threads)
    for ch in prange(n_chunks):
        buf, scratch = scratch_of(prog)
        for g in range(ch * G // n_chunks, (ch + 1) * G // n_chunks):
            pass_b(prog, k, y, g, state, buf, last, scratch, part)


@njit(cache=True)
def run_tiles(prog, amps, threads, bufa, bufb, out):
    """One (sample, circuit) at a time, each pass parallel over rows or column groups (large states)."""
    B, n = amps.shape[0], amps.shape[1]
    K, n_obs = out.shape[0], out.shape[1]
    l, C = prog[0], prog[1]
    ehi = np.empty(1 << (n - l), dtype=np.complex128)
    elo = np.empty(1 << l, dtype=np.complex128)
    part = np.empty(((1 << l) // C, n_obs))
    for b in range(B):
        product_tables(amps[b], l, ehi, elo)
        for k in range(K):
            src_is_a = True
            for y in range(prog[2].shape[0]):
                dst_is_a = target(prog, y, src_is_a)
                dst = bufa if dst_is_a else bufb
                pass_a_all(prog, k, y, bufa if src_is_a else bufb, dst, ehi, elo)
                pass_b_all(prog, k, y, dst, part, threads)
                src_is_a = dst_is_a
            total(part, out, k, b)
