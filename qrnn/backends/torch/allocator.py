"""Opt-in tuning of glibc's malloc for the torch engine on CPU: :func:`tune_allocator`."""
from __future__ import annotations

import ctypes
import sys


_ALLOCATOR_TUNED = False


def tune_allocator() -> bool:
    """Tune glibc's malloc for the torch engine on CPU; opt-in, process-wide, irreversible.

    glibc serves large allocations with ``mmap`` and unmaps them on free, so a
    method that builds a fresh state vector every time step (``"unitary"``,
    ``"gates"``) page-faults on new memory at every call. This sets glibc's
    mmap threshold to 32 MiB (its own dynamic ceiling) and its trim threshold
    to 128 MiB, so those temporaries are reused from the heap: the page
    faults go, and with them part of the call time of ``"unitary"`` and
    ``"gates"`` at a few qubits. No measurable gain for the Heisenberg form
    (``"auto"`` up to 5 qubits, so the default 4-qubit QLSTM), which
    allocates little, nor where one temporary exceeds 32 MiB (``"gates"`` at
    10 qubits). The figures (``python -m benchmarks.bench_throughput
    --allocator-ab``) are in ``benchmarks/RESULTS.md``, "What made it fast",
    the ``mallopt`` row.

    It changes the allocator of the whole process, including every other
    library in it, and cannot be undone; that is why qrnn never calls it by
    itself (not at import, not when compiling). Call it once, early, in
    scripts that run large batches on CPU. There is no environment variable
    for it.

    Returns
    -------
    bool
        True if both thresholds are set (Linux with glibc). False on other
        platforms or C libraries, where it does nothing, or if glibc refused
        a value; a later call then tries again.

    Examples
    --------
    >>> from qrnn.backends import tune_allocator
    >>> applied = tune_allocator()  # once, early in a script
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, 32 * 2**20) == 1  # M_MMAP_THRESHOLD
        ok = libc.mallopt(-1, 128 * 2**20) == 1 and ok  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        return False
    _ALLOCATOR_TUNED = ok
    return ok
