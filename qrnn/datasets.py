"""Real data sets, read from the data files that registry packages ship: never downloaded.

Each loader finds its file inside the installed package without importing
the package (``importlib.util.find_spec`` of its top-level name), so loading
is fast and pulls in neither pandas nor the package's own dependencies. The
packages come with ``pip install 'qrnn[datasets]'``; without them a loader
raises :class:`~qrnn.MissingExtraError`, which names the extra.

- :func:`santafe_laser` (from reservoirpy): a chaotic laser's intensity,
  one series of 10,093 samples, for forecasting.
- :func:`japanese_vowels` (from sktime): utterances of 7 to 29 frames of 12
  coefficients, 9 speakers to tell apart, 270 to train and 370 to test.

:data:`DATASETS` maps each name to its loader.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from ._optional import EXTRAS, MissingExtraError

__all__ = ["santafe_laser", "japanese_vowels", "DATASETS"]


def _shipped(dataset: str, package: str, relpath: str) -> Path:
    """The path of ``relpath`` inside the installed ``package``, found without importing it."""
    how = f"pip install 'qrnn[{EXTRAS[package]}]'"
    try:
        spec = importlib.util.find_spec(package)  # a top-level name: located, not imported
    except (ImportError, ValueError):  # ValueError: a module in sys.modules without a __spec__
        spec = None
    if spec is None:
        raise MissingExtraError(f"the {dataset} data set needs the optional package {package!r}, which ships its "
                                f"data file ({relpath}) and is not installed; install it with: {how}")
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        path = Path(root) / relpath
        if path.is_file():
            return path
    raise MissingExtraError(f"the {dataset} data set needs the file {relpath} that the optional package "
                            f"{package!r} ships, but it is not in the installed copy (searched "
                            f"{', '.join(roots) or 'no location'}); reinstall it with: {how}")


def santafe_laser() -> np.ndarray:
    """The Santa Fe laser series: the intensity of a far-infrared laser in a chaotic state.

    Data set A of the Santa Fe Time Series Prediction and Analysis
    Competition (1991): a recording of an NH3 laser whose pulsations follow
    Lorenz-like chaos, a standard one-step and free-run forecasting benchmark
    for reservoir computing. The values are the readings of the recording's
    8-bit digitiser (integers from 0 to 255), in time order, returned as
    float64; the series is the file ``reservoirpy/datasets/santafe_laser.npy``
    of reservoirpy, whole (the competition's data set A with its
    continuation, from James McNames' data-set page), read without importing
    reservoirpy.

    Returns
    -------
    ndarray of shape (10093,), float64

    Raises
    ------
    MissingExtraError
        reservoirpy is not installed (``pip install 'qrnn[datasets]'``), or
        its copy lacks the file.

    References
    ----------
    A. S. Weigend and N. A. Gershenfeld (eds.), *Time Series Prediction:
    Forecasting the Future and Understanding the Past*, Santa Fe Institute
    Studies in the Sciences of Complexity XV, Addison-Wesley, 1993 (data set A).

    Examples
    --------
    >>> from qrnn.datasets import santafe_laser
    >>> u = santafe_laser()
    >>> u.shape, u.dtype, u[:5].tolist()
    ((10093,), dtype('float64'), [86.0, 141.0, 95.0, 41.0, 22.0])
    """
    path = _shipped("santafe_laser", "reservoirpy", "datasets/santafe_laser.npy")
    data = np.load(path, allow_pickle=False)
    if data.dtype.kind not in "iuf" or data.ndim not in (1, 2) or (data.ndim == 2 and data.shape[1] != 1):
        raise ValueError(f"{path}: expected a numeric series of shape (n,) or (n, 1), got {data.dtype} "
                         f"{data.shape}; the installed reservoirpy is not the one qrnn reads")
    return data.reshape(-1).astype(np.float64)


# -- the UCR/UEA .ts format --------------------------------------------------
_BOOL_TAGS = ("@timestamps", "@missing", "@univariate", "@equallength")
_TAGS = ("@problemname", *_BOOL_TAGS, "@dimensions", "@serieslength", "@classlabel", "@targetlabel", "@data")


def _bool(word: str, where: str, tag: str) -> bool:
    if word.lower() not in ("true", "false"):
        raise ValueError(f"{where}: {tag} takes true or false, got {word!r}")
    return word.lower() == "true"


def _read_ts(path) -> tuple[list[np.ndarray], np.ndarray, dict]:
    """Read a classification problem in the UCR/UEA ``.ts`` format (without timestamps).

    Returns ``(X, y, header)``: ``X`` a list of float64 ``(T_i, dimensions)``
    arrays and ``y`` a numpy array of the str labels, both in file order, and
    the header's tags (lower-cased, without ``@``). A file that breaks the
    format or its own header is refused with its path and line number.
    """
    path = Path(path)
    head: dict = {}
    X, y = [], []
    in_data = False
    with open(path, encoding="utf-8") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            where = f"{path}, line {lineno}"
            if in_data:
                values, label = _case(line, head, where, len(X))
                X.append(values)
                y.append(label)
                continue
            words = line.split()
            tag = words[0].lower()
            if tag not in _TAGS:
                raise ValueError(f"{where}: expected a header tag ({', '.join(_TAGS)}) or a '#' comment "
                                 f"before @data, got {line[:60]!r}")
            if tag[1:] in head:
                raise ValueError(f"{where}: {words[0]} given twice")
            rest = words[1:]
            if tag == "@data":
                _check_header(head, where)
                in_data = True
                continue
            if not rest:
                raise ValueError(f"{where}: {words[0]} has no value")
            if tag in _BOOL_TAGS or tag == "@targetlabel":
                if len(rest) != 1:
                    raise ValueError(f"{where}: {words[0]} takes one value, true or false, got {' '.join(rest)!r}")
                value = _bool(rest[0], where, words[0])
            elif tag in ("@dimensions", "@serieslength"):
                if len(rest) != 1 or not rest[0].isdigit() or int(rest[0]) < 1:
                    raise ValueError(f"{where}: {words[0]} takes a positive integer, got {' '.join(rest)!r}")
                value = int(rest[0])
            elif tag == "@classlabel":
                value = _bool(rest[0], where, words[0])
                if value and len(rest) < 2:
                    raise ValueError(f"{where}: @classLabel true must list the class labels after it")
                value = rest[1:] if value else None
            else:  # @problemname
                value = " ".join(rest)
            head[tag[1:]] = value
    if not in_data:
        raise ValueError(f"{path}: no @data line; the file is not a complete .ts file")
    if not X:
        raise ValueError(f"{path}: no cases after @data; the file is empty or torn")
    head.pop("_length", None)
    return X, np.asarray(y, dtype=str), head


def _check_header(head: dict, where: str) -> None:
    if head.get("timestamps"):
        raise ValueError(f"{where}: @timeStamps true is not supported (only plain comma-separated values)")
    if head.get("targetlabel"):
        raise ValueError(f"{where}: @targetLabel true (a regression problem) is not supported; "
                         "this reader takes classification problems")
    if not head.get("classlabel"):
        raise ValueError(f"{where}: @data before an '@classLabel true <labels>' line; this reader takes "
                         "classification problems, whose header lists the labels")
    if "univariate" not in head:
        raise ValueError(f"{where}: @data before an @univariate line")
    dims = head.get("dimensions", 1 if head["univariate"] else None)
    if dims is None:
        raise ValueError(f"{where}: @univariate false needs an @dimensions line before @data")
    if head["univariate"] and dims != 1:
        raise ValueError(f"{where}: @univariate true contradicts @dimensions {dims}")
    head["dimensions"] = dims
    head.setdefault("missing", False)
    head.setdefault("equallength", False)


def _case(line: str, head: dict, where: str, index: int) -> tuple[np.ndarray, str]:
    """One @data line, ``v,v,...:v,v,...:...:label``: its ``(T, dimensions)`` array and its label."""
    fields = line.split(":")
    dims = head["dimensions"]
    if len(fields) != dims + 1:
        raise ValueError(f"{where} (case {index}): expected {dims} dimension(s) and a class label separated "
                         f"by ':', got {len(fields)} field(s); the line is torn or malformed")
    label = fields[-1].strip()
    if label not in head["classlabel"]:
        raise ValueError(f"{where} (case {index}): class label {label!r} is not one of the header's "
                         f"{head['classlabel']}")
    columns = []
    for d, field in enumerate(fields[:-1]):
        parts = [p.strip() for p in field.split(",")]
        missing = [p == "?" for p in parts]
        if any(missing) and not head["missing"]:
            raise ValueError(f"{where} (case {index}, dimension {d}): a missing value '?' in a file whose "
                             "header says @missing false")
        try:
            values = np.array(["nan" if m else p for p, m in zip(parts, missing)], dtype=np.float64)
        except ValueError:
            bad = next(p for p, m in zip(parts, missing) if not m and not _is_float(p))
            raise ValueError(f"{where} (case {index}, dimension {d}): {bad!r} is not a number") from None
        finite = np.isfinite(values)
        if not np.all(finite | np.asarray(missing)):
            bad = parts[int(np.argmin(finite | np.asarray(missing)))]
            raise ValueError(f"{where} (case {index}, dimension {d}): {bad!r} is not a finite number")
        if columns and len(values) != len(columns[0]):
            raise ValueError(f"{where} (case {index}): dimension {d} has {len(values)} values but dimension 0 "
                             f"has {len(columns[0])}; every dimension of a case has the same length")
        columns.append(values)
    T = len(columns[0])
    if "serieslength" in head and head["equallength"] and T != head["serieslength"]:
        raise ValueError(f"{where} (case {index}): {T} steps, but the header's @seriesLength is "
                         f"{head['serieslength']}")
    if head["equallength"]:
        first = head.setdefault("_length", T)
        if T != first:
            raise ValueError(f"{where} (case {index}): {T} steps, but the header says @equalLength true and "
                             f"case 0 has {first}")
    return np.stack(columns, axis=1), label


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def japanese_vowels() -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], np.ndarray]:
    """The Japanese Vowels speaker-recognition problem: multivariate, unequal lengths, 9 classes.

    Nine male speakers each uttered the Japanese vowels /ae/ in succession;
    each utterance is a sequence of 7 to 29 frames of 12 LPC cepstrum
    coefficients, and the task is to name the speaker. The split is the
    archive's: 30 utterances per speaker to train (270) and 24 to 88 per
    speaker to test (370). Read from the UEA archive's ``.ts`` files that
    sktime ships (``sktime/datasets/data/JapaneseVowels/``), by qrnn's own
    reader, without importing sktime or pandas.

    Returns
    -------
    X_train : list of 270 ndarrays of shape (T_i, 12), float64
    y_train : ndarray of shape (270,), str
        The speaker, ``"1"`` to ``"9"``.
    X_test : list of 370 ndarrays of shape (T_i, 12), float64
    y_test : ndarray of shape (370,), str
        Each in the files' order.

    Raises
    ------
    MissingExtraError
        sktime is not installed (``pip install 'qrnn[datasets]'``), or its
        copy lacks the files.
    ValueError
        A file breaks the ``.ts`` format (the message names it and the line).

    References
    ----------
    M. Kudo, J. Toyama and M. Shimbo, "Multidimensional curve classification
    using passing-through regions", *Pattern Recognition Letters* 20(11-13),
    1103-1111, 1999; the UCI Machine Learning Repository ("Japanese Vowels");
    A. Bagnall et al., "The UEA multivariate time series classification
    archive, 2018", arXiv:1811.00075.

    Examples
    --------
    >>> from qrnn.datasets import japanese_vowels
    >>> X_train, y_train, X_test, y_test = japanese_vowels()
    >>> len(X_train), len(X_test), X_train[0].shape, y_train[:2].tolist()
    (270, 370, (20, 12), ['1', '1'])
    >>> sorted(set(y_train)) == [str(k) for k in range(1, 10)]
    True
    >>> min(len(x) for x in X_train + X_test), max(len(x) for x in X_train + X_test)
    (7, 29)
    """
    out = []
    for split in ("TRAIN", "TEST"):
        path = _shipped("japanese_vowels", "sktime", f"datasets/data/JapaneseVowels/JapaneseVowels_{split}.ts")
        X, y, _ = _read_ts(path)
        out += [X, y]
    return tuple(out)


#: The data sets by name: each value loads one (no arguments), from files shipped by a registry package.
DATASETS = {"santafe_laser": santafe_laser, "japanese_vowels": japanese_vowels}
