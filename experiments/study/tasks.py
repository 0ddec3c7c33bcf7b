"""The study's tasks, in one registry: each one's series, its windows, and the persistence baseline's forecasts.

A task is a name in :data:`TASKS` and a function of no arguments that
returns ``(series, target, window)``: the series the windows are cut from,
``None`` to forecast the series itself (or, NARMA's way, an output series
of the same length that the windows of the input predict), and the window
length. The built-in ones are the tasks of ``experiments.compare`` (windows
of 4) and three more; :func:`register_task` adds one of your own, and a
config's ``[tasks.NAME]`` tables add tasks read from files.

Examples
--------
>>> from experiments.study.tasks import TASKS, register_task, task_windows
>>> import numpy as np
>>> _ = register_task("ramp", lambda: (np.linspace(0.0, 1.0, 50), None, 5))
>>> X, y = task_windows("ramp")
>>> X.shape, y.shape
((45, 5, 1), (45,))
>>> TASKS.unregister("ramp")
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from qrnn._validation import check_choice, check_int, check_real
from qrnn.registry import Registry
from qrnn.tasks import chronological_split, delayed_quantum_control, minmax_scale, narma, narma10_stream

from ..compare import TASKS as _COMPARE_TASKS
from ..compare import target_windows

#: Every study task by name. Tags: ``"builtin"`` (shipped), ``"registered"``
#: (:func:`register_task`), ``"file"`` (a config's ``[tasks.NAME]``); info:
#: ``horizon`` and ``train_fraction`` (None: the study's).
TASKS = Registry("study task")

# A task's name is part of its stored cells' file names.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

# (entry, shape) by task name: a task registered again under the same name is a new entry
_SHAPES: dict = {}


def _add(name: str, fn, tag: str, *, horizon: int = 1, train_fraction=None, replace: bool = False, **info):
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a study task name must be letters, digits, '_', '.' or '-' (starting with a letter "
                         f"or digit), got {name!r}")
    if not callable(fn):
        raise TypeError(f"task {name!r}: fn must be a function of no arguments returning (series, target, window), "
                        f"got {type(fn).__name__}")
    horizon = check_int(horizon, "horizon", minimum=1)
    if train_fraction is not None:
        train_fraction = check_real(train_fraction, "train_fraction", low=0.0, high=1.0, low_open=True,
                                    high_open=True)
    TASKS.register(name, fn, tags=(tag,), replace=replace, horizon=horizon, train_fraction=train_fraction, **info)
    return fn


def register_task(name: str, fn, *, horizon: int = 1, train_fraction: float | None = None, replace: bool = False):
    """Add a study task of your own, so that a config can name it in ``study.tasks``.

    Parameters
    ----------
    name : str
        The name a config writes (letters, digits, ``_``, ``.``, ``-``); it
        is part of the stored cells' file names.
    fn : callable
        ``fn()`` returns ``(series, target, window)``: a 1-D series, None
        (forecast the series) or an output series of the same length that
        the windows of ``series`` predict, and the window length.
    horizon : int, default 1
        Forecast the value this many steps after each window.
    train_fraction : float, optional
        This task's training fraction; None takes the study's.
    replace : bool, default False
        Replace a task already registered under ``name``.

    Returns
    -------
    callable
        ``fn``.

    Notes
    -----
    A stored cell of a registered task is reused only while ``fn`` returns
    the same data (its SHA-256 is in the cell's settings). Ray workers get
    the registration from the process that starts the study.

    Examples
    --------
    >>> import numpy as np
    >>> from experiments.study import TASKS, register_task, task_windows
    >>> _ = register_task("sawtooth", lambda: (np.arange(60.0) % 7 / 7, None, 4), horizon=2)
    >>> task_windows("sawtooth")[1][:3].round(3).tolist()  # the values 2 steps after each window
    [0.714, 0.857, 0.0]
    >>> TASKS.unregister("sawtooth")
    """
    return _add(name, fn, "registered", horizon=horizon, train_fraction=train_fraction, replace=replace)


for _name, _fn in _COMPARE_TASKS.items():
    _add(_name, lambda fn=_fn: (*fn(), 4), "builtin")
# Every task of SPEC section 4 that the paper used, plus the classic NARMA-10
# stream and the sine smoke test. Windows of 4 predict the next value, as in
# the paper; on NARMA a window of the input u ending at t predicts the output
# y_{t+1}. The stream's target needs the input 10 steps back, so its windows
# are 10 long (1000 steps of one seeded stream, no rescaling).
_add("narma10", lambda: (*narma(300, order=10), 4), "builtin")
_add("delayed_control", lambda: (minmax_scale(delayed_quantum_control()), None, 4), "builtin")
_add("narma10_stream", lambda: (*narma10_stream(1000, seed=0), 10), "builtin")
del _name, _fn


def _series(task: str):
    check_choice(task, "task", TASKS.names())
    return TASKS[task]()


def task_horizon(task: str) -> int:
    """How many steps after each window a task forecasts."""
    return TASKS.entry(task).info["horizon"]


def task_train_fraction(task: str, cfg) -> float:
    """The fraction of a task's windows that train: the task's own, or the study's (``cfg.train_fraction``)."""
    own = TASKS.entry(task).info["train_fraction"]
    return cfg.train_fraction if own is None else own


def task_windows(task: str):
    """``(X, y)`` for a study task: windows ``(n, T, 1)`` and the values they forecast ``(n,)``."""
    return target_windows(*_series(task), horizon=task_horizon(task))


def _shape(task: str) -> tuple[int, int]:
    """``(windows, steps per window)`` of a task."""
    entry = TASKS.entry(task) if task in TASKS else None
    cached = _SHAPES.get(task)
    if cached is None or entry is None or cached[0] is not entry:
        cached = _SHAPES[task] = (entry, task_windows(task)[0].shape[:2])
    return cached[1]


def persistence(task: str) -> np.ndarray:
    """The last known value of the forecast series at every window of :func:`task_windows`: the
    window's last value, or on NARMA (windows of the input, targets from the output) the previous output."""
    u, target, window = _series(task)
    X, _ = target_windows(u, target, window, task_horizon(task))
    return X[:, -1, 0] if target is None else target[window - 1:window - 1 + len(X)]


def task_fingerprint(task: str) -> dict | None:
    """What a stored cell of ``task`` was run on, for a task that is not built in (None for those).

    The SHA-256 of its data (the float64 values of its series and target,
    or of a file task's column), its window, horizon and own training
    fraction: a stored cell is reused only while they match, so a changed
    file or function never returns old results. Built-in tasks are fixed
    generators; their cells carry no fingerprint, as before tasks could be added.

    Examples
    --------
    >>> import numpy as np
    >>> task_fingerprint("sine") is None
    True
    >>> _ = register_task("steps", lambda: (np.arange(30.0) // 5, None, 4))
    >>> sorted(task_fingerprint("steps"))
    ['data_sha256', 'horizon', 'train_fraction', 'window']
    >>> TASKS.unregister("steps")
    """
    entry = TASKS.entry(task)
    if "builtin" in entry.tags:
        return None
    series, target, window = entry.resolve()()
    digest = entry.info.get("data_sha256")
    if digest is None:
        h = hashlib.sha256()
        for part in (series, target):
            h.update(b"none" if part is None else np.ascontiguousarray(part, dtype="<f8").tobytes())
            h.update(b"|")
        digest = h.hexdigest()
    fingerprint = {"data_sha256": digest, "window": int(window), "horizon": entry.info["horizon"],
                   "train_fraction": entry.info["train_fraction"]}
    if "scale" in entry.info:  # a file task's
        fingerprint["scale"] = entry.info["scale"]
    return fingerprint


def _data(task: str, train_fraction: float):
    X, y = task_windows(task)
    return chronological_split(X, y, train_fraction)
