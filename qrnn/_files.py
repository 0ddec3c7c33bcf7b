"""Writing files so that a crash never leaves a torn one: the package's one atomic-write helper."""
from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path) -> None:
    """Make a rename inside directory ``path`` survive a power cut."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path, data) -> None:
    """Write ``data`` to ``path`` through a uniquely named temporary file, fsync it, rename it, fsync the directory.

    ``data`` is ``bytes`` or a callable that writes to the open binary file
    it is given (``np.savez`` and ``zipfile`` take one). A crash leaves the
    old file or the new one, never a part of either; the temporary name is
    unique per process and write, so that two writers never share one, and
    it is removed if the write fails.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, b"hello")
    >>> p.read_bytes()
    b'hello'
    """
    path = Path(path)
    write = data if callable(data) else (lambda fh: fh.write(data))
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
