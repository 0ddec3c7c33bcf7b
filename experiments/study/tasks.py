"""The study's tasks, in one registry: each one's data, its kind, and the persistence baseline's forecasts.

Three kinds of task (:data:`KINDS`; :func:`task_kind`):

- ``"forecast"``: a function of no arguments returns ``(series, target,
  window)``: the series the windows are cut from, ``None`` to forecast the
  series itself (or, NARMA's way, an output series of the same length that
  the windows of the input predict), and the window length; scored by MSE
  and NRMSE on the last windows. The built-in ones are the tasks of
  ``experiments.compare`` (windows of 4) and three more;
  :func:`register_task` adds one of your own, and a config's
  ``[tasks.NAME]`` tables add tasks read from files.
- ``"classification"``: the function returns ``(X_train, y_train, X_test,
  y_test)``, sequences of shape ``(T_i, d)`` (lengths may differ; ``(T_i,)``
  for one input) and their labels (str or int); scored by accuracy. Built
  in: ``waveforms`` (synthetic, seeded: sine, square and sawtooth waves of
  random period, phase and length, in noise) and ``japanese_vowels`` (real
  data, :func:`qrnn.datasets.japanese_vowels`: needs ``qrnn[datasets]``).
  :func:`register_classification_task` adds one.
- ``"generation"``: the function returns a 1-D series; a model is fitted
  one step ahead on its first ``n_fit + 1`` values (a prediction at every
  step past ``washout``), runs over them as its warmup, then generates the
  next ``horizon`` values from its own predictions (closed loop); scored by
  the valid time (:func:`qrnn.metrics.valid_time`) and the NRMSE over the
  horizon, both against the standard deviation of the fitted stream. Built
  in: ``mackey_glass_generation`` (:func:`qrnn.tasks.mackey_glass`, tau 17,
  ``tanh(x - 1)`` as Jaeger's benchmark transforms it; 2000 steps fitted
  after a transient of 500 is left out, 50 generated).
  :func:`register_generation_task` adds one.

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
from dataclasses import dataclass

import numpy as np

from qrnn._validation import check_choice, check_int, check_real
from qrnn.registry import Registry
from qrnn.tasks import (MinMaxScaler, chronological_split, delayed_quantum_control, mackey_glass, minmax_scale, narma,
                        narma10_stream, split_point)

from ..compare import TASKS as _COMPARE_TASKS
from ..compare import target_windows

#: Every study task by name. Tags: ``"builtin"`` (shipped), ``"registered"``
#: (:func:`register_task` and its kin), ``"file"`` (a config's ``[tasks.NAME]``);
#: info: ``kind``, and a forecast's ``horizon`` and ``train_fraction`` (None:
#: the study's), a classification's ``readout`` and ``washout``, a
#: generation's ``n_fit``, ``horizon``, ``washout`` and ``chunk``.
TASKS = Registry("study task")

#: The kinds of study task: one-step forecasting of windows, sequence classification, closed-loop generation.
KINDS = ("forecast", "classification", "generation")

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
    TASKS.register(name, fn, tags=(tag,), replace=replace, kind="forecast", horizon=horizon,
                   train_fraction=train_fraction, **info)
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


_SANTAFE_POINTS, _SANTAFE_WINDOW, _SANTAFE_TRAIN = 2000, 10, 0.67


def _santafe_laser():
    # real data (qrnn.datasets: needs qrnn[datasets]): the laser's first 2000 points in windows of 10 (its
    # pulses build over about 8 steps), the next value the target; scaled to [-1, 1] by the range of the
    # values the training windows see (its own training fraction), nothing of the test part
    from qrnn.datasets import santafe_laser

    x = santafe_laser()[:_SANTAFE_POINTS]
    seen = split_point(len(x) - _SANTAFE_WINDOW, _SANTAFE_TRAIN) + _SANTAFE_WINDOW
    return MinMaxScaler().fit(x[:seen]).transform(x), None, _SANTAFE_WINDOW


_add("santafe_laser", _santafe_laser, "builtin", train_fraction=_SANTAFE_TRAIN, dataset=True)
del _name, _fn


# --- classification and closed-loop generation tasks -------------------------------------------------------

def _check_new(name, fn, what: str):
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a study task name must be letters, digits, '_', '.' or '-' (starting with a letter "
                         f"or digit), got {name!r}")
    if not callable(fn):
        raise TypeError(f"task {name!r}: fn must be a function of no arguments returning {what}, "
                        f"got {type(fn).__name__}")


def register_classification_task(name: str, fn, *, readout: str = "last+mean", washout: int = 0,
                                 replace: bool = False):
    """Add a sequence classification task of your own, so that a config can name it in ``study.tasks``.

    Parameters
    ----------
    name : str
        The name a config writes (letters, digits, ``_``, ``.``, ``-``).
    fn : callable
        ``fn()`` returns ``(X_train, y_train, X_test, y_test)``: sequences
        (a list of ``(T_i, d)`` or ``(T_i,)`` arrays, or an array ``(n, T, d)``
        or ``(n, T)``) and their labels (str or int). It is called when a
        config naming the task is loaded, and its data checked then.
    readout : {"last", "mean", "last+mean"}, default "last+mean"
        The features of a sequence the classifiers' readout sees
        (:class:`qrnn.ReservoirClassifier`).
    washout : int, default 0
        Steps at the start of each sequence that the pooled readouts leave out.
    replace : bool, default False
        Replace a task already registered under ``name``.

    Returns
    -------
    callable
        ``fn``.

    Examples
    --------
    >>> import numpy as np
    >>> from experiments.study import TASKS, classification_data, register_classification_task
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((40, 6, 2)), np.repeat(["a", "b"], 20)
    >>> _ = register_classification_task("pairs", lambda: (X[::2], y[::2], X[1::2], y[1::2]))
    >>> data = classification_data("pairs")
    >>> len(data.X_train), data.input_size, data.classes.tolist()
    (20, 2, ['a', 'b'])
    >>> TASKS.unregister("pairs")
    """
    return _add_classification(name, fn, "registered", readout=readout, washout=washout, replace=replace)


def _add_classification(name, fn, tag: str, *, readout="last+mean", washout=0, replace=False):
    _check_new(name, fn, "(X_train, y_train, X_test, y_test)")
    from qrnn.classifier import READOUTS

    readout = check_choice(readout, "readout", READOUTS)
    washout = check_int(washout, "washout", minimum=0)
    if washout and readout == "last":
        raise ValueError("washout applies to the pooled readouts ('mean', 'last+mean'); readout='last' reads the "
                         "last step only")
    TASKS.register(name, fn, tags=(tag,), replace=replace, kind="classification", readout=readout, washout=washout)
    return fn


def register_generation_task(name: str, fn, *, n_fit: int, horizon: int, washout: int = 100, chunk: int = 100,
                             replace: bool = False):
    """Add a closed-loop generation task of your own, so that a config can name it in ``study.tasks``.

    The model is fitted one step ahead on ``series[:n_fit]`` -> ``series[1:n_fit + 1]``
    (a prediction at every step past ``washout``), runs over ``series[:n_fit + 1]``
    as its warmup, and generates the next ``horizon`` values, which are scored
    against ``series[n_fit + 1:n_fit + 1 + horizon]``.

    Parameters
    ----------
    name : str
        The name a config writes (letters, digits, ``_``, ``.``, ``-``).
    fn : callable
        ``fn()`` returns a 1-D series of at least ``n_fit + 1 + horizon`` values.
    n_fit : int
        Steps of the series the model is fitted on (> ``washout + 1``).
    horizon : int
        Steps generated in closed loop (>= 1).
    washout : int, default 100
        Leading steps whose predictions the fit leaves out (the reservoir's
        state forgets its zero start).
    chunk : int, default 100
        Modes ``epochs`` and ``trained`` train on the fitted stream cut into
        overlapping pieces of ``washout + chunk`` steps (each piece's first
        ``washout`` steps warm the state; mini-batches of pieces, as
        ``training.batch_size`` says); mode ``ridge`` fits the whole stream at once.
    replace : bool, default False
        Replace a task already registered under ``name``.

    Returns
    -------
    callable
        ``fn``.

    Examples
    --------
    >>> import numpy as np
    >>> from experiments.study import TASKS, generation_data, register_generation_task
    >>> _ = register_generation_task("wave", lambda: np.sin(np.arange(200) * 0.3), n_fit=150, horizon=20,
    ...                              washout=10, chunk=20)
    >>> stream = generation_data("wave")
    >>> stream.truth().shape, stream.chunks()[0].shape
    ((20,), (7, 30, 1))
    >>> TASKS.unregister("wave")
    """
    return _add_generation(name, fn, "registered", n_fit=n_fit, horizon=horizon, washout=washout, chunk=chunk,
                           replace=replace)


def _add_generation(name, fn, tag: str, *, n_fit, horizon, washout=100, chunk=100, replace=False):
    _check_new(name, fn, "a 1-D series")
    washout = check_int(washout, "washout", minimum=0)
    n_fit = check_int(n_fit, "n_fit", minimum=washout + 2)
    horizon = check_int(horizon, "horizon", minimum=1)
    chunk = check_int(chunk, "chunk", minimum=1)
    if washout + chunk > n_fit:
        raise ValueError(f"task {name!r}: washout + chunk = {washout + chunk} is longer than the {n_fit} fitted steps")
    TASKS.register(name, fn, tags=(tag,), replace=replace, kind="generation", n_fit=n_fit, horizon=horizon,
                   washout=washout, chunk=chunk)
    return fn


def task_kind(task: str) -> str:
    """A task's kind: ``"forecast"``, ``"classification"`` or ``"generation"`` (:data:`KINDS`).

    >>> task_kind("sine"), task_kind("waveforms"), task_kind("mackey_glass_generation")
    ('forecast', 'classification', 'generation')
    """
    check_choice(task, "task", TASKS.names())
    return TASKS.entry(task).info.get("kind", "forecast")


@dataclass(frozen=True, eq=False)
class Sequences:
    """A classification task's data, checked: lists of ``(T_i, d)`` float arrays and label arrays."""

    X_train: list
    y_train: np.ndarray
    X_test: list
    y_test: np.ndarray

    @property
    def input_size(self) -> int:
        return self.X_train[0].shape[1]

    @property
    def classes(self) -> np.ndarray:
        return np.unique(self.y_train)

    def steps(self) -> tuple[int, int]:
        """Steps in all of the training and of the test sequences."""
        return sum(len(x) for x in self.X_train), sum(len(x) for x in self.X_test)


