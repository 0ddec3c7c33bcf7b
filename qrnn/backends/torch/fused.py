"""Many-qubit circuits as a fused program: a few cache-blocked passes over the state instead of one per gate.

A state-vector simulator that applies gates one by one (lightning.qubit, and
this engine's general path) streams the whole state through memory once per
gate or per small block: about 180 passes for the paper's 20-qubit, 2-layer
circuit. Once the state outgrows the caches (16 MiB per sample at 20 qubits)
each pass costs milliseconds. The program here takes about four:

* The encoding prepares a product state. It is never stored: each
  amplitude is the product of a row factor and a column factor (two tables
  of ``2^(n/2)`` entries), computed where the first layer reads it.
* A layer's CNOTs and SWAPs are one linear map of the basis indices over
  GF(2), so the state after them is one gather, ``psi'[i] = psi[f(i)]``,
  with ``f(i) = f(high bits) XOR f(low bits)`` read from two small tables
  (no ``2^n`` permutation array).
* A layer's one-wire gates are a tensor product of 2x2 unitaries, each
  written as ``RZ(b) RY(g) RZ(d)`` (ZYZ, up to a global phase): the RZs of
  all wires are one diagonal whose entries are row phase times column
  phase, and the RYs are real rotations (6 flops per amplitude and wire
  instead of 14 for a complex 2x2). The diagonal after the last layer
  commutes with every Z product and is dropped.
* Pass A of a layer gathers each row of ``2^l`` amplitudes, multiplies in
  the column part of the layer's first diagonal, applies the RYs on the low
  bits while the row is in cache, and multiplies in the column part of its
  last diagonal; pass B copies column groups into a contiguous buffer with
  the row part of the first diagonal, applies the RYs on the high bits, and
  writes them back with the row part of the last, or after the last layer
  reads every Z product off the buffer instead of writing it back.

So the paper's 2-layer circuit costs one write (the first gather), one
read-write (pass B), one gather (pass A of layer 2) and one read (the
measurement). The kernels are in ``fused_kernels`` (numba, CPU, float64).
Circuits with other gates (two-wire diagonals: CZ, CRZ, RZZ) take the
general form (``qrnn.backends.torch.variational``).
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from ...circuit import VQC
from .gates import _FIXED_SU2, _gate_matrix
from .stream import LOCK

# Fewest qubits at which the fused program is used (where "auto" starts the gates form; it
# led the torch form there: benchmarks/RESULTS.md, "Before and after, 4 to 14 qubits"), and the
# row width: a row of 2^l complex128 amplitudes is 2^(l + 4) bytes, 32 KiB at 11, chosen to fit
# the 48 KiB L1 data cache of the machine the benchmarks ran on.
MIN_QUBITS = 8
ROW_BITS = 11
# Samples run one per thread up to this many qubits (two states per thread stay in
# the caches); beyond, one sample at a time with every pass split over the threads.
SAMPLE_PARALLEL_MAX_QUBITS = 16
KERNELS = ("samples", "tiles")  # FusedProgram.run's two kernels
_GATHERS = {"CNOT", "SWAP"}
_ONE_WIRE = {"H", "RX", "RY", "RZ"}


@functools.lru_cache(maxsize=256)
def unsupported(vqc: VQC) -> str | None:
    """Why the fused program cannot run ``vqc`` (None when it can)."""
    names = vqc.gate_names() - _GATHERS - _ONE_WIRE
    if names:
        return f"gates {sorted(names)}"
    return None


@functools.cache  # once per process
def warm_up() -> None:
    """Compile (or load) both kernels for the argument types they are called with."""
    vqc = VQC(2, n_layers=1)
    amps = np.zeros((1, 2, 2), dtype=np.complex128)
    amps[:, :, 0] = 1.0
    prog = FusedProgram(vqc, torch.zeros((1,) + vqc.weight_shape, dtype=torch.float64))
    for kernel in KERNELS:
        prog.run(amps, kernel, threads=1)


def _split(n: int) -> int:
    """Low bits per row: ``ROW_BITS``, or more where that would leave over 13 high bits (pass B's buffer
    holds ``2^(n - l)`` rows)."""
    return min(n, max(ROW_BITS, n - 13))


def _group_columns(l: int, h: int) -> int:
    """Pass B's column group: at least 4096 amplitudes (its loops' overhead), within the L2 cache."""
    return min(2**l, max(8 if h <= 11 else 4, 4096 >> h))


def _index_map(n: int, gates, x: np.ndarray) -> np.ndarray:
    """``f(x)`` for integer arrays ``x``: the source index of each basis state after ``gates``.

    A gate's own map ``p`` sends a basis index to its source (``psi'[i] = psi[p(i)]``);
    after gates ``g1 .. gm``, ``f = p1 o ... o pm``.
    """
    for name, (a, b) in reversed(gates):
        ba, bb = n - 1 - a, n - 1 - b
        if name == "CNOT":
            x = x ^ (((x >> ba) & 1) << bb)
        else:  # SWAP
            d = ((x >> ba) ^ (x >> bb)) & 1
            x = x ^ (d << ba) ^ (d << bb)
    return x


def _zyz(u: np.ndarray):
    """``u (..., 2, 2)`` unitary -> ``(q, c, s, p)`` with ``u = e^{ia} diag(q) [[c, -s], [s, c]] diag(p)``.

    ``c, s >= 0``; ``q``, ``p`` are ``(..., 2)`` unit phases. The branch is chosen by the larger of
    ``c`` and ``s``; the one phase read off a small entry only ever multiplies that small entry
    back, so a tiny ``c`` or ``s`` costs no precision.
    """
    u00, u01, u10, u11 = u[..., 0, 0], u[..., 0, 1], u[..., 1, 0], u[..., 1, 1]
    a, b = np.abs(u00), np.abs(u01)
    r = np.hypot(a, b)
    c, s = a / r, b / r

    def unit(z):
        m = np.abs(z)
        return np.where(m > 0, z / np.where(m > 0, m, 1.0), 1.0 + 0j)

    big_c = a >= b
    one = np.ones_like(u00)
    # c >= s: p0 = 1, q0 from u00, p1 from u01 (any value when s = 0), q1 from u11
    q0_c = unit(u00)
    p1_c = np.where(b > 0, unit(-u01 / q0_c), one)
    q1_c = unit(u11 / p1_c)
    # s > c: p1 = 1, q0 from u01, p0 from u00 (any value when c = 0), q1 from u10
    q0_s = unit(-u01)
    p0_s = np.where(a > 0, unit(u00 / q0_s), one)
    q1_s = unit(u10 / p0_s)
    q = np.stack([np.where(big_c, q0_c, q0_s), np.where(big_c, q1_c, q1_s)], axis=-1)
    p = np.stack([np.where(big_c, one, p0_s), np.where(big_c, p1_c, one)], axis=-1)
    return q, c, s, p


def _tables(pairs: np.ndarray, l: int):
    """Per-wire factors ``pairs (K, n, 2)`` -> row and column product tables ``(K, 2^(n-l))``, ``(K, 2^l)``."""
    K, n = pairs.shape[:2]

    def table(wires):
        t = np.ones((K, 1), dtype=np.complex128)
        for q in wires:  # bit 0 of the table first
            t = np.concatenate([t * pairs[:, q, :1], t * pairs[:, q, 1:]], axis=1)
        return t

    return table([n - 1 - l - b for b in range(n - l)]), table([n - 1 - b for b in range(l)])


def observable_tables(vqc: VQC, l: int) -> tuple:
    """The measured Z products by row (high bits) and column (low bits): ``(kind, shi, slo, hid, shm)``.

    ``shi (n_obs, 2^(n-l))`` and ``slo (n_obs, 2^l)`` are each product's signs on the rows and
    columns; ``kind`` is 0 for a product on high wires only, 1 on low wires only, 2 on both;
    ``shm`` holds the distinct row signs of the kind-2 products, ``hid`` each one's row in it.
    """
    n = vqc.n_qubits
    h = n - l
    obs = vqc.observables()
    kind = np.empty(len(obs), dtype=np.int64)
    shi, slo = np.ones((len(obs), 2**h)), np.ones((len(obs), 2**l))
    r, col = np.arange(2**h), np.arange(2**l)
    for o, wires in enumerate(obs):
        bits = [n - 1 - w for w in wires]
        low, high = [b for b in bits if b < l], [b - l for b in bits if b >= l]
        for b in high:
            shi[o] *= 1.0 - 2.0 * ((r >> b) & 1)
        for b in low:
            slo[o] *= 1.0 - 2.0 * ((col >> b) & 1)
        kind[o] = 0 if not low else (1 if not high else 2)
    rows: dict = {}
    hid = np.zeros(len(obs), dtype=np.int64)
    for o in np.flatnonzero(kind == 2):
        hid[o] = rows.setdefault(shi[o].tobytes(), len(rows))
    shm = np.array([np.frombuffer(b) for b in rows], dtype=np.float64).reshape(len(rows), 2**h)
    return kind, shi, slo, hid, shm


class FusedProgram:
    """The variational part of a circuit group as the fused kernels run it, and its Z products.

    Parameters
    ----------
    vqc : VQC
        A circuit of one-wire gates and CNOT/SWAP only (:func:`unsupported`).
    weights : torch.Tensor
        ``(K, *vqc.weight_shape)``, on any device (the tables are built on the CPU in float64).

    Examples
    --------
    >>> import torch
    >>> from qrnn.circuit import VQC
    >>> prog = FusedProgram(VQC(10), torch.zeros(1, 2, 10, 3, dtype=torch.float64))
    >>> prog.n_layers, prog.l
    (2, 10)
    """

    def __init__(self, vqc: VQC, weights: torch.Tensor):
        why = unsupported(vqc)
        if why is not None:
            raise ValueError(f"the fused program cannot run a circuit with {why}")
        self.n = n = vqc.n_qubits
        self.K = K = weights.shape[0]
        self.l = l = _split(n)
        h = n - l
        self.C = _group_columns(l, h)
        flat = vqc.with_constants(weights.detach().reshape(K, -1).to("cpu", torch.float64))  # tables: numpy
        lo_idx, hi_idx = np.arange(2**l, dtype=np.uint64), np.arange(2**h, dtype=np.uint64) << np.uint64(l)
        eye = np.broadcast_to(np.eye(2, dtype=np.complex128), (K, 2, 2))
        layers = []  # (index-map gates, {wire: (K, 2, 2)})
        gathers, local = [], {}
        for op in vqc.variational_ops():
            if op.name in _GATHERS:
                if local:
                    layers.append((gathers, local))
                    gathers, local = [], {}
                gathers.extend((op.name, tuple(w)) for w in op.wires)
                continue
            if op.params is None:
                mats = np.broadcast_to(_FIXED_SU2[op.name], (K, len(op.wires), 2, 2))
            else:
                if any(ref[0] not in ("w", "c") for ref in op.params):
                    raise ValueError("variational gates may only take weights and constants")
                angles = flat[:, [vqc.slot(ref) for ref in op.params]]
                mats = _gate_matrix(op.name, angles, torch.complex128).numpy()
            for i, q in enumerate(op.wires):
                local[q] = mats[:, i] @ local.get(q, eye)
        if gathers or local or not layers:
            layers.append((gathers, local))
        self.n_layers = Ly = len(layers)
        self.tlo = np.empty((Ly, 2**l), dtype=np.uint64)
        self.thi = np.empty((Ly, 2**h), dtype=np.uint64)
        self.ident = np.zeros(Ly, dtype=np.bool_)
        # each layer's diagonals as row (high bits) and column (low bits) factors: a before its
        # rotations, b after (dropped after the last layer, where it commutes with every Z product)
        shape = (K, Ly)
        self.alo, self.ahi = np.ones(shape + (2**l,), np.complex128), np.ones(shape + (2**h,), np.complex128)
        self.blo, self.bhi = np.ones(shape + (2**l,), np.complex128), np.ones(shape + (2**h,), np.complex128)
        self.ryc = np.ones(shape + (n,))
        self.rys = np.zeros(shape + (n,))
        self.ryon = np.zeros(shape + (n,), dtype=np.bool_)
        for y, (gates, local) in enumerate(layers):
            self.tlo[y] = _index_map(n, gates, lo_idx)
            self.thi[y] = _index_map(n, gates, hi_idx)
            self.ident[y] = not gates
            u = np.stack([local.get(q, eye) for q in range(n)], axis=1)  # (K, n, 2, 2)
            q, c, s, p = _zyz(u)
            bits = [n - 1 - w for w in range(n)]
            self.ryc[:, y, bits], self.rys[:, y, bits] = c, s
            self.ryon[:, y, bits] = s != 0
            self.ahi[:, y], self.alo[:, y] = _tables(p, l)
            if y + 1 < Ly:
                self.bhi[:, y], self.blo[:, y] = _tables(q, l)
        on = {name: ~np.all(getattr(self, name) == 1, axis=2) for name in ("alo", "ahi", "blo", "bhi")}
        self.alo_on, self.ahi_on, self.blo_on, self.bhi_on = on["alo"], on["ahi"], on["blo"], on["bhi"]
        self.kind, self.shi, self.slo, self.hid, self.shm = observable_tables(vqc, l)

    def arrays(self) -> tuple:
        """The program as the kernels take it (``fused_kernels`` reads it by position)."""
        return (self.l, self.C, self.tlo, self.thi, self.ident, self.alo, self.alo_on, self.ahi, self.ahi_on,
                self.blo, self.blo_on, self.bhi, self.bhi_on, self.ryc, self.rys, self.ryon, self.kind, self.shi,
                self.slo, self.hid, self.shm)

    def scratch_bytes(self, kernel: str, threads: int = 1) -> int:
        """Memory a kernel allocates: two states, per thread for ``"samples"``."""
        return 2 * 16 * 2**self.n * (threads if kernel == "samples" else 1)

    def choose(self, jobs: int, threads: int, fits) -> tuple[str, int]:
        """``(kernel, threads)`` for ``jobs`` (circuit, sample) pairs whose scratch ``fits(bytes)``:
        ``"samples"`` up to :data:`SAMPLE_PARALLEL_MAX_QUBITS` with as many threads as fit, else
        ``"tiles"`` (two states in all); None when not even that fits."""
        if self.n <= SAMPLE_PARALLEL_MAX_QUBITS:
            for t in range(min(threads, jobs), 0, -1):
                if fits(self.scratch_bytes("samples", t)):
                    return "samples", t
        return ("tiles", threads) if fits(self.scratch_bytes("tiles")) else None

    def run(self, amps: np.ndarray, kernel: str | None = None, threads: int | None = None) -> np.ndarray:
        """Per-wire encoding amplitudes ``(B, n, 2)`` complex128 -> Z products ``(K, n_obs, B)``.

        ``kernel``: ``"samples"`` runs (circuit, sample) pairs in parallel, each serially (``threads``
        at a time, default numba's); ``"tiles"`` one at a time, each pass split over the threads.
        Default: ``"samples"`` up to :data:`SAMPLE_PARALLEL_MAX_QUBITS`. Both give the same bits.
        """
        from numba import get_num_threads

        from . import fused_kernels as fk

        if kernel is None:
            kernel = "samples" if self.n <= SAMPLE_PARALLEL_MAX_QUBITS else "tiles"
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {list(KERNELS)}, got {kernel!r}")
        threads = get_num_threads() if threads is None else threads
        out = np.empty((self.K, self.kind.shape[0], amps.shape[0]))
        with LOCK:  # numba's workqueue thread pool takes one caller at a time
            if kernel == "samples":
                fk.run_samples(self.arrays(), amps, threads, out)
            else:
                D = 2**self.n
                fk.run_tiles(self.arrays(), amps, threads, np.empty(D, np.complex128), np.empty(D, np.complex128), out)
        return out

    def _torch_tables(self, cdtype, device) -> dict:
        key = (cdtype, device)
        cache = self.__dict__.setdefault("_on_device", {})
        if key not in cache:
            rdtype = torch.float64 if cdtype == torch.complex128 else torch.float32

            def c(a):
                return torch.as_tensor(a, device=device).to(cdtype)

            def index(a):
                return torch.as_tensor(a.astype(np.int64), device=device)

            # row and column factors only: the full tables would be 2^n entries per layer
            cache[key] = {"tlo": index(self.tlo), "thi": index(self.thi), "alo": c(self.alo), "ahi": c(self.ahi),
                          "blo": c(self.blo), "bhi": c(self.bhi),
                          "ryc": torch.as_tensor(self.ryc, dtype=rdtype, device=device),
                          "rys": torch.as_tensor(self.rys, dtype=rdtype, device=device),
                          "shi": torch.as_tensor(self.shi, dtype=rdtype, device=device),
                          "slo": torch.as_tensor(self.slo, dtype=rdtype, device=device)}
        return cache[key]

    def run_torch(self, amps: torch.Tensor) -> torch.Tensor:
        """The same program in torch operations, on the tensor's device and dtype (the CUDA path):
        per-wire amplitudes ``(n, 2, B)`` complex -> Z products ``(K, n_obs, B)``.

        Each layer is one gather, two diagonal multiplies and one pass per rotated bit; on a GPU a
        pass is cheap (its bandwidth), so the cache blocking of the CPU kernels is not needed.
        """
        n, l, K, B = self.n, self.l, self.K, amps.shape[2]
        R, L = 2 ** (n - l), 2**l
        t = self._torch_tables(amps.dtype, amps.device)

        def product(wires):
            out = torch.ones(B, 1, dtype=amps.dtype, device=amps.device)
            for q in wires:
                out = torch.cat([out * amps[q, 0][:, None], out * amps[q, 1][:, None]], dim=1)
            return out

        psi = (product([n - 1 - l - b for b in range(n - l)])[:, :, None]
               * product([n - 1 - b for b in range(l)])[:, None, :]).reshape(1, B, -1).expand(K, B, -1)

        def phase(x, hi, lo):
            return (x.reshape(K, B, R, L) * hi.reshape(K, 1, R, 1) * lo.reshape(K, 1, 1, L)).reshape(K, B, -1)

        for y in range(self.n_layers):
            if not self.ident[y]:
                psi = psi.index_select(2, (t["thi"][y][:, None] ^ t["tlo"][y][None, :]).reshape(-1))
            psi = phase(psi, t["ahi"][:, y], t["alo"][:, y])
            for b in range(n):
                if not self.ryon[:, y, b].any():
                    continue
                v = psi.reshape(K, B, -1, 2, 2**b)
                c = t["ryc"][:, y, b].reshape(K, 1, 1, 1)
                s = t["rys"][:, y, b].reshape(K, 1, 1, 1)
                lo, hi = v[:, :, :, 0], v[:, :, :, 1]
                psi = torch.stack((c * lo - s * hi, s * lo + c * hi), dim=3).reshape(K, B, -1)
            if y + 1 < self.n_layers:
                psi = phase(psi, t["bhi"][:, y], t["blo"][:, y])
        p = (psi.real.square() + psi.imag.square()).reshape(K, B, R, L)
        return torch.einsum("kbrc,oc,or->kob", p, t["slo"], t["shi"])
