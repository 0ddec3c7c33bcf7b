"""Optional dependencies: imported on first use, with an error naming the extra to install."""
from __future__ import annotations

import importlib

# top-level module -> the qrnn extra that installs it
EXTRAS = {
    "pennylane": "pennylane",
    "pennylane_lightning": "pennylane",
    "qiskit": "qiskit",
    "qiskit_aer": "qiskit",
    "qiskit_ibm_runtime": "ibm",
    "ray": "ray",
    "optuna": "search",
    "reservoirpy": "datasets",
    "sktime": "datasets",
}


class MissingExtraError(ImportError):
    """An optional package is missing; the message names the ``pip install 'qrnn[...]'`` to run."""


def require(module: str, purpose: str):
    """Import ``module`` or raise :class:`MissingExtraError` naming what needs it and the extra.

    Examples
    --------
    >>> require("math", "doctests").sqrt(4.0)
    2.0
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = EXTRAS.get(top)
        how = f"pip install 'qrnn[{extra}]'" if extra else f"pip install {top}"
        raise MissingExtraError(
            f"{purpose} needs the optional package {top!r}, which is not installed or failed to import "
            f"({exc}); install it with: {how}"
        ) from exc
