"""Input checks shared by every public entry point.

Every check raises with the argument's name and what was expected; nothing is
silently coerced (no casting of strings, no dropping of NaN, no broadcasting).
"""
from __future__ import annotations

import contextlib
import numbers

import numpy as np
import torch


def check_int(value, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_real(value, name: str, *, low: float = -np.inf, high: float = np.inf,
               low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number in the interval from ``low`` to ``high``.

    The ends are closed unless ``low_open`` / ``high_open``. The message
    names the interval: ``"> 0"``, ``">= 0"``, ``"in (0, 1]"``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a finite real number, got {type(value).__name__} {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    value = float(value)
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if below or above:
        if high == np.inf:
            want = f"{'>' if low_open else '>='} {low:g}"
        elif low == -np.inf:
            want = f"{'<' if high_open else '<='} {high:g}"
        else:
            want = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be {want}, got {value!r}")
    return value


def check_fitted(obj, attributes) -> None:
    """Raise scikit-learn's ``NotFittedError`` (a ``ValueError``) unless ``obj`` has ``attributes``.

    The same exception and message as ``sklearn.utils.validation.check_is_fitted``,
    for every fitted object of qrnn (estimators and readouts alike).
    scikit-learn is imported only to raise: it is slow to import
    (``benchmarks/RESULTS.md``, "Import time"), which ``import qrnn`` should not pay.
    """
    names = (attributes,) if isinstance(attributes, str) else tuple(attributes)
    if all(hasattr(obj, a) for a in names):
        return
    from sklearn.exceptions import NotFittedError

    raise NotFittedError(f"This {type(obj).__name__} instance is not fitted yet. Call 'fit' with "
                         "appropriate arguments before using this estimator.")


def check_numeric(value, name: str, **check_array_params) -> np.ndarray:
    """scikit-learn's ``check_array`` under the argument's name, with a clear word for ragged input.

    Used by the scikit-learn estimators, so that empty, one-sample, complex,
    sparse and object inputs get the messages scikit-learn's conventions
    expect (object arrays of numbers are converted, as scikit-learn does).
    """
    from sklearn.utils.validation import check_array

    if check_array_params.get("dtype", "numeric") != "numeric":
        _refuse_text(value, name)  # check_array would parse the string "1.5" into the float 1.5
    with friendly_ragged(name):
        return check_array(value, input_name=name, **{"dtype": "numeric", **check_array_params})


def _ragged(name: str) -> ValueError:
    return ValueError(f"{name} is ragged (its rows have different lengths); sequences of unequal "
                      "lengths are passed as a list of arrays")


@contextlib.contextmanager
def friendly_ragged(name: str):
    """Word numpy's error for ragged nested lists, raised inside, as qrnn's message naming ``name``."""
    try:
        yield
    except ValueError as exc:
        if "inhomogeneous" in str(exc):
            raise _ragged(name) from None
        raise


def ndim(value, name: str) -> int:
    """``numpy.ndim`` of an array-like, with qrnn's message for ragged nested lists."""
    with friendly_ragged(name):
        return np.ndim(value)


def _refuse_text(value, name: str) -> None:
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged: check_array words it
        return
    if arr.dtype.kind in "USa" or (arr.dtype == object and any(isinstance(v, (str, bytes)) for v in arr.flat)):
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}"
                        + (" holding strings" if arr.dtype == object else ""))


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_seed(seed, name: str = "seed", *, random_state: bool = False):
    """None, an int >= 0 or a ``numpy.random.Generator``; with ``random_state=True`` also a legacy
    ``numpy.random.RandomState``, as scikit-learn's ``random_state`` parameters take."""
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator) or (random_state and isinstance(seed, np.random.RandomState)):
        return seed
    if isinstance(seed, np.random.RandomState):
        raise TypeError(f"{name} must be None, an int >= 0 or a numpy.random.Generator, got a RandomState")
    return check_int(seed, name, minimum=0)


def rng_from(random_state, name: str = "random_state") -> np.random.Generator:
    """A ``numpy.random.Generator`` from a ``random_state`` (see :func:`check_seed`); a RandomState is
    drawn from once, so that successive fits with the same instance differ, as in scikit-learn."""
    random_state = check_seed(random_state, name, random_state=True)
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    return np.random.default_rng(random_state)


def _check_values(arr: np.ndarray, name: str) -> None:
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")


