"""Exact gradients of trainable circuits by the adjoint method, in compiled code.

Training a quantum model end to end evaluates small circuits (4 qubits in the
paper) on small batches (10 windows) a few times per step. Built from torch
operations, every forward pass rebuilds each circuit's operator from its
angles (a few hundred small operations) and autograd walks them all back:
nearly all of an epoch is operator dispatch, not arithmetic.

Here a circuit group is one operation for autograd. Its forward pass
simulates every sample's state vector gate by gate (numba, samples in
parallel); its backward pass is the adjoint method (Jones and Gacon,
arXiv:2009.02823): with ``O = sum_o g_o Z_o`` (``g`` the incoming gradient)
and ``|lambda> = O |psi>``, the gates are undone one by one from the end, and
each rotation ``R(theta) = exp(-i theta P / 2)`` contributes

    d/dtheta <psi|O|psi> = 2 Re <lambda| dR/dtheta |psi_before>
                         = Re <lambda| R(theta + pi) |psi_before>,

since ``dR/dtheta = R(theta + pi) / 2``. That is the exact gradient, for the
weights and for the encoding angles at once, at about three forward passes'
cost. The gate list comes from :meth:`qrnn.circuit.VQC.gates`, the same one
every other backend renders.

Like the stream kernels, numba is imported on first use and the compiled
functions are cached on disk.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from .stream import LOCK

_KERNELS = None

# gate codes within a fused block, and where a gate's angle comes from
_CODES = {"H": 0, "RX": 1, "RY": 2, "RZ": 3}
_SOURCES = {None: 0, "x": 1, "w": 2, "c": 2}  # constants are read as weights (see VQC.with_constants)


@functools.lru_cache(maxsize=256)  # asked for every trainable group on every forward pass
def unsupported(vqc) -> str | None:
    """Why the kernels cannot run ``vqc`` (None when they can): they know the paper's encoding,
    the one-wire gates H, RX, RY, RZ, and CNOT and SWAP."""
    if vqc.encoding.kind != "paper":
        return f"the {vqc.encoding.kind!r} encoding"
    gates = vqc.gate_names() - set(_CODES) - {"CNOT", "SWAP"}
    if gates:
        return f"gates {sorted(gates)}"
    return None


class Program:
    """A circuit as the kernels run it: fused one-wire blocks, and CNOT/SWAP runs as GF(2) index maps.

    Runs of one-wire gates on a wire between CNOT blocks become one block
    (the encoding's ``H, RY, RZ``; each layer's ``RZ, RY, RZ``), applied in
    one pass over the state, whose angles' derivatives are taken in one pass
    too; each run of CNOTs and SWAPs becomes one gather through a linear map
    of the basis indices over GF(2), read from a row table and a column table
    (``f(i) = thi[i >> l] ^ tlo[i & (2^l - 1)]``, as in
    :mod:`~qrnn.backends.torch.fused`: no ``2^n`` permutation array, at any
    size). The order of :meth:`~qrnn.circuit.VQC.ops` is kept. The measured
    Z products are read by rows and columns too (:func:`~qrnn.backends.torch.fused.observable_tables`),
    without a ``(n_obs, 2^n)`` sign table.

    Attributes
    ----------
    kinds : ndarray (n_ops,)
        0 for a one-wire block, 1 for a gather.
    where : ndarray (n_ops,)
        The block's bit (wire 0 is the most significant), or the gather's map.
    sub : ndarray (n_ops, S, 3)
        Per block, its gates in order: code (H, RX, RY, RZ = 0..3; -1 pads),
        angle source (0 none, 1 input angle, 2 weight) and index.
    tlo, thi, ilo, ihi : ndarray (n_maps, 2^l), (n_maps, 2^(n-l))
        Each map's column and row tables, and those of its inverse.
    l : int
        Low bits of the tables.
    first : int
        Operations before the first that reads a weight: the input-only
        prefix, shared by every circuit of a group.

    Examples
    --------
    >>> from qrnn.circuit import VQC
    >>> prog = Program(VQC(4, n_layers=2))
    >>> prog.kinds.tolist()
    [0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    """

    def __init__(self, vqc):
        from .fused import _index_map, _split, observable_tables

        n = self.n_qubits = vqc.n_qubits
        why = unsupported(vqc)
        if why is not None:
            raise ValueError(f"the adjoint kernels cannot run a circuit with {why}")
        kinds, where, blocks, maps = [], [], [], []
        pending: dict[int, list] = {}
        gathers: list = []

        def flush_blocks():
            for q in sorted(pending):
                kinds.append(0)
                where.append(n - 1 - q)
                blocks.append(pending[q])
            pending.clear()

        def flush_gathers():
            if gathers:
                kinds.append(1)
                where.append(len(maps))
                blocks.append([])
                maps.append(list(gathers))
                gathers.clear()

        for op in vqc.ops():
            if op.name in ("CNOT", "SWAP"):
                flush_blocks()
                gathers.extend((op.name, tuple(w)) for w in op.wires)
                continue
            flush_gathers()
            for i, q in enumerate(op.wires):
                ref = None if op.params is None else op.params[i]
                src, idx = (0, -1) if ref is None else (_SOURCES[ref[0]], ref[1] if ref[0] == "x" else vqc.slot(ref))
                pending.setdefault(q, []).append((_CODES[op.name], src, idx))
        flush_blocks()
        flush_gathers()
        S = max([len(b) for b in blocks] + [1])
        self.kinds = np.array(kinds, dtype=np.int64)
        self.where = np.array(where, dtype=np.int64)
        self.sub = np.full((len(kinds), S, 3), -1, dtype=np.int64)
        for o, b in enumerate(blocks):
            if b:
                self.sub[o, :len(b)] = b
        self.l = l = _split(n)
        lo, hi = np.arange(2**l, dtype=np.uint64), np.arange(2 ** (n - l), dtype=np.uint64) << np.uint64(l)

        def tables(x, inverse):
            # a run's inverse is the same gates in reverse order (each is its own inverse)
            rows = [_index_map(n, g[::-1] if inverse else g, x) for g in maps]
            return np.array(rows, dtype=np.uint64).reshape(len(maps), x.size)

        self.tlo, self.thi, self.ilo, self.ihi = tables(lo, False), tables(hi, False), tables(lo, True), tables(hi, True)
        self.observables = observable_tables(vqc, l)
        reads_weight = [(self.sub[o, :, 1] == 2).any() for o in range(len(kinds))]
        self.first = reads_weight.index(True) if any(reads_weight) else len(kinds)

    def arrays(self):
        return (self.kinds, self.where, self.sub, self.tlo, self.thi, self.ilo, self.ihi, self.l, self.first,
                self.observables)

    @property
    def nbytes(self) -> int:
        arrays = (self.kinds, self.where, self.sub, self.tlo, self.thi, self.ilo, self.ihi) + self.observables
        return sum(a.nbytes for a in arrays)


@functools.lru_cache(maxsize=16)
def program(vqc) -> Program:
    """The :class:`Program` of ``vqc``, built once per circuit layout (trainable groups ask on every pass)."""
    return Program(vqc)


def kernels():
    """``(forward, backward)``, compiled on the first call."""
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _build()
    return _KERNELS


def _build():
    from . import adjoint_kernels

    return adjoint_kernels.KERNELS


@functools.cache  # once per process
def warm_up() -> None:
    """Compile (or load) both kernels for the argument types they are called with."""
    from ...circuit import VQC

    vqc = VQC(2, n_layers=1)
    inputs = torch.zeros(vqc.n_inputs, 1, dtype=torch.float64, requires_grad=True)
    weights = torch.zeros(1, 6, dtype=torch.float64, requires_grad=True)
    AdjointCircuits.apply(inputs, weights, program(vqc), None).sum().backward()


class AdjointCircuits(torch.autograd.Function):
    """Expectations of a circuit group, ``(inputs (n_inputs, B), weights (K, P)) -> (K, n_obs, B)``, on the CPU in float64.

    ``inputs`` are the values the encoding reads, batch last; their
    encoding angles (:meth:`~qrnn.circuit.VQC.input_angles`: ``arctan x_i``
    and ``arctan x_i^2``, the values capped at ``cap`` unless it is None) are
    computed here, and their derivative is applied in the backward pass, so
    that a circuit group is one node of the autograd graph. ``weights`` are
    the flattened ``(K, L n 3)`` angles. Differentiable once: the backward
    pass is the adjoint method, not made of torch operations, and refuses
    ``create_graph=True``.
    """

    @staticmethod
    def forward(ctx, inputs, weights, prog, cap):
        v = np.ascontiguousarray(inputs.detach().numpy())
        w = np.ascontiguousarray(weights.detach().numpy())
        cap = np.inf if cap is None else float(cap)
        out = np.empty((w.shape[0], prog.observables[0].shape[0], v.shape[1]))
        fwd, _ = kernels()
        with LOCK:  # numba's workqueue thread pool takes one caller at a time
            fwd(v, cap, w, *prog.arrays(), prog.n_qubits, out)
        ctx.save_for_backward(inputs, weights)  # for autograd's check that they are not changed in place
        ctx.prog, ctx.cap, ctx.v, ctx.w = prog, cap, v, w
        return torch.from_numpy(out)

    @staticmethod
    def backward(ctx, grad):
        if torch.is_grad_enabled():  # create_graph=True: a derivative of this derivative is wanted
            raise RuntimeError("the adjoint kernels give first derivatives only; for higher ones build the "
                               "circuits with TorchBackend(gradient='autograd')")
        ctx.saved_tensors  # raises if the inputs or weights were changed in place since the forward pass
        v, w = ctx.v, ctx.w
        g = np.ascontiguousarray(grad.numpy())
        gv = np.empty_like(v)
        gw = np.empty((v.shape[1],) + w.shape)
        _, bwd = kernels()
        with LOCK:
            bwd(v, ctx.cap, w, *ctx.prog.arrays(), ctx.prog.n_qubits, g, gv, gw)
        gv_t = torch.from_numpy(gv) if ctx.needs_input_grad[0] else None
        gw_t = torch.from_numpy(gw.sum(axis=0)) if ctx.needs_input_grad[1] else None
        return gv_t, gw_t, None, None
