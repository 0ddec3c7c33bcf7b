"""An append-only store of paid-for primitive calls, so that an interrupted run loses nothing.

A store is a directory holding

- ``header.json``: the device and options the store was made for, and the
  circuit groups (the reservoir) registered in it; a backend with another
  configuration is refused with a message naming what differs;
- ``ledger.jsonl``: one JSON record per event, appended and flushed to disk
  *before* the result is awaited (``"submitted"``, with the job id) and when
  it arrives (``"done"``); the last record of a key is its state;
- ``<key>.npz``: expectation values and standard errors of each finished call,
  written atomically before its ``"done"`` record.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

HEADER, LEDGER = "header.json", "ledger.jsonl"


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file and rename it, so a crash leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


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


class Ledger:
    """The store of one backend configuration (see the module docstring).

    Parameters
    ----------
    path : str or os.PathLike
        Directory, created on first use.
    config : dict
        JSON-able description of the device and options; a store made with a
        different one is refused.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> led = Ledger(tempfile.mkdtemp(), {"device": "fake_manila", "shots": 100})
    >>> led.submitted("k1", {"job_id": "j1"})
    >>> led.state("k1")["status"], led.state("k1")["job_id"]
    ('submitted', 'j1')
    >>> led.done("k1", np.ones((1, 2, 3)), np.zeros((1, 2, 3)), {"job_id": "j1"})
    >>> led.state("k1")["status"], led.load("k1")[0].shape
    ('done', (1, 2, 3))
    >>> Ledger(led.path, {"device": "fake_lima", "shots": 100})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the store ... was made for another configuration: device is 'fake_manila' there, 'fake_lima' here; ...
    """

    def __init__(self, path, config: dict):
        self.path = check_store_path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.config = json.loads(json.dumps(config))  # the form it takes on disk
        self._states: dict[str, dict] = {}
        header = self.path / HEADER
        if header.exists():
            stored = json.loads(header.read_text())
            self._compare(stored.get("config", {}), self.config, "configuration")
            self.groups = stored.get("groups", [])
        else:
            self.groups = []
            self._write_header()
        self._read_ledger()

    def _compare(self, there: dict, here: dict, what: str) -> None:
        diffs = [f"{k} is {there.get(k)!r} there, {here.get(k)!r} here"
                 for k in sorted(set(there) | set(here)) if there.get(k) != here.get(k)]
        if diffs:
            raise ValueError(f"the store {str(self.path)!r} was made for another {what}: {'; '.join(diffs)}; "
                             "use another store directory")

    def _write_header(self) -> None:
        text = json.dumps({"config": self.config, "groups": self.groups}, indent=1, sort_keys=True)
        _atomic_write(self.path / HEADER, lambda fh: fh.write(text.encode()))

    def register_group(self, fingerprint: str, description: dict) -> int:
        """Record a circuit group of the reservoir; its index is the "round" within a step.

        A store holds one reservoir: once groups are registered, a group not
        among them means another reservoir (other weights or shape) and is refused.
        """
        known = [g["fingerprint"] for g in self.groups]
        if fingerprint in known:
            return known.index(fingerprint)
        if self._states:  # calls were made for the registered groups: this is another reservoir
            raise ValueError(
                f"the store {str(self.path)!r} was made for another reservoir: its circuit groups are "
                f"{[g['description'] for g in self.groups]}, this one is {description} (other weights "
                "or shape); use another store directory")
        self.groups.append({"fingerprint": fingerprint, "description": description})
        self._write_header()
        return len(self.groups) - 1

    def _read_ledger(self) -> None:
        ledger = self.path / LEDGER
        if not ledger.exists():
            return
        with open(ledger, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a crash: its call is simply not recorded
                    continue
                self._states[rec["key"]] = rec

    def _append(self, record: dict) -> None:
        with open(self.path / LEDGER, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())  # on disk before the caller waits for the job
        self._states[record["key"]] = record

    def state(self, key: str) -> dict | None:
        """The last record of ``key``, or ``None`` if it was never submitted."""
        return self._states.get(key)

    def submitted(self, key: str, info: dict) -> None:
        self._append({**info, "key": key, "status": "submitted", "time": time.time()})

    def done(self, key: str, evs: np.ndarray, stds: np.ndarray, info: dict, **arrays) -> None:
        """Store a call's results (and ``arrays`` such as its parameter values), then record it done."""
        def write(fh):
            np.savez(fh, evs=evs, stds=stds, **arrays)

        _atomic_write(self.path / f"{key}.npz", write)
        self._append({**info, "key": key, "status": "done", "time": time.time()})

    def load(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """Expectation values and standard errors of a finished call."""
        data = self.arrays(key)
        return data["evs"], data["stds"]

    def arrays(self, key: str) -> dict:
        """Every array stored for a finished call (``evs``, ``stds``, and e.g. ``values``)."""
        with np.load(self.path / f"{key}.npz") as data:
            return {k: data[k] for k in data.files}

    def records(self) -> list[dict]:
        """Every record of ``ledger.jsonl`` in order (what happened, for inspection)."""
        ledger = self.path / LEDGER
        if not ledger.exists():
            return []
        out = []
        with open(ledger, encoding="utf-8") as fh:
            for line in fh:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out
