"""Optional dependencies, imported on first use with a clear error when missing."""
from __future__ import annotations

import importlib

_PIP_NAMES = {
    "pennylane": "pennylane==0.45.1",
    "qiskit": "qiskit==2.6.1",
    "qiskit_aer": "qiskit-aer==0.18.2",
    "qiskit_ibm_runtime": "qiskit-ibm-runtime==0.51.0",
}


def require(module: str, purpose: str):
    """Import ``module`` or raise ImportError naming what needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        pip_name = _PIP_NAMES.get(top, top)
        raise ImportError(
            f"{purpose} needs the optional package {top!r}, which is not installed "
            f"({exc}); install it with: pip install '{pip_name}'"
        ) from exc
