"""The reservoir contract shared by quantum and classical cells.

A reservoir is a torch module mapping ``(batch, T, input_size)`` to features
``(batch, T, n_features)``. :meth:`Reservoir.transform` is the numpy entry point:
it validates its input, runs the module without gradient tracking and returns a
float64 array. A list of 2-D arrays of unequal lengths is accepted too; the
recurrence is causal, so the sequences are padded at the end, run together,
and cut back to their own lengths.
"""
from __future__ import annotations

import abc
import inspect

import numpy as np
import torch

from . import io
from ._validation import check_choice, check_real_tensor, check_tensor_batch
from .batch import SequenceBatch

DTYPES = {"float64": torch.float64, "float32": torch.float32}
# What a cell can give the readout: the paper's readout input, the full
# recurrent state, or both (every cell, quantum or classical, takes these).
FEATURES = ("output", "state", "all")


def resolve_device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (TypeError, RuntimeError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for, but torch sees no CUDA device")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())  # as tensors report it
    return dev


def resolve_dtype(dtype) -> torch.dtype:
    check_choice(dtype, "dtype", DTYPES)
    return DTYPES[dtype]


# Sizes a model file may give a reservoir whose class cannot say its array shapes in advance (the
# quantum cells), checked before it is built: its constructor draws n_circuits * n_layers *
# n_qubits * 3 angles, so a header's n_layers = 10**9 would allocate tens of GiB. 30 qubits is
# already a 16 GiB state vector; the paper's cells have 2 layers.
MAX_QUBITS = 30
MAX_LAYERS = 1000


def _rebuild(cls, params: dict, arrays: dict) -> "Reservoir":
    """A reservoir built from its parameters, then given these tensors.

    The tensors win over what the parameters would draw, so a rebuilt
    reservoir is bit-identical even if weights were edited, or weight drawing
    changes in a later version.
    """
    reservoir = cls._for_tensors(params)
    reservoir.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()}, strict=True)
    return reservoir


def _file_params(cls, params: dict, arrays: dict) -> dict:
    """A model file's parameters, defaults filled in, their sizes checked before anything is built.

    Against the tensors where the class says their shapes
    (:meth:`Reservoir._array_shapes`), else against :data:`MAX_QUBITS` and
    :data:`MAX_LAYERS`.
    """
    bound = inspect.signature(cls).bind(**params)  # unknown or missing parameters: TypeError, before any work
    bound.apply_defaults()
    full = dict(bound.arguments)
    shapes = cls._array_shapes(full)
    if shapes is not None:
        found = {k: tuple(np.shape(v)) for k, v in arrays.items()}
        if found != shapes:
            raise ValueError(f"the {cls.__name__}'s arrays have shapes {found}; its parameters give {shapes}")
        return full
    n_layers, width = full.get("n_layers", 1), [full.get(k, 0) for k in ("input_size", "hidden_size")]
    if isinstance(n_layers, int) and n_layers > MAX_LAYERS:
        raise ValueError(f"n_layers={n_layers} is above the {MAX_LAYERS} layers a loaded reservoir may have")
    qubits = isinstance(getattr(cls, "n_qubits", None), property)  # a quantum cell: one qubit per width
    if qubits and all(isinstance(w, int) for w in width) and sum(width) > MAX_QUBITS:
        raise ValueError(f"input_size + hidden_size = {sum(width)} qubits is above the {MAX_QUBITS} "
                         "a loaded reservoir may have")
    return full


# The PennyLane devices a model file may name: local simulators of the tested set.
# Any other plugin (a remote or paid device) and any device option is the
# caller's to configure, as an IBM device is.
LOCAL_PENNYLANE_DEVICES = ("default.qubit", "default.mixed", "lightning.qubit", "lightning.gpu",
                           "lightning.kokkos", "reference.qubit")


def _unbuilt_backend(params: dict) -> dict | None:
    """The backend a file's reservoir parameters name if a file must not build it, as its config; else None.

    Never built from a file: IBM devices (a device, a store, a budget), and
    PennyLane devices other than the local simulators or with device options.
    """
    from .backends import BACKENDS

    def local(kind) -> bool:  # a registered backend a file may build (unknown kinds fail when built)
        return kind not in BACKENDS or BACKENDS.entry(kind).info["from_file"]

    backend = params.get("backend")
    if isinstance(backend, str):
        kind, _, device = backend.partition(":")
        if kind == "ibm":
            return {"kind": "ibm", "device": device, "shots": params.get("shots"), "seed": params.get("seed")}
        if not local(kind):
            return {"kind": kind, "device": device} if device else {"kind": kind}
        if kind == "pennylane" and device and device not in LOCAL_PENNYLANE_DEVICES:
            return {"kind": "pennylane", "device": device}
        return None
    config = backend.get("__backend__") if isinstance(backend, dict) else None
    if not isinstance(config, dict):
        return None
    if config.get("kind") == "ibm" or not local(config.get("kind")):
        return dict(config)
    if config.get("kind") == "pennylane" and (config.get("device") not in LOCAL_PENNYLANE_DEVICES
                                              or set(config) - {"kind", "device"}):
        return dict(config)
    return None


