"""The study's tasks: each one's series, its windows, and the persistence baseline's forecasts."""
from __future__ import annotations

import functools

import numpy as np

from qrnn._validation import check_choice
from qrnn.tasks import chronological_split, delayed_quantum_control, minmax_scale, narma, narma10_stream

from ..compare import TASKS as _COMPARE_TASKS
from ..compare import target_windows

# Every task of SPEC section 4 that the paper used, plus the classic NARMA-10
# stream and the sine smoke test: (series, target or None, window). Windows of
# 4 predict the next value, as in the paper; on NARMA a window of the input u
# ending at t predicts the output y_{t+1}. The stream's target needs the input
# 10 steps back, so its windows are 10 long (1000 steps of one seeded stream,
# no rescaling).
_EXTRA_TASKS = {
    "narma10": lambda: (*narma(300, order=10), 4),
    "delayed_control": lambda: (minmax_scale(delayed_quantum_control()), None, 4),
    "narma10_stream": lambda: (*narma10_stream(1000, seed=0), 10),
}
TASKS = (*_COMPARE_TASKS, *_EXTRA_TASKS)


def _series(task: str):
    check_choice(task, "task", TASKS)
    if task in _EXTRA_TASKS:
        return _EXTRA_TASKS[task]()
    return (*_COMPARE_TASKS[task](), 4)


def task_windows(task: str):
    """``(X, y)`` for a study task: windows ``(n, T, 1)`` and next values ``(n,)``."""
    return target_windows(*_series(task))


@functools.lru_cache(maxsize=None)
def _shape(task: str) -> tuple[int, int]:
    """``(windows, steps per window)`` of a task."""
    return task_windows(task)[0].shape[:2]


def persistence(task: str) -> np.ndarray:
    """The last known value of the forecast series at every window of :func:`task_windows`: the
    window's last value, or on NARMA (windows of the input, targets from the output) the previous output."""
    u, target, window = _series(task)
    X, _ = target_windows(u, target, window)
    return X[:, -1, 0] if target is None else target[window - 1:window - 1 + len(X)]


def _data(task: str, train_fraction: float):
    X, y = task_windows(task)
    return chronological_split(X, y, train_fraction)
