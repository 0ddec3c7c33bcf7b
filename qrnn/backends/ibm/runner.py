"""The runtime runner: PUBs on a real IBM device through qiskit-ibm-runtime's Estimator."""
from __future__ import annotations

import numpy as np

from ..._optional import require


class _RuntimeRunner:
    """Runs PUBs on a real IBM device through the primitive of :func:`choose_primitive`."""

    def __init__(self, service, device_backend, options: dict, mode: str, precision):
        self.service, self.device, self.options = service, device_backend, options
        self.mode, self.precision = mode, precision
        self._estimator = None

    def _get_estimator(self):
        if self._estimator is None:
            runtime = require("qiskit_ibm_runtime", "backend 'ibm'")
            from qiskit_ibm_runtime.executor_estimator import Estimator

            # A session keeps the T dependent rounds of one transform together in the queue.
            mode = {"job": lambda: self.device, "batch": lambda: runtime.Batch(backend=self.device),
                    "session": lambda: runtime.Session(backend=self.device)}[self.mode]()
            self._estimator = Estimator(mode=mode, options=self.options)
        return self._estimator

    def submit(self, pubs, seed: int, tag: str):
        estimator = self._get_estimator()
        # The call's tag goes with the job, so that a submission whose response was
        # lost (or whose process died before recording it) is found, not paid again.
        estimator.options.environment.job_tags = list(self.options.get("environment", {}).get("job_tags", [])) + [tag]
        return estimator.run(pubs, precision=self.precision)

    def find(self, tag: str, pubs):
        jobs = self.service.jobs(job_tags=[tag], backend_name=self.device.name, limit=1)
        return jobs[0] if jobs else None

    def fetch(self, job_id: str, pubs, seed: int):
        return self.service.job(job_id)

    def collect(self, job) -> list:
        return [(np.asarray(r.data.evs, dtype=np.float64), np.asarray(r.data.stds, dtype=np.float64))
                for r in job.result()]