def _local_backend(params: dict) -> dict:
    """A file's torch-engine settings less ``chunk_bytes``: the loading machine's memory budget applies."""
    backend = params.get("backend")
    config = backend.get("__backend__") if isinstance(backend, dict) else None
    if isinstance(config, dict) and config.get("kind") == "torch" and config.get("chunk_bytes") is not None:
        params = {**params, "backend": {"__backend__": {**config, "chunk_bytes": None}}}
    return params


def _check_state(state, dtype: torch.dtype, device: torch.device, name: str = "state") -> None:
    """``state`` as ``transform(..., return_state=True)`` returns it: a tuple of finite tensors of the
    reservoir's dtype and device (an Ensemble's: a tuple of its members' states). The cells check shapes."""
    if not isinstance(state, tuple) or not state:
        got = "an empty tuple" if isinstance(state, tuple) else type(state).__name__
        raise TypeError(f"{name} must be a state returned by transform(..., return_state=True): a tuple of "
                        f"torch tensors (an Ensemble's: a tuple of its members' states), got {got}")
    for i, part in enumerate(state):
        where = f"{name}[{i}]"
        if isinstance(part, tuple):
            _check_state(part, dtype, device, where)
            continue
        check_real_tensor(part, where, floating=True)
        if part.dtype != dtype:
            raise TypeError(f"{where} has dtype {part.dtype} but this reservoir computes in {dtype}")
        if part.device != device:
            raise ValueError(f"{where} is on device {part.device} but this reservoir is on {device}")


def _dtype_name(dtype: torch.dtype) -> str:
    return next((k for k, v in DTYPES.items() if v == dtype), str(dtype).replace("torch.", ""))


