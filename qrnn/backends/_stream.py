"""Whole recurrences of frozen quantum reservoirs in compiled code, for small batches.

The batched torch path pays Python and operator dispatch at every time step
(about 40 small operations for a QLSTM step), which dominates when the batch
is small: one long stream (streaming NARMA-10, Mackey-Glass) runs at B = 1.
The arithmetic of a 4-qubit QLSTM step is a few thousand multiply-adds, a
microsecond or two. These kernels run the entire recurrence, every step of
every sequence (sequences in parallel), in one call compiled by numba, from the same Heisenberg-picture
coefficients the torch engine builds (``_Heisenberg``), so the results agree
with the batched path to rounding (tested to 1e-12).

Numba is imported on first use only (it costs about half a second), and the
compiled kernels are cached on disk (``cache=True``), so only the first run on
a machine pays for compilation.
"""
from __future__ import annotations

import threading


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
    """Sequences per thread: two (``_stream_kernels.LANES``), unless that would leave threads idle."""
    from numba import get_num_threads

    from ._stream_kernels import LANES

    return LANES if B >= LANES * get_num_threads() else 1


def _build():
    from . import _stream_kernels

    return _stream_kernels.KERNELS