@dataclass(frozen=True, eq=False)
class Stream:
    """A generation task's data: the series, and how it is fitted and generated (:func:`register_generation_task`)."""

    series: np.ndarray
    n_fit: int
    horizon: int
    washout: int
    chunk: int

    def fit_xy(self, n_fit: int | None = None):
        """``X (1, n, 1)`` and its one-step-ahead targets ``y (1, n)`` for the first ``n`` (default n_fit) steps."""
        n = self.n_fit if n_fit is None else n_fit
        return self.series[None, :n, None], self.series[None, 1:n + 1]

    def warmup(self, n_fit: int | None = None) -> np.ndarray:
        """What the model runs over before it runs free: every known value, ``series[:n + 1]``."""
        return self.series[:(self.n_fit if n_fit is None else n_fit) + 1]

    def truth(self) -> np.ndarray:
        """The ``horizon`` values that follow the warmup."""
        return self.series[self.n_fit + 1:self.n_fit + 1 + self.horizon]

    def scale(self) -> float:
        """The standard deviation of the fitted stream: the valid time's and the NRMSE's unit."""
        return float(self.series[:self.n_fit + 1].std())

    def chunks(self, n_fit: int | None = None):
        """``(X (n, washout + chunk, 1), y (n, washout + chunk))``: overlapping pieces of the first ``n_fit``
        steps whose targets past each piece's washout cover every step past the stream's washout once (the
        last piece is moved back to end at ``n_fit``, so that a few steps are in two pieces)."""
        n = self.n_fit if n_fit is None else n_fit
        length = self.washout + self.chunk
        starts = list(range(0, n - length + 1, self.chunk))
        if starts[-1] + length < n:
            starts.append(n - length)
        X = np.stack([self.series[a:a + length] for a in starts])[:, :, None]
        y = np.stack([self.series[a + 1:a + length + 1] for a in starts])
        return X, y


