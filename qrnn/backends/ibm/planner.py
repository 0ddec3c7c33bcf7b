"""The cost planner: what a transform would cost on a device, planned before anything is spent."""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .devices import DEFAULT_PRECISION
from .ledger import DamagedResultError
from .shared import _LOCAL

# The QPU-time model of IBMBackend.estimate: a fixed cost per job (loading, compiling
# the parameter bindings) plus a cost per shot (circuit, measurement and reset delay,
# about 250 us on Eagle/Heron devices). Rough, on the safe side; for budgeting only.
SECONDS_PER_JOB = 2.0
SECONDS_PER_SHOT = 250e-6


@dataclass
class _Plan:
    """What a planned transform would do: every call, and what the store already holds."""

    calls: int = 0
    pubs: int = 0
    circuits: int = 0
    replayed: int = 0
    new_calls: int = 0
    new_circuits: int = 0
    new_qpu_seconds: float = 0.0


class _CostPlanner:
    """:class:`~qrnn.backends.IBMBackend`'s cost model, its plans and its QPU-time ceiling."""

    # -- cost ----------------------------------------------------------------------------------
    def shots_per_circuit(self) -> int:
        """Shots each circuit and sample costs (the service default precision's when neither is given)."""
        shots = self._effective_shots()
        return math.ceil(1.0 / DEFAULT_PRECISION**2) if shots is None else shots

    def _qpu_seconds(self, n_calls: int, n_executions: int) -> float:
        return n_calls * SECONDS_PER_JOB + n_executions * self.shots_per_circuit() * SECONDS_PER_SHOT

    def estimate(self, reservoir, X) -> dict:
        """What ``reservoir.transform(X)`` would cost on this backend, before anything is spent.

        ``reservoir`` is any reservoir (a quantum cell, an
        :class:`~qrnn.Ensemble`, ...), on this backend or not: a copy of it
        on this backend is planned, with no circuit run and nothing written.
        The counts are those of the real run. With a store, calls it already
        holds are replayed in the plan (their results are read, so that the
        later calls are planned from the right inputs) and cost nothing.

        Returns
        -------
        dict
            ``calls`` (primitive calls: T times the dependent rounds per step),
            ``pubs`` (circuits per call, summed), ``circuits`` (circuit
            executions: PUBs times samples), ``shots`` (all of them),
            ``qpu_seconds`` (of all of them, by the rough model
            ``SECONDS_PER_JOB`` per call plus ``SECONDS_PER_SHOT`` per shot);
            ``new_calls``, ``new_qpu_seconds`` (those not already in the store:
            what the run would pay now), ``spent_qpu_seconds`` (already spent
            on the store, or by this backend) and ``max_qpu_seconds``.

        Examples
        --------
        >>> import numpy as np
        >>> from qrnn import QLSTM
        >>> from qrnn.backends import IBMBackend
        >>> cost = IBMBackend("fake_manila", shots=1000).estimate(QLSTM(1, 3, seed=0), np.zeros((16, 4, 1)))
        >>> cost["calls"], cost["pubs"], cost["circuits"], cost["shots"]
        (8, 24, 384, 384000)
        """
        from ...cells import on_backend  # cells import the backends

        shared = self._state()
        planned = on_backend(reservoir, self)
        # The plan belongs to this thread (and the member threads it starts), so that a
        # real run in another thread on the same store is never planned instead of paid.
        _LOCAL.plan = plan = _Plan()
        try:
            planned.transform(X)
        finally:
            _LOCAL.plan = None
        return {"calls": plan.calls, "pubs": plan.pubs, "circuits": plan.circuits,
                "shots": plan.circuits * self.shots_per_circuit(),
                "qpu_seconds": self._qpu_seconds(plan.calls, plan.circuits),
                "new_calls": plan.new_calls, "new_qpu_seconds": plan.new_qpu_seconds,
                "spent_qpu_seconds": shared.spent(), "max_qpu_seconds": self.max_qpu_seconds}

    def check_budget(self, reservoir, X) -> dict:
        """:meth:`estimate`, refusing a run whose new calls would take the spend past ``max_qpu_seconds``.

        Call it before ``reservoir.transform(X)``: it raises before anything is
        submitted. Only calls the store does not already hold count, on top of
        what the store (or this backend and its copies) has already spent.
        (During the run, each call is also checked against the ceiling.)

        Raises
        ------
        ValueError
            The spend would exceed ``max_qpu_seconds`` (the message gives the figures).

        Examples
        --------
        >>> import numpy as np
        >>> from qrnn import QRNN
        >>> from qrnn.backends import IBMBackend
        >>> ibm = IBMBackend("fake_manila", shots=1000, max_qpu_seconds=5.0)
        >>> ibm.check_budget(QRNN(1, 3, seed=0), np.zeros((4, 4, 1)))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: the run needs 12.0 more QPU seconds (4 new calls of 4, 16 circuits of 1000 shots), ...
        """
        cost = self.estimate(reservoir, X)
        if (self.max_qpu_seconds is not None
                and cost["spent_qpu_seconds"] + cost["new_qpu_seconds"] > self.max_qpu_seconds):
            raise ValueError(
                f"the run needs {cost['new_qpu_seconds']:.1f} more QPU seconds ({cost['new_calls']} new calls of "
                f"{cost['calls']}, {cost['circuits']} circuits of {self.shots_per_circuit()} shots), and "
                f"{cost['spent_qpu_seconds']:.1f} s are already spent, above max_qpu_seconds="
                f"{self.max_qpu_seconds:g}; nothing was submitted")
        return cost

    def _check_call_budget(self, cost: float) -> None:
        shared = self._state()
        if shared.ledger is None and self.max_qpu_seconds is not None and shared.pid != os.getpid():
            raise RuntimeError(self._no_shared_ceiling())  # a forked copy of the counter
        spent = shared.spent()
        if self.max_qpu_seconds is not None and spent + cost > self.max_qpu_seconds:
            where = "on this store" if self.store is not None else "by this backend and its copies"
            raise RuntimeError(
                f"max_qpu_seconds={self.max_qpu_seconds:g} would be exceeded: {spent:.1f} s estimated spent "
                f"{where}, this call needs {cost:.1f} s more; nothing was submitted. Check a run first with "
                "IBMBackend.check_budget(reservoir, X), and raise the ceiling or shrink the run")

    def _plan_call(self, plan: _Plan, key, state, parts, shapes, executions, cost) -> list:
        plan.calls += 1
        plan.pubs += sum(K for K, _, _ in shapes)
        plan.circuits += executions
        status = None if state is None else state["status"]
        if status == "done":
            try:
                results = self.ledger.load(key, [p.values for p in parts], shapes)
            except DamagedResultError:
                pass  # recovered by fetching its job: no new cost
            else:
                plan.replayed += 1
                return [evs for evs, _ in results]
        elif status in (None, "failed"):  # a new submission (a failed one only if it may be resubmitted)
            if status is None or (self.resubmit_failed and self.ledger.failures(key) <= self.max_resubmits):
                plan.new_calls += 1
                plan.new_circuits += executions
                plan.new_qpu_seconds += cost
        return [np.zeros(shape) for shape in shapes]