class Reservoir(torch.nn.Module, metaclass=abc.ABCMeta):
    """Base class: a fixed random recurrent map from sequences to features.

    Subclasses define ``input_size``, ``n_features`` and :meth:`_run`, which
    takes a validated tensor ``(B, T, input_size)`` on the module's device and
    dtype and a recurrent state (``None`` for the zero state at the start of a
    sequence), and returns the features ``(B, T, n_features)`` and the state
    after the last step.
    """

    input_size: int
    n_features: int

    # -- scikit-learn parameter protocol (so that estimators can clone us) --
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    # Constructor arguments whose attribute has another name (``device`` is
    # also the module's resolved torch.device).
    _param_attrs = {"device": "device_name"}

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, self._param_attrs.get(name, name)) for name in self._param_names()}

    def set_params(self, **params) -> "Reservoir":
        """Change constructor parameters and rebuild the reservoir from them.

        The new reservoir is built first, which validates every parameter, and
        only then takes this one's place: a refused call leaves the reservoir
        (weights, caches, parameters) as it was.
        """
        valid = self._param_names()
        for key in params:
            if key not in valid:
                raise ValueError(f"invalid parameter {key!r} for {type(self).__name__}; valid: {valid}")
        fresh = type(self)(**{**self.get_params(), **params})
        # the module's whole state (parameters, buffers, submodules, hooks) is in its __dict__
        vars(self).clear()
        vars(self).update(vars(fresh))
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- persistence (see qrnn.io): constructor parameters and the exact tensors --
    def _config_params(self) -> dict:
        """Constructor parameters as plain data (subclasses convert what JSON cannot hold)."""
        return self.get_params()

    @classmethod
    def _params_from_config(cls, params: dict) -> dict:
        return dict(params)

    def _to_record(self) -> dict:
        arrays = {name: t.detach().cpu().numpy() for name, t in self.state_dict().items()}
        return {"config": {"params": self._config_params()}, "arrays": arrays}

    @classmethod
    def _array_shapes(cls, params: dict) -> dict | None:
        """The shapes of the ``state_dict`` tensors these parameters give, without building anything.

        ``params`` are every constructor argument (defaults filled in), as a
        file gives them. ``None``: the class does not say, and a loaded
        reservoir's sizes are held to :data:`MAX_QUBITS` and :data:`MAX_LAYERS`
        instead (see :func:`_file_params`).
        """
        return None

    @classmethod
    def _for_tensors(cls, params: dict) -> "Reservoir":
        """A reservoir of these parameters whose tensors :func:`_rebuild` sets next (``cls(**params)``).

        A class whose constructor does costly work that the tensors replace
        overrides it (the ESN: rescaling its drawn weights to a spectral radius).
        """
        return cls(**params)

    @classmethod
    def _from_record(cls, config, arrays, children):
        params = dict(config["params"])
        context = io.loading()
        given = context["backend"] if context is not None else None
        saved = _unbuilt_backend(params)
        params = _local_backend(params)
        if "backend" in params and (saved is not None or given is not None):
            # A file never configures a live device (nor a store or a budget); a backend the caller
            # gives replaces the file's, which is then not built at all.
            params.update(backend="torch", shots=None)
        reservoir = _rebuild(cls, _file_params(cls, cls._params_from_config(params), arrays), arrays)
        if "backend" in params and given is not None:
            from .cells import on_backend  # the cells build on this module

            try:
                return on_backend(reservoir, given)
            except (TypeError, ValueError) as exc:
                raise io.BackendRefusedError(f"its {cls.__name__} cannot run on backend={given!r}: {exc}") from None
        if saved is not None:
            reservoir.loaded_backend_config_ = saved
            if context is not None:
                context["ibm"].append(saved)
        return reservoir

    def __reduce__(self):
        # Pickle and deepcopy use the same description as model files:
        # constructor parameters and the exact tensors as numpy arrays. Caches
        # (compiled circuits, closures) are not carried, and the result does
        # not depend on memory addresses, which torch's own tensor pickling
        # records (scikit-learn's checks hash estimators by pickling them).
        arrays = {name: t.detach().cpu().numpy() for name, t in self.state_dict().items()}
        return _rebuild, (type(self), self.get_params(), arrays)

    # -- running --
    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def exact(self) -> bool:
        """Whether the features are exact, noiseless expectation values (False with shots or device noise: then
        scikit-learn's ``non_deterministic`` tag is set, although a seeded run is reproducible)."""
        return True

    @abc.abstractmethod
    def _reference_tensor(self) -> torch.Tensor:
        """A tensor whose device and dtype are the reservoir's."""

    def _apply(self, fn, *args, **kwargs):
        # module.to(...), .double(), .cuda(): follow the moved tensors, and keep
        # the constructor parameters in step so that clone() rebuilds the same.
        out = super()._apply(fn, *args, **kwargs)
        ref = self._reference_tensor()
        if ref.dtype not in DTYPES.values():
            raise ValueError(f"reservoirs compute in float64 or float32, not {ref.dtype}")
        self._device, self._dtype = ref.device, ref.dtype
        self.dtype = _dtype_name(ref.dtype)
        if torch.device(self.device_name) != ref.device:
            self.device_name = str(ref.device)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of a batch of sequences, ``(B, T, input_size) -> (B, T, n_features)``.

        ``x`` must be on the reservoir's device and of its dtype, as for any
        torch module: a mismatch is an error that names both, never a silent
        copy or cast. (:meth:`transform`, the numpy entry point, converts its
        input to the reservoir's dtype and device.)
        """
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor (use transform() for arrays), got {type(x).__name__}")
        if x.dtype != self._dtype:
            raise TypeError(f"x has dtype {x.dtype} but this {type(self).__name__} computes in {self._dtype}; "
                            f"convert it with x.to({self._dtype}) or build the reservoir with "
                            f"dtype={_dtype_name(x.dtype)!r}")
        if x.device != self._device:
            raise ValueError(f"x is on device {x.device} but this {type(self).__name__} is on {self._device}; "
                             f"move one of them with .to()")
        return self._run(check_tensor_batch(x, self.input_size, "x"))[0]

    @abc.abstractmethod
    def _run(self, x: torch.Tensor, state=None):
        """Features ``(B, T, n_features)`` and the final state (see the class docstring)."""

    def transform(self, X, state=None, return_state: bool = False):
        """Run the reservoir on sequences and return their features.

        Parameters
        ----------
        X : array-like of shape (batch, T, input_size), list of arrays (T_i, input_size), or SequenceBatch
        state : tuple of torch.Tensor, optional
            The state returned by an earlier call with ``return_state=True``:
            the run continues those sequences instead of starting from zero,
            so a long stream can be processed in chunks with identical results.
        return_state : bool, default False
            Also return the state after the last step (arrays only).

        Returns
        -------
        ndarray of shape (batch, T, n_features), or a list of (T_i, n_features)
        arrays; with ``return_state``, a ``(features, state)`` pair.

        Raises
        ------
        TypeError
            ``state`` is not a tuple of tensors of this reservoir's dtype (a
            numpy array, say).
        ValueError
            ``state`` holds NaN or infinities, is on another device, or belongs
            to another batch or reservoir.
        """
        batch = SequenceBatch.of(X, self.input_size, "X")  # an estimator's batch comes checked: no second scan
        if batch.ragged and (state is not None or return_state):
            raise ValueError("state and return_state need an array X of equal-length sequences")
        if state is not None:
            _check_state(state, self._dtype, self._device)
        feats, new_state = self._features_numpy(batch.values, state)
        feats = batch.split(feats)
        return (feats, new_state) if return_state else feats

    def _features_numpy(self, arr: np.ndarray, state=None):
        # a SequenceBatch's values are float64 and writeable: torch wraps them without a copy on the CPU
        x = torch.as_tensor(arr, dtype=self._dtype, device=self._device)
        with torch.no_grad():
            out, new_state = self._run(x, state)
        return np.asarray(out.detach().cpu().numpy(), dtype=np.float64), new_state  # float64: no copy