# (entry, data) by task name: loaded once per process (a real data set's file is read once)
_LOADED: dict = {}


def _loaded(task: str, kind: str, load):
    entry = TASKS.entry(task)
    if entry.info.get("kind", "forecast") != kind:
        raise ValueError(f"task {task!r} is a {entry.info.get('kind', 'forecast')} task, not a {kind} task")
    cached = _LOADED.get(task)
    if cached is None or cached[0] is not entry:
        cached = _LOADED[task] = (entry, load(task, entry))
    return cached[1]


def _as_sequences(X, task: str, part: str) -> list:
    where = f"task {task!r}: {part}"
    if isinstance(X, np.ndarray) and X.dtype != object:
        if X.ndim == 2:
            X = X[:, :, None]
        if X.ndim != 3:
            raise ValueError(f"{where} must be sequences (n, T, d) or (n, T), or a list of (T_i, d) arrays, "
                             f"got an array of shape {X.shape}")
        X = list(X)
    if not isinstance(X, (list, tuple, np.ndarray)) or len(X) == 0:
        raise ValueError(f"{where} must be a non-empty list of sequences, got {type(X).__name__}")
    out = []
    for i, x in enumerate(X):
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{where}[{i}] is not an array of numbers") from None
        x = x[:, None] if x.ndim == 1 else x
        if x.ndim != 2 or len(x) < 1:
            raise ValueError(f"{where}[{i}] must have shape (T, d) or (T,) with T >= 1, got {np.shape(x)}")
        if not np.isfinite(x).all():
            raise ValueError(f"{where}[{i}] holds non-finite values")
        out.append(np.ascontiguousarray(x))
    widths = {x.shape[1] for x in out}
    if len(widths) != 1:
        raise ValueError(f"{where}: the sequences have different widths {sorted(widths)}; they need one")
    return out


