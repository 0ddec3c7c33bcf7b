"""An append-only store of paid-for primitive calls, so that nothing paid for is lost or paid twice.

A store is a directory holding

- ``header.json``: the store's format, the device and options it was made
  for, the circuit groups (the reservoir) registered in it, the device
  calibrations its calls ran under and the qrnn version that made it; a
  backend with another configuration is refused with a message naming what
  differs;
- ``ledger.jsonl``: one JSON record per line, per event of a call, each
  written with a single ``write`` and ``fsync``: ``"submitting"`` (the
  intent, with the call's estimated QPU seconds, before anything is sent),
  ``"submitted"`` (the job id, before the result is awaited), ``"done"`` and
  ``"failed"``. The last record of a key is its state; the store's spend is
  the sum of the estimates of its submission attempts, so a ceiling holds
  across processes and reruns;
- ``<key>.npz``: the results of each finished call (expectation values,
  standard errors and the parameter values of each part, and the call's
  key), written through a uniquely named temporary file, fsynced, renamed and
  the directory fsynced, before its ``"done"`` record;
- ``calibration-<id>.json``: the device calibration snapshot a call ran under;
- ``lock``: an exclusive ``flock`` held by the one process that writes the
  store (its pid and host written inside); the kernel releases it when that
  process ends, however it ends.

A torn last line of ``ledger.jsonl`` (a crash in the middle of a write) is
moved to ``ledger.jsonl.torn`` and cut away before anything is appended. Any
other damage (a line that is not a record, a missing header, a result file
that does not match its call) is reported, never silently used.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import socket
import threading
import time
import weakref
from pathlib import Path

import numpy as np

from ..._files import atomic_write

HEADER, LEDGER, LOCK = "header.json", "ledger.jsonl", "lock"
FORMAT = 2
STATUSES = ("submitting", "submitted", "done", "failed")
# Fields each status must carry (beyond "key" and "status"), with their types.
# (Stores of format 1 wrote no "submitting" records and no attempt numbers.)
_FIELDS = {"submitting": {"attempt": int, "qpu_seconds": (int, float)},
           "submitted": {"job_id": str, "sim_seed": int},
           "done": {"job_id": str, "sim_seed": int},
           "failed": {"error": str}}


class StoreLockedError(RuntimeError):
    """The store is being written by another process (one store has one writer)."""


class DamagedResultError(ValueError):
    """A finished call's result file is missing, unreadable, or not the result of that call."""


def _loads(text: str):
    """JSON without NaN or infinities (a store never holds them; one that does was tampered with)."""
    def refuse(name):
        raise ValueError(f"{name} is not a number a store holds")

    return json.loads(text, parse_constant=refuse)


def check_store_path(store) -> Path:
    """The store directory as a ``Path``; refused if it names a file (checked before any work).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "run1"
    >>> check_store_path(d) == d
    True
    """
    if not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"store must be a directory path (str or os.PathLike), got {type(store).__name__}")
    path = Path(store)
    if path.exists() and not path.is_dir():
        raise ValueError(f"store must be a directory (the ledger's folder), but {str(path)!r} is a file")
    return path


# One Ledger per store directory and process: every backend object (and copy)
# on a store shares it, its lock and its spend. It closes, releasing the lock,
# when the last of them is gone.
_OPEN: "weakref.WeakValueDictionary[str, Ledger]" = weakref.WeakValueDictionary()
_OPEN_LOCK = threading.RLock()  # close() of a Ledger refused while opening takes it again


def open_ledger(path, config: dict, wait: bool | float = False) -> "Ledger":
    """The process's :class:`Ledger` of the store at ``path``, opened (and locked) on first use.

    Parameters
    ----------
    path : str or os.PathLike
        The store directory, created if missing.
    config : dict
        The configuration the store must have been made for.
    wait : bool or float, default False
        If another process holds the store: ``False`` refuses at once,
        ``True`` waits for it, a number waits at most that many seconds.

    Raises
    ------
    StoreLockedError
        Another process holds the store (the message names it).
    ValueError
        The store was made for another configuration, or is damaged.
    """
    real = os.path.realpath(check_store_path(path))
    with _OPEN_LOCK:
        led = _OPEN.get(real)
        if led is None:
            led = Ledger(path, config, wait=wait)
            _OPEN[real] = led
        else:
            led._compare(led.config, json.loads(json.dumps(config)), "configuration")
        return led


