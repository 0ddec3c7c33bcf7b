"""What a service error means: worth retrying in place, or a failed job (billed, no result)."""
from __future__ import annotations

import functools


@functools.cache
def _transient_errors() -> tuple:
    """Errors worth retrying (network, time-outs, API hiccups); everything else is raised at once."""
    errors = [ConnectionError, TimeoutError]
    try:
        import requests

        errors += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
        from qiskit_ibm_runtime.api.exceptions import RequestsApiError

        errors.append(RequestsApiError)
    except ImportError:  # pragma: no cover - requests comes with qiskit-ibm-runtime
        pass
    return tuple(errors)


@functools.cache
def _job_failures() -> tuple:
    """Errors that mean the job itself failed or was cancelled (billed, no result): never retried in place."""
    from qiskit.providers.exceptions import JobError  # RuntimeJobFailureError derives from it
    from qiskit_ibm_runtime.exceptions import RuntimeInvalidStateError  # result() of a cancelled job
    from qiskit_ibm_runtime.exceptions import RuntimeJobMaxTimeoutError  # billed up to the limit, no result

    return (JobError, RuntimeInvalidStateError, RuntimeJobMaxTimeoutError)


class JobFailedError(RuntimeError):
    """A submitted job failed or was cancelled on the service; the store records it (see ``resubmit_failed``)."""