def _load_sequences(task: str, entry) -> Sequences:
    got = entry.resolve()()
    if not isinstance(got, (tuple, list)) or len(got) != 4:
        raise ValueError(f"task {task!r}: fn() must return (X_train, y_train, X_test, y_test), got "
                         f"{type(got).__name__}")
    Xtr, Xte = _as_sequences(got[0], task, "X_train"), _as_sequences(got[2], task, "X_test")
    if Xtr[0].shape[1] != Xte[0].shape[1]:
        raise ValueError(f"task {task!r}: X_train has {Xtr[0].shape[1]} inputs per step and X_test "
                         f"{Xte[0].shape[1]}")
    labels = []
    for part, y, X in (("y_train", got[1], Xtr), ("y_test", got[3], Xte)):
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X) or y.dtype.kind not in "iuUS":
            raise ValueError(f"task {task!r}: {part} must be one label (str or int) per sequence: {len(X)}, got "
                             f"{y.dtype} of shape {y.shape}")
        labels.append(y.astype(str) if y.dtype.kind == "S" else y)
    classes = np.unique(labels[0])
    if len(classes) < 2:
        raise ValueError(f"task {task!r}: y_train has one class ({classes[0]!r}); a classification task needs two")
    unseen = sorted(set(np.unique(labels[1]).tolist()) - set(classes.tolist()))
    if unseen:
        raise ValueError(f"task {task!r}: y_test has labels that y_train lacks: {unseen[:5]}")
    return Sequences(Xtr, labels[0], Xte, labels[1])


def _load_stream(task: str, entry) -> Stream:
    info = entry.info
    try:
        series = np.asarray(entry.resolve()(), dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"task {task!r}: fn() must return a 1-D series of numbers") from None
    need = info["n_fit"] + 1 + info["horizon"]
    if series.ndim != 1 or len(series) < need:
        raise ValueError(f"task {task!r}: fn() must return a 1-D series of at least n_fit + 1 + horizon = {need} "
                         f"values, got shape {series.shape}")
    if not np.isfinite(series).all():
        raise ValueError(f"task {task!r}: the series holds non-finite values")
    return Stream(np.ascontiguousarray(series[:need]), info["n_fit"], info["horizon"], info["washout"],
                  info["chunk"])


def classification_data(task: str) -> Sequences:
    """A classification task's data, loaded once per process and checked (:class:`Sequences`)."""
    return _loaded(task, "classification", _load_sequences)


def generation_data(task: str) -> Stream:
    """A generation task's data, loaded once per process and checked (:class:`Stream`)."""
    return _loaded(task, "generation", _load_stream)


def task_input_size(task: str) -> int:
    """Inputs per step of a task's sequences: a classification task's ``d``; 1 for the others."""
    return classification_data(task).input_size if task_kind(task) == "classification" else 1


