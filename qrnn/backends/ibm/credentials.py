"""Whether IBM Quantum credentials can be found (environment or saved account), before anything connects."""
from __future__ import annotations

import os

from ..._optional import require


def _has_credentials() -> bool:
    """Whether a QiskitRuntimeService() could find an account (environment or saved file)."""
    if os.environ.get("QISKIT_IBM_TOKEN"):
        return True
    runtime = require("qiskit_ibm_runtime", "backend 'ibm'")
    try:
        return bool(runtime.QiskitRuntimeService.saved_accounts())
    except Exception:  # an unreadable account file is as good as none
        return False
