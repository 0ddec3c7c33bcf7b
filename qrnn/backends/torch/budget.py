"""The torch engine's memory budget: free memory per device, and the error of a group that cannot fit it."""
from __future__ import annotations

import os

import torch


class MemoryBudgetError(MemoryError):
    """A circuit group needs more memory than the torch engine's budget allows, even one sample at a time."""


def free_memory(device) -> int:
    """Bytes free now on ``device``: ``MemAvailable`` of the host for the CPU, the free device memory for CUDA.

    Examples
    --------
    >>> free_memory("cpu") > 0
    True
    """
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no such sysconf: a conservative 1 GiB
        return 2**30


# Working sets this small are never checked against the free memory (see _CompiledGroup._fits).
_UNCHECKED_BYTES = 64 * 2**20


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
        n /= 1024