def waveforms(n_per_class: int = 20, min_length: int = 12, max_length: int = 24, noise: float = 0.1,
              seed: int = 0):
    """A few-class synthetic sequence task: sine, square and sawtooth waves, in noise.

    Every sequence is one wave of a random period (5 to 10 steps), phase,
    amplitude (0.5 to 1) and length (``min_length`` to ``max_length``), plus
    Gaussian noise; training and test sets are drawn alike, from ``seed``.

    Returns
    -------
    X_train, y_train, X_test, y_test
        Lists of ``(T_i,)`` arrays and label arrays (``"sine"``, ``"square"``, ``"sawtooth"``).

    Examples
    --------
    >>> X, y, Xt, yt = waveforms(n_per_class=2, seed=0)
    >>> len(X), sorted(set(y.tolist())), all(12 <= len(x) <= 24 for x in X + Xt)
    (6, ['sawtooth', 'sine', 'square'], True)
    """
    n_per_class = check_int(n_per_class, "n_per_class", minimum=1)
    min_length = check_int(min_length, "min_length", minimum=1)
    max_length = check_int(max_length, "max_length", minimum=min_length)
    noise = check_real(noise, "noise", low=0.0)
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    shapes = {"sine": lambda ph: np.sin(2 * np.pi * ph), "square": lambda ph: np.sign(np.sin(2 * np.pi * ph)),
              "sawtooth": lambda ph: 2 * (ph % 1.0) - 1}
    parts = []
    for _ in range(2):  # training, then test
        X, y = [], []
        for _ in range(n_per_class):
            for label, wave in shapes.items():
                t = np.arange(rng.integers(min_length, max_length + 1))
                phase = t / rng.uniform(5.0, 10.0) + rng.uniform()
                X.append(rng.uniform(0.5, 1.0) * wave(phase) + noise * rng.standard_normal(len(t)))
                y.append(label)
        parts += [X, np.array(y)]
    return tuple(parts)


def _japanese_vowels():
    from qrnn.datasets import japanese_vowels

    return japanese_vowels()


def _mackey_glass_stream(n: int, discard: int = 500) -> np.ndarray:
    # tau 17, sampled every time unit; the first 500 samples (the transient from the constant history)
    # are left out; tanh(x - 1) centres the series near 0 in (-1, 1) as in Jaeger's benchmark
    return np.tanh(mackey_glass(discard + n, tau=17.0)[discard:] - 1.0)


_add_classification("waveforms", waveforms, "builtin", readout="last+mean")
_add_classification("japanese_vowels", _japanese_vowels, "builtin", readout="last+mean")
_add_generation("mackey_glass_generation", lambda: _mackey_glass_stream(2000 + 1 + 50), "builtin", n_fit=2000,
                horizon=50, washout=100, chunk=100)


def _series(task: str):
    kind = task_kind(task)
    if kind != "forecast":
        raise ValueError(f"task {task!r} is a {kind} task: it has no windows to forecast")
    return TASKS[task]()


def task_horizon(task: str) -> int:
    """How many steps after each window a task forecasts."""
    return TASKS.entry(task).info["horizon"]


def task_train_fraction(task: str, cfg) -> float:
    """The fraction of a task's windows that train: the task's own, or the study's (``cfg.train_fraction``)."""
    own = TASKS.entry(task).info.get("train_fraction")
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
    """What a stored cell of ``task`` was run on: None for a built-in forecasting task.

    For a forecasting task that is not built in: the SHA-256 of its data
    (the float64 values of its series and target, or of a file task's
    column), its window, horizon and own training fraction. For a
    classification or generation task, built in or not: its kind, the
    SHA-256 of its data (every sequence, its length and its label; or the
    series) and its settings (readout and washout; or n_fit, horizon,
    washout and chunk), so that a data set shipped in another version, or a
    task registered again with other settings, never returns old results.
    A stored cell is reused only while they match. Built-in forecasting
    tasks are fixed generators; their cells carry no fingerprint, as before
    tasks could be added.

    Examples
    --------
    >>> import numpy as np
    >>> task_fingerprint("sine") is None
    True
    >>> _ = register_task("steps", lambda: (np.arange(30.0) // 5, None, 4))
    >>> sorted(task_fingerprint("steps"))
    ['data_sha256', 'horizon', 'train_fraction', 'window']
    >>> TASKS.unregister("steps")
    >>> sorted(task_fingerprint("mackey_glass_generation"))
    ['chunk', 'data_sha256', 'horizon', 'kind', 'n_fit', 'washout']
    """
    entry = TASKS.entry(task)
    kind = entry.info.get("kind", "forecast")
    if kind != "forecast":
        h = hashlib.sha256()
        if kind == "classification":
            data = classification_data(task)
            for X, y in ((data.X_train, data.y_train), (data.X_test, data.y_test)):
                for x, label in zip(X, y.tolist()):
                    h.update(f"{x.shape}|{label!r}|".encode())
                    h.update(np.ascontiguousarray(x, dtype="<f8").tobytes())
                h.update(b"#")
            keys = ("readout", "washout")
        else:
            h.update(np.ascontiguousarray(generation_data(task).series, dtype="<f8").tobytes())
            keys = ("n_fit", "horizon", "washout", "chunk")
        return {"kind": kind, "data_sha256": h.hexdigest(), **{k: entry.info[k] for k in keys}}
    if "builtin" in entry.tags and not entry.info.get("dataset"):
        return None  # a real data set's task (a file another package ships) is fingerprinted below
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