def as_array(X, name: str) -> np.ndarray:
    """Turn array-likes into a real ndarray without coercing strings or objects."""
    if isinstance(X, torch.Tensor):
        if X.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a complex tensor")
        X = X.detach().cpu().numpy()
    with friendly_ragged(name):
        arr = np.asarray(X)
    if arr.dtype == object:
        raise ValueError(
            f"{name} must be a numeric array; got an object array (ragged sequences "
            "must be passed as a list of 2-D arrays)"
        )
    _check_values(arr, name)
    return arr


def check_batch(X, input_size: int, name: str = "X") -> np.ndarray:
    """Validate a batch of equal-length sequences of shape (batch, T, input_size)."""
    return check_batch_shape(as_array(X, name), input_size, name)


def check_batch_shape(arr: np.ndarray, input_size: int, name: str = "X") -> np.ndarray:
    """The shape checks of :func:`check_batch`, for an array whose values were checked already."""
    if arr.ndim != 3:
        raise ValueError(
            f"{name} must have shape (batch, T, input_size={input_size}), got an array of "
            f"rank {arr.ndim} with shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (batch = 0)")
    if arr.shape[1] == 0:
        raise ValueError(f"{name} holds empty sequences (T = 0)")
    if arr.shape[2] != input_size:
        raise ValueError(
            f"{name} must have input_size={input_size} features in its last axis, got {arr.shape[2]}"
        )
    return arr


def check_real_tensor(x, name: str, *, floating: bool = False) -> torch.Tensor:
    """A torch tensor of real numbers (floating point with ``floating``), all finite.

    The one tensor check: :func:`check_tensor_batch`, the backends' compiled
    circuit groups and the ridge readout add their shapes to it.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    real = x.is_floating_point() or (not floating and x.dtype in _INT_DTYPES)
    if x.is_complex() or not real:
        want = "real floating-point numbers" if floating else "real numbers"
        raise TypeError(f"{name} must hold {want}, got dtype {x.dtype}")
    if x.is_floating_point() and x.device.type != "meta" and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def check_tensor_batch(x: torch.Tensor, input_size: int, name: str = "x") -> torch.Tensor:
    """The tensor counterpart of :func:`check_batch` for ``module(x)`` calls."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 3 or x.shape[2] != input_size:
        raise ValueError(
            f"{name} must have shape (batch, T, input_size={input_size}), got {tuple(x.shape)}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have batch >= 1 and T >= 1, got {tuple(x.shape)}")
    return check_real_tensor(x, name)


_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def tensor_to_numpy(value):
    """A torch tensor as a numpy array (detached, copied to the CPU); any other value unchanged.

    scikit-learn's ``check_array`` cannot read a tensor that requires grad or
    lives on a GPU; the estimators take tensors as ``Reservoir.transform``
    does. Complex tensors stay complex, for the validators to refuse by name.

    Examples
    --------
    >>> import torch
    >>> tensor_to_numpy(torch.ones(2, requires_grad=True))
    array([1., 1.], dtype=float32)
    >>> tensor_to_numpy([1.0, 2.0])
    [1.0, 2.0]
    """
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def rule(check, *args, optional: bool = False, **kwargs):
    """One entry of a parameter table: ``check(value, name, *args, **kwargs)``, or None when ``optional``.

    Tables map each constructor parameter to its rule (scikit-learn's
    ``_parameter_constraints``, with qrnn's own checks and messages), so that
    a class states its parameters' domains in one place; see
    :func:`check_params`.

    Examples
    --------
    >>> table = {"epochs": rule(check_int, minimum=1), "lr": rule(check_real, low=0.0, low_open=True),
    ...          "patience": rule(check_int, minimum=1, optional=True)}
    >>> class Opts: epochs, lr, patience = 3, 0.1, None
    >>> check_params(Opts(), table)
    >>> Opts.lr = 0.0
    >>> check_params(Opts(), table)
    Traceback (most recent call last):
    ...
    ValueError: lr must be > 0, got 0.0
    """
    def apply(value, name):
        if optional and value is None:
            return None
        return check(value, name, *args, **kwargs)

    return apply


def check_params(obj, table: dict) -> None:
    """Check each attribute of ``obj`` named in ``table`` by its rule (see :func:`rule`)."""
    for name, apply in table.items():
        apply(getattr(obj, name), name)
