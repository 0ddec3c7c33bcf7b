"""A run on a fake IBM device that SIGKILLs itself at a chosen point of a chosen call (for tests/test_ibm_faults.py).

``python tests/ibm_fault_driver.py STORE POINT CALL LOG OUT [MAX_QPU_SECONDS]``
runs a QLSTM(1, 3) reservoir (B = 6, T = 4: 8 calls; with ``QRNN_FAULT_MODEL=ensemble``
the recommended QRNN ensemble of 5 members, 4 calls) on ``fake_manila`` with
``store=STORE`` and kills itself with SIGKILL at ``POINT`` of call number
``CALL`` (1-based; ``POINT = none`` runs to the end). Every job the fake
service accepts is appended to ``LOG`` (its tag, and its estimated QPU
seconds) before the kill can happen; the features go to ``OUT`` (.npy) when
the run ends. The same inputs and seed give the same features in every run.
"""
from __future__ import annotations

import json
import os
import signal
import sys

import numpy as np

POINTS = ("before-submit", "after-submit", "after-record", "after-collect", "mid-result-write",
          "after-rename", "after-done", "torn-record")
B, T, SHOTS, SEED = 6, 4, 400, 11


def inputs() -> np.ndarray:
    return np.random.default_rng(5).normal(size=(B, T, 1)) * 2.0


def backend(store, max_qpu_seconds=None):
    from qrnn.backends import IBMBackend

    return IBMBackend("fake_manila", shots=SHOTS, seed=SEED, store=store, max_qpu_seconds=max_qpu_seconds,
                      retry_delay=0.0)


def reservoir(ibm):
    """QLSTM(1, 3) with correlators, or with QRNN_FAULT_MODEL=ensemble the recommended QRNN ensemble (5 members)."""
    from qrnn import QLSTM, recommended_reservoir

    if os.environ.get("QRNN_FAULT_MODEL") == "ensemble":
        return recommended_reservoir("QRNN", 1, seed=0, backend=ibm)
    return QLSTM(1, 3, seed=0, backend=ibm, correlators=True)


def log_submissions(ibm, log_path) -> None:
    """Append each accepted submission's tag and cost to ``log_path``, fsynced (the service's own books)."""
    runner = ibm._runner_for()
    original = runner.submit

    def submit(pubs, seed, tag):
        job = original(pubs, seed, tag)
        executions = sum(v.shape[0] for _, _, v in pubs)
        with open(log_path, "a") as fh:
            fh.write(json.dumps({"tag": tag, "qpu_seconds": ibm._qpu_seconds(1, executions)}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return job

    runner.submit = submit


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def arm(ibm, point: str, call: int) -> None:
    """Make the process kill itself at ``point`` of call number ``call``.

    The file-level points patch the ``os`` module itself: the store writes its
    lines with ``os.write`` (``qrnn.backends.ibm.ledger``) and renames its result
    files with ``os.replace`` (``qrnn._files.atomic_write``), both looked up on
    ``os`` at each call.
    """
    runner = ibm._runner_for()
    count = {"submit": 0, "collect": 0, "replace": 0, "done": 0, "write": 0}

    def counted(name, fn, before=False, after=False):
        def wrapped(*args, **kwargs):
            count[name] += 1
            if before and count[name] == call:
                die()
            out = fn(*args, **kwargs)
            if after and count[name] == call:
                die()
            return out
        return wrapped

    if point == "before-submit":  # the intent is recorded, nothing sent
        runner.submit = counted("submit", runner.submit, before=True)
    elif point == "after-submit":  # the service has the job, the ledger does not know its id
        runner.submit = counted("submit", runner.submit, after=True)
    elif point == "after-record":  # the job id is recorded, the result never awaited
        runner.collect = counted("collect", runner.collect, before=True)
    elif point == "after-collect":  # the result is in memory only
        runner.collect = counted("collect", runner.collect, after=True)
    elif point in ("mid-result-write", "after-rename"):
        real = os.replace

        def replace(src, dst):
            if str(dst).endswith(".npz"):
                count["replace"] += 1
                if count["replace"] == call and point == "mid-result-write":
                    die()  # the temporary file is written, not yet renamed
            real(src, dst)
            if str(dst).endswith(".npz") and count["replace"] == call and point == "after-rename":
                die()  # renamed, the directory not fsynced, no "done" record
        os.replace = replace
    elif point == "after-done":
        led = ibm.ledger
        led.done = counted("done", led.done, after=True)
    elif point == "torn-record":  # a ledger line cut half way: the "submitted" record of call ``call``
        real_write = os.write

        def write(fd, data):
            if b'"status": "submitted"' in data:
                count["write"] += 1
                if count["write"] == call:
                    real_write(fd, data[: len(data) // 2])
                    die()
            return real_write(fd, data)
        os.write = write
    elif point != "none":
        raise SystemExit(f"unknown point {point!r}; expected one of {POINTS} or 'none'")


def main(argv) -> None:
    store, point, call, log_path, out = argv[:5]
    ceiling = float(argv[5]) if len(argv) > 5 else None
    ibm = backend(store, ceiling)
    log_submissions(ibm, log_path)
    arm(ibm, point, int(call))
    np.save(out, reservoir(ibm).transform(inputs()))


if __name__ == "__main__":
    main(sys.argv[1:])
