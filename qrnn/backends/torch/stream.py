"""Whole recurrences of frozen quantum reservoirs in compiled code, for small batches.

The batched torch path pays Python and operator dispatch at every time step
(dozens of small operations for a QLSTM step), which dominates when the batch
is small: one long stream (streaming NARMA-10, Mackey-Glass) runs at B = 1.
The arithmetic of a 4-qubit QLSTM step is a few thousand multiply-adds, far
less than that dispatch (where the eager step's time goes:
``benchmarks/RESULTS.md``, "QLSTM reservoir throughput, 4 qubits"). These
kernels run the entire recurrence, every step of every sequence (sequences
in parallel), in one call compiled by numba, from the same Heisenberg-picture
coefficients the torch engine builds (``_Heisenberg``), so the results agree
with the batched path to rounding (tested to 1e-12).

Numba is imported on first use only (importing it is not free), and the
compiled kernels are cached on disk (``cache=True``), so only the first run on
a machine pays for compilation (both costs: ``benchmarks/RESULTS.md``,
"One-time costs and small engine details").
"""
from __future__ import annotations

import threading
import weakref

import numpy as np
import torch


_KERNELS = None
# The cell kernels run their sequences in parallel on numba's thread pool;
# its default layer (workqueue) may not be entered by two Python threads at
# once, so calls are serialised (each one already uses every core).
LOCK = threading.Lock()


def kernels():
    """The compiled kernels (numba is imported and the functions built on the first call)."""
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = _build()
    return _KERNELS


def lanes_for(B: int) -> int:
    """Sequences per thread: two (``stream_kernels.LANES``), unless that would leave threads idle."""
    from numba import get_num_threads

    from .stream_kernels import LANES

    return LANES if B >= LANES * get_num_threads() else 1


def _build():
    from . import stream_kernels

    return stream_kernels.KERNELS


def _qrnn(kernel, cell, x, s0, arrays, n_obs, feats, s1, lanes):
    kernel(x, s0[0], *arrays, n_obs[0], cell.correlators, feats, s1[0], lanes)


def _qlstm(kernel, cell, x, s0, arrays, n_obs, feats, s1, lanes):
    mode = ("output", "state", "all").index(cell.features)
    kernel(x, s0[0], s0[1], *arrays, n_obs[1], mode, cell.correlators, feats, s1[0], s1[1], lanes)


def _qgru(kernel, cell, x, s0, arrays, n_obs, feats, s1, lanes):
    kernel(x, s0[0], *arrays, n_obs[0], n_obs[1], cell.correlators, feats, s1[0], lanes)


# The cells these kernels implement, by exact class: a subclass may change the step
# equations, so it runs by its own step (the general path), never by its parent's kernel.
CELLS = {"qrnn.cells.QRNN": ("qrnn", _qrnn), "qrnn.cells.QLSTM": ("qlstm", _qlstm),
         "qrnn.cells.QGRU": ("qgru", _qgru)}


_KINDS = weakref.WeakKeyDictionary()  # cell class -> its CELLS entry or None, looked up once per class


def _kernel_of(cell):
    cls = type(cell)
    if cls not in _KINDS:
        _KINDS[cls] = CELLS.get(f"{cls.__module__}.{cls.__qualname__}")
    return _KINDS[cls]


def applies(backend, cell, xs) -> bool:
    """Whether ``run`` takes this recurrence: a frozen float64 reservoir of a cell in :data:`CELLS` on the
    CPU, the paper's encoding, circuits in the Heisenberg form, a batch up to ``stream_max_batch``."""
    B = xs.shape[0]
    vqc = cell.circuit(0)
    return (_kernel_of(cell) is not None
            and backend.exact  # shots and noise run step by step
            and (backend.stream_max_batch is None or B <= backend.stream_max_batch)
            and xs.device.type == "cpu" and xs.dtype == torch.float64
            and vqc.encoding.kind == "paper"
            and backend.resolve_method(vqc.n_qubits) == "heisenberg"
            and not (torch.is_grad_enabled() and (xs.requires_grad or cell.weights.requires_grad)))


def run(backend, cell, xs, state):
    """The recurrence of ``cell`` over inputs ``xs (B, T, input_size)`` from ``state``, or None if no kernel applies."""
    if not applies(backend, cell, xs):
        return None
    name, call = _kernel_of(cell)

    def build():
        arrays, n_obs = [], []
        for i in range(len(cell.groups)):
            g = cell.group(i)
            enc = g.encoding
            if enc.m != 2 or not enc.identity_layout:  # pragma: no cover - the paper's encoding has this layout
                raise RuntimeError("the stream kernels need the paper's encoding layout")
            arrays += [enc.bloch_maps.detach().numpy(), np.ascontiguousarray(g.coeffs.detach().numpy())]
            n_obs.append(g.n_obs)
        return arrays, n_obs

    arrays, n_obs = cell.cached("stream", build)
    x = np.ascontiguousarray(xs.numpy())  # (B, T, input_size): the caller's memory, no copy
    B, T = x.shape[:2]
    feats = np.empty((B, T, cell.n_features))
    s0 = [np.ascontiguousarray(s.T.numpy()) for s in state]
    s1 = [np.empty_like(s) for s in s0]
    kernel = kernels()[name]
    with LOCK:  # numba's default thread pool must not be entered from two threads at once
        call(kernel, cell, x, s0, arrays, n_obs, feats, s1, lanes_for(B))
    return torch.from_numpy(feats), tuple(torch.from_numpy(s.T.copy()) for s in s1)
