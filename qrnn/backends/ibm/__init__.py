"""IBM Quantum backend: reservoirs on IBM devices, rehearsed offline on IBM's fake devices.

A recurrent reservoir needs step ``t``'s measured values before it can build
step ``t+1``'s circuits, so the floor is one round trip per dependent round of
circuits per time step. :class:`IBMBackend` meets it: each call of a compiled
group's ``columns`` (one round of one step) is one primitive call carrying
every sample and every circuit of the group as parameterised PUBs; the
members of an ensemble on one backend run in lock step, so that one call
carries the round of every member.
With ``store=`` every call goes through a :class:`~qrnn.backends.ibm.ledger.Ledger`
first, so an interrupted run resumes without paying twice.

The modules, each one concept:

- :mod:`~qrnn.backends.ibm.devices`: the device catalogue (fake device names,
  the primitive of a device, the service's default precision);
- :mod:`~qrnn.backends.ibm.credentials`: whether IBM Quantum credentials exist;
- :mod:`~qrnn.backends.ibm.simulator`: the local noisy simulator of fake devices;
- :mod:`~qrnn.backends.ibm.runner`: the runtime runner of real devices;
- :mod:`~qrnn.backends.ibm.errors`: which service errors are retried, which mean a failed job;
- :mod:`~qrnn.backends.ibm.planner`: the cost model, plans and the QPU-time ceiling;
- :mod:`~qrnn.backends.ibm.calls`: ledger-backed primitive calls;
- :mod:`~qrnn.backends.ibm.shared`: what copies of a backend share, and lock-step ensemble runs;
- :mod:`~qrnn.backends.ibm.ledger`: the append-only store of paid-for calls;
- :mod:`~qrnn.backends.ibm.backend`: :class:`IBMBackend` itself.
"""
from __future__ import annotations

from .backend import IBMBackend
from .devices import DEFAULT_PRECISION, choose_primitive, fake_device_names
from .errors import JobFailedError
from .ledger import DamagedResultError, Ledger, StoreLockedError, open_ledger
from .planner import SECONDS_PER_JOB, SECONDS_PER_SHOT

__all__ = ["IBMBackend", "JobFailedError", "StoreLockedError", "DamagedResultError", "Ledger", "open_ledger",
           "fake_device_names", "choose_primitive", "DEFAULT_PRECISION", "SECONDS_PER_JOB", "SECONDS_PER_SHOT"]