class Ledger:
    """The store of one backend configuration (see the module docstring).

    Use :func:`open_ledger`, which gives every user of a store in a process
    the same object: a second ``Ledger`` on a store held by this process is
    refused like one in another process.

    Parameters
    ----------
    path : str or os.PathLike
        Directory, created on first use.
    config : dict
        JSON-able description of the device and options; a store made with a
        different one is refused.
    wait : bool or float, default False
        See :func:`open_ledger`.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> led = open_ledger(tempfile.mkdtemp(), {"device": "fake_manila", "shots": 100})
    >>> led.submitting("k1", {"round": 0}, qpu_seconds=2.5, attempt=1)
    >>> led.submitted("k1", {"job_id": "j1", "attempt": 1})
    >>> led.state("k1")["status"], led.state("k1")["job_id"], led.spent
    ('submitted', 'j1', 2.5)
    >>> v = np.zeros((4, 1, 2))
    >>> led.done("k1", [(np.ones((1, 4, 3)), np.zeros((1, 4, 3)), v)], {"job_id": "j1"})
    >>> parts = led.load("k1", [v], [(1, 4, 3)])
    >>> led.state("k1")["status"], parts[0][0].shape
    ('done', (1, 4, 3))
    >>> open_ledger(led.path, {"device": "fake_lima", "shots": 100})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the store ... was made for another configuration: device is 'fake_manila' there, 'fake_lima' here; ...
    """

    def __init__(self, path, config: dict, wait: bool | float = False):
        self.path = check_store_path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.config = json.loads(json.dumps(config))  # the form it takes on disk
        self._states: dict[str, dict] = {}
        self._attempts: dict[str, dict[int, float]] = {}  # key -> attempt -> estimated QPU seconds
        self._failures: dict[str, int] = {}
        self._unpriced: dict[str, dict] = {}  # format 1: submitted calls with no "submitting" record
        self._lock_fd = None
        self._mutex = threading.RLock()
        self._acquire(wait)
        try:
            header = self.path / HEADER
            ledger = self.path / LEDGER
            if header.exists():
                stored = self._read_header(header)
                self.format = stored.get("format", 1)
                if not isinstance(self.format, int) or isinstance(self.format, bool) or self.format > FORMAT:
                    raise ValueError(f"the store {str(self.path)!r} has format {self.format!r}, which this qrnn "
                                     f"(format {FORMAT}) does not know: use the qrnn that wrote it")
                self._compare(stored["config"], self.config, "configuration")
                self.groups = stored["groups"]
                self.calibrations = stored.get("calibrations", [])
                self.created_by = stored.get("qrnn_version")
            else:
                if ledger.exists() and ledger.stat().st_size > 0:
                    raise ValueError(f"the store {str(self.path)!r} is damaged: {HEADER} is missing but {LEDGER} "
                                     "holds records; restore the header or use another store directory")
                self.groups, self.calibrations, self.format = [], [], FORMAT
                self.created_by = _qrnn_version()
                self._write_header()
            self._read_ledger()
        except BaseException:
            self.close()
            raise

    # -- the lock ------------------------------------------------------------------------------
    def _acquire(self, wait) -> None:
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = None if wait is True or wait is False else time.monotonic() + float(wait)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait is True else fcntl.LOCK_NB))
                break
            except BlockingIOError:
                if wait is False or (deadline is not None and time.monotonic() >= deadline):
                    holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "an unknown process"
                    os.close(fd)
                    waited = "" if wait is False else f" after waiting {float(wait):g} s"
                    raise StoreLockedError(
                        f"the store {str(self.path)!r} is in use by {holder}{waited}: one store has one writer, "
                        "or calls would be paid twice. Wait for that run to finish, pass wait=True to "
                        "IBMBackend to wait for it, or use another store directory") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on host {socket.gethostname()} (since "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n".encode(), 0)
        self._lock_fd, self._pid = fd, os.getpid()
        self._finalizer = weakref.finalize(self, os.close, fd)

    def close(self) -> None:
        """Release the store (the lock file stays; the lock goes)."""
        if self._lock_fd is not None:
            self._finalizer()
            self._lock_fd = None
            with _OPEN_LOCK:
                if _OPEN.get(os.path.realpath(self.path)) is self:
                    del _OPEN[os.path.realpath(self.path)]

    # -- the header ----------------------------------------------------------------------------
    def _read_header(self, header: Path) -> dict:
        where = f"{str(header)!r}"
        try:
            stored = _loads(header.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"the store's header {where} is not valid JSON ({exc}); the store is damaged") from None
        if not isinstance(stored, dict):
            raise ValueError(f"the store's header {where} must be a JSON object, got {type(stored).__name__}")
        for field, kind in (("config", dict), ("groups", list)):
            if not isinstance(stored.get(field), kind):
                raise ValueError(f"the store's header {where} has no valid {field!r} "
                                 f"(expected a JSON {kind.__name__}); the store is damaged")
        for g in stored["groups"]:
            if not (isinstance(g, dict) and isinstance(g.get("fingerprint"), str)):
                raise ValueError(f"the store's header {where} has a group that is not a record with a fingerprint")
        calibrations = stored.get("calibrations", [])
        if not isinstance(calibrations, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str)
                                                         for c in calibrations):
            raise ValueError(f"the store's header {where}: 'calibrations' must be a list of records with an 'id'")
        return stored

    def _compare(self, there: dict, here: dict, what: str) -> None:
        diffs = [f"{k} is {there.get(k)!r} there, {here.get(k)!r} here"
                 for k in sorted(set(there) | set(here)) if there.get(k) != here.get(k)]
        if diffs:
            raise ValueError(f"the store {str(self.path)!r} was made for another {what}: {'; '.join(diffs)}; "
                             "use another store directory")

    def _write_header(self) -> None:
        self._check_writer()
        text = json.dumps({"format": FORMAT, "config": self.config, "groups": self.groups,
                           "calibrations": self.calibrations, "qrnn_version": self.created_by},
                          indent=1, sort_keys=True, allow_nan=False)
        atomic_write(self.path / HEADER, lambda fh: fh.write(text.encode()))

    def register_group(self, fingerprint: str, description: dict, write: bool = True) -> int:
        """Record a circuit group of the reservoir; its index is the "round" within a step.

        A store holds one reservoir: once calls were made, a group not among
        the registered ones means another reservoir (other weights or shape)
        and is refused. ``write=False`` (planning) only tells the index.
        """
        with self._mutex:
            known = [g["fingerprint"] for g in self.groups]
            if fingerprint in known:
                return known.index(fingerprint)
            if self._states:  # calls were made for the registered groups: this is another reservoir
                raise ValueError(
                    f"the store {str(self.path)!r} was made for another reservoir: its circuit groups are "
                    f"{[g.get('description') for g in self.groups]}, this one is {description} (other weights "
                    "or shape); use another store directory")
            if not write:
                return len(self.groups)
            self.groups.append({"fingerprint": fingerprint, "description": description})
            self._write_header()
            return len(self.groups) - 1

    def note_calibration(self, snapshot: dict) -> str:
        """Keep a device calibration snapshot (once per id); returns its id for the call records."""
        cid = snapshot["id"]
        with self._mutex:
            if cid not in [c["id"] for c in self.calibrations]:
                text = json.dumps(snapshot, indent=1, sort_keys=True, allow_nan=False, default=str)
                atomic_write(self.path / f"calibration-{cid}.json", lambda fh: fh.write(text.encode()))
                self.calibrations.append({k: snapshot.get(k) for k in ("id", "source", "timestamp")})
                self._write_header()
        return cid

    def calibration(self, cid: str) -> dict:
        """The calibration snapshot with id ``cid`` (see :meth:`note_calibration`)."""
        path = self.path / f"calibration-{cid}.json"
        try:
            return _loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"the calibration snapshot {str(path)!r} cannot be read ({exc})") from None

    # -- the ledger ----------------------------------------------------------------------------
    def _read_ledger(self) -> None:
        ledger = self.path / LEDGER
        if not ledger.exists():
            return
        data = ledger.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):  # a torn last line: its write never finished, so its event never took effect
            with open(ledger.with_name(LEDGER + ".torn"), "ab") as fh:
                fh.write(data[end:] + b"\n")
                fh.flush()
                os.fsync(fh.fileno())
            with open(ledger, "r+b") as fh:
                fh.truncate(end)
                fh.flush()
                os.fsync(fh.fileno())
        for number, line in enumerate(data[:end].decode("utf-8", "replace").splitlines(), 1):
            self._take(self._parse(line, number))

    def _parse(self, line: str, number: int) -> dict:
        where = f"{str(self.path / LEDGER)!r}, line {number}"
        try:
            rec = _loads(line)
        except ValueError as exc:
            raise ValueError(f"{where} is not a ledger record ({exc}); the store is damaged or was edited") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("key"), str) or rec.get("status") not in STATUSES:
            raise ValueError(f"{where} is not a ledger record (an object with a 'key' and a 'status' in "
                             f"{list(STATUSES)}); the store is damaged or was edited")
        for field, kind in _FIELDS[rec["status"]].items():
            value = rec.get(field)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ValueError(f"{where}: a {rec['status']!r} record needs {field!r} "
                                 f"({getattr(kind, '__name__', 'a number')}), got {value!r}")
        if rec["status"] == "submitting" and not (math.isfinite(rec["qpu_seconds"]) and rec["qpu_seconds"] >= 0):
            raise ValueError(f"{where}: qpu_seconds must be a finite number >= 0, got {rec['qpu_seconds']!r}")
        return rec

    def _take(self, rec: dict) -> None:
        key = rec["key"]
        self._states[key] = rec
        if rec["status"] == "submitting":
            self._attempts.setdefault(key, {})[rec["attempt"]] = float(rec["qpu_seconds"])
        elif rec["status"] == "failed":
            self._failures[key] = self._failures.get(key, 0) + 1
        elif rec["status"] == "submitted" and key not in self._attempts:
            self._unpriced.setdefault(key, rec)

    def _check_writer(self) -> None:
        # A forked child inherits the lock with the file descriptor: it must not write as if it held it.
        if os.getpid() != self._pid:
            raise StoreLockedError(f"the store {str(self.path)!r} is held by process {self._pid}; this process "
                                   f"({os.getpid()}) was forked from it and cannot write it: use the store from "
                                   "one process, or give each process its own store")

    def _append(self, record: dict) -> None:
        self._check_writer()
        line = (json.dumps(record, sort_keys=True, allow_nan=False) + "\n").encode()
        with self._mutex:
            fd = os.open(self.path / LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, line)  # one write: a crash leaves the line whole or torn at the end
                if written != len(line):
                    raise OSError(f"short write to {str(self.path / LEDGER)!r} ({written} of {len(line)} bytes)")
                os.fsync(fd)  # on disk before the caller sends or waits for anything
            finally:
                os.close(fd)
            self._take(record)

    def state(self, key: str) -> dict | None:
        """The last record of ``key``, or ``None`` if it was never submitted."""
        return self._states.get(key)

    def attempts(self, key: str) -> int:
        """How many submission attempts ``key`` has had (a resubmission after a failure is one more)."""
        return max(self._attempts.get(key, {0: 0.0}))

    def failures(self, key: str) -> int:
        """How many times ``key``'s job failed (its "failed" records)."""
        return self._failures.get(key, 0)

    def unpriced(self) -> list[dict]:
        """The first "submitted" record of each call a store of format 1 made without pricing it."""
        return list(self._unpriced.values())

    @property
    def spent(self) -> float:
        """Estimated QPU seconds of every submission attempt the store has recorded, by any process."""
        return float(sum(sum(a.values()) for a in self._attempts.values()))

    def submitting(self, key: str, info: dict, qpu_seconds: float, attempt: int) -> None:
        """Record the intent to submit ``key`` (attempt ``attempt``) and its cost, before anything is sent."""
        self._append({**info, "key": key, "status": "submitting", "attempt": int(attempt),
                      "qpu_seconds": float(qpu_seconds), "time": time.time()})

    def submitted(self, key: str, info: dict) -> None:
        self._append({**info, "key": key, "status": "submitted", "time": time.time()})

    def failed(self, key: str, info: dict) -> None:
        self._append({**info, "key": key, "status": "failed", "time": time.time()})

    def done(self, key: str, parts: list, info: dict) -> None:
        """Store a call's results, then record it done.

        ``parts`` holds ``(evs, stds, values)`` per part of the call (one per
        reservoir whose circuits it carried).
        """
        self._check_writer()
        arrays = {"key": np.array(key), "n_parts": np.array(len(parts))}
        for i, (evs, stds, values) in enumerate(parts):
            arrays.update({f"evs_{i}": evs, f"stds_{i}": stds, f"values_{i}": values})

        def write(fh):
            np.savez(fh, **arrays)

        atomic_write(self.path / f"{key}.npz", write)
        self._append({**info, "key": key, "status": "done", "time": time.time()})

    def load(self, key: str, values: list, shapes: list) -> list[tuple[np.ndarray, np.ndarray]]:
        """The ``(evs, stds)`` of each part of a finished call, checked against the call.

        ``values`` are the parameter values the call sends (one array per
        part) and ``shapes`` the ``(circuits, samples, observables)`` of each
        part's results. A file is used only if it holds this key, these
        values and these shapes, with finite numbers.

        Raises
        ------
        DamagedResultError
            The file is missing or unreadable, or does not match the call.
        """
        path = self.path / f"{key}.npz"
        try:
            with np.load(path, allow_pickle=False) as data:
                got = {k: data[k] for k in data.files}
        except Exception as exc:  # missing, truncated, not an npz: all mean "no usable result"
            raise DamagedResultError(f"{str(path)!r} cannot be read ({type(exc).__name__}: {exc})") from None
        if "n_parts" not in got and "evs" in got:  # a store of format 1: one part per call
            got = {"key": np.array(key), "n_parts": np.array(1), "evs_0": got["evs"], "stds_0": got["stds"],
                   "values_0": got.get("values")}
        problems = []
        try:
            n_parts = int(got.get("n_parts", -1))
        except (TypeError, ValueError):
            n_parts = -1
        if str(got.get("key")) != key:
            problems.append(f"it holds key {str(got.get('key'))!r}")
        elif n_parts != len(values):
            problems.append(f"it holds {got.get('n_parts')} parts, the call has {len(values)}")
        else:
            for i, (v, shape) in enumerate(zip(values, shapes)):
                evs, stds, stored = got.get(f"evs_{i}"), got.get(f"stds_{i}"), got.get(f"values_{i}")
                if stored is None or stored.shape != v.shape or not np.array_equal(stored, v):
                    problems.append(f"part {i} was computed for other inputs")
                elif evs is None or stds is None or evs.shape != tuple(shape) or stds.shape != tuple(shape):
                    problems.append(f"part {i} has shape {None if evs is None else evs.shape}, expected {tuple(shape)}")
                elif not (np.isfinite(evs).all() and np.isfinite(stds).all()):
                    problems.append(f"part {i} holds non-finite values")
        if problems:
            raise DamagedResultError(f"{str(path)!r} is not the result of this call: {'; '.join(problems)}")
        return [(got[f"evs_{i}"], got[f"stds_{i}"]) for i in range(len(values))]

    def arrays(self, key: str) -> dict:
        """Every array stored for a finished call, unchecked (for inspection)."""
        with np.load(self.path / f"{key}.npz", allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def records(self) -> list[dict]:
        """Every record of ``ledger.jsonl`` in order (what happened, for inspection)."""
        ledger = self.path / LEDGER
        if not ledger.exists():
            return []
        with open(ledger, encoding="utf-8") as fh:
            return [self._parse(line, i) for i, line in enumerate(fh, 1) if line.endswith("\n")]


def _qrnn_version() -> str:
    try:
        from importlib.metadata import version

        return version("qrnn")
    except Exception:  # pragma: no cover - running from a source tree that was never installed
        return "unknown"
