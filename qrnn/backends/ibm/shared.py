"""What every copy of one IBM backend shares: the store (or a spend counter), and lock-step ensemble runs."""
from __future__ import annotations

import functools
import json
import os
import threading
import weakref
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .calls import _Part


_LOCAL = threading.local()  # the rendezvous (and member index) of an ensemble member's thread


class _Rendezvous:
    """Members of an ensemble that share one IBM backend, run in lock step: their calls become one.

    Each member runs in its own thread. A call waits until every member still
    running has posted its call (or finished); the calls are then submitted as
    one primitive call, in member order. Every member advances exactly one
    call per merged call, so the merging, and with it every call's key, is the
    same in every run.
    """

    def __init__(self, n: int, plan):
        self.live, self.cond, self.plan = n, threading.Condition(), plan
        self.pending: dict[int, tuple] = {}
        self.results: dict[int, np.ndarray] = {}
        self.error: BaseException | None = None

    def abort(self, error: BaseException) -> None:
        """Stop every member at its next call (an interrupt of the caller): nothing more is submitted."""
        with self.cond:
            if self.error is None:
                self.error = error
            self.cond.notify_all()

    def call(self, backend, part: _Part) -> np.ndarray:
        me = _LOCAL.member
        with self.cond:
            if self.error is not None:
                raise RuntimeError("the ensemble's run was stopped") from self.error
            self.pending[me] = (backend, part)
            self._fire()
            while me not in self.results and self.error is None:
                self.cond.wait()
            if me in self.results:
                return self.results.pop(me)
            raise RuntimeError("another member of the ensemble failed") from self.error

    def leave(self, error: BaseException | None = None) -> None:
        with self.cond:
            self.live -= 1
            if error is not None and self.error is None:
                self.error = error
            self._fire()
            self.cond.notify_all()

    def _fire(self) -> None:
        if not self.pending or len(self.pending) < self.live or self.error is not None:
            return
        order = sorted(self.pending)
        backend = self.pending[order[0]][0]
        parts = [self.pending[i][1] for i in order]
        backends = [self.pending[i][0] for i in order]
        self.pending = {}
        try:
            configs = {json.dumps(b.to_config(), sort_keys=True, default=str) for b in backends}
            if len(configs) > 1:
                raise ValueError("the members of an ensemble on one IBM store must use one backend configuration "
                                 "(their calls are merged into one): got " + " and ".join(sorted(configs))
                                 + "; give them the same backend object, or separate stores")
            outs = backend._run_parts(parts)
        except BaseException as exc:
            self.error = exc
            self.cond.notify_all()
            raise
        self.results.update(zip(order, outs))
        self.cond.notify_all()


class _Shared:
    """What every copy of one IBM backend shares: the store (or a spend counter), and lock-step runs.

    Copies made by ``copy.deepcopy``, ``sklearn.base.clone`` or pickling within
    a process share one object, so that a ceiling holds for all of them.
    """

    def __init__(self, ledger):
        self.ledger, self._spent, self.pid = ledger, 0.0, os.getpid()
        self.legacy: float | None = None  # estimated spend of calls a store of format 1 never priced
        self.mutex = threading.RLock()

    def spent(self) -> float:
        if self.ledger is None:
            return self._spent
        return self.ledger.spent + (self.legacy or 0.0)

    @functools.cached_property
    def lockstep(self) -> "_Lockstep":
        """The lock-step group of every backend on this store (or counter)."""
        return _Lockstep()


class _Lockstep:
    """The backends of one store (or spend counter): ensemble members on them run together.

    Their calls are merged into one, made under one backend's settings, so
    backends with other settings (another ceiling, retry policy, tags) on one
    store are refused before anything is submitted.
    """

    def run_lockstep(self, fns: list) -> list:
        """Run ``fns`` (members' transforms) in lock step, their calls merged; results in order.

        An interrupt of the caller (Ctrl-C) stops every member at its next
        call, waits for the call in flight, and is raised.
        """
        rv = _Rendezvous(len(fns), getattr(_LOCAL, "plan", None))
        results: list = [None] * len(fns)

        def work(i):
            _LOCAL.rendezvous, _LOCAL.member, _LOCAL.plan = rv, i, rv.plan
            try:
                results[i] = fns[i]()
                error = None
            except BaseException as exc:
                error = exc
            try:
                rv.leave(error)
            except BaseException:  # the merged call this leave fired failed: rv.error holds it for the caller
                pass
            _LOCAL.rendezvous = _LOCAL.plan = None

        threads = [threading.Thread(target=work, args=(i,), name=f"qrnn-ibm-member-{i}") for i in range(len(fns))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                t.join()
        except BaseException as exc:  # KeyboardInterrupt lands here, in the caller's thread
            rv.abort(exc)
            for t in threads:
                t.join()
            raise
        if rv.error is not None:
            raise rv.error
        return results


_SHARED: "weakref.WeakValueDictionary[tuple, _Shared]" = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def _shared_for(key: tuple, open_store) -> _Shared:
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is None:
            shared = _Shared(open_store())
            _SHARED[key] = shared
        return shared
