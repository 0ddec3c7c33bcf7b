"""Saving and loading fitted estimators without pickle.

A model file is a NumPy ``.npz`` archive read with ``allow_pickle=False``:
JSON metadata (format tag, version, class names, constructor parameters) plus
plain float arrays (the reservoir's weights, the readout). Loading rebuilds
the reservoir from its parameters, then overwrites its weights with the saved
ones, so predictions are bit-identical even if weight drawing changes later.
Nothing in the file can run code.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

FORMAT = "qrnn-model"
VERSION = 1


def _reservoir_classes() -> dict:
    from classical import ESN, GRU, LSTM, RNN

    from .cells import QGRU, QLSTM, QRNN

    return {c.__name__: c for c in (QRNN, QLSTM, QGRU, RNN, LSTM, GRU, ESN)}


def _json_params(reservoir) -> dict:
    from .backends import Backend

    params = dict(reservoir.get_params())
    backend = params.get("backend")
    if isinstance(backend, Backend):
        params["backend"] = {"__backend__": backend.to_config()}
    try:
        json.dumps(params)
    except TypeError as exc:
        raise ValueError(f"cannot save reservoir parameters {params!r}: {exc}") from None
    return params


def save(estimator, path) -> None:
    """Write a fitted :class:`~qrnn.ReservoirRegressor` to ``path`` (``.npz``)."""
    from .estimator import ReservoirRegressor

    if not isinstance(estimator, ReservoirRegressor):
        raise TypeError(f"save expects a ReservoirRegressor, got {type(estimator).__name__}")
    estimator._check_fitted()
    res = estimator.reservoir
    if type(res).__name__ not in _reservoir_classes():
        raise ValueError(f"cannot save a reservoir of class {type(res).__name__}")
    est_params = {k: v for k, v in estimator.get_params(deep=False).items() if k != "reservoir"}
    if est_params.get("alphas") is not None:
        est_params["alphas"] = [float(a) for a in est_params["alphas"]]
    meta = {
        "format": FORMAT, "version": VERSION,
        "reservoir_class": type(res).__name__, "reservoir_params": _json_params(res),
        "estimator_params": est_params, "alpha_": float(estimator.alpha_),
        "y_ndim_": int(estimator.y_ndim_), "y_1d": bool(estimator.ridge_._y_1d),
    }
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
              "coef": estimator.ridge_.coef_.cpu().numpy(),
              "intercept": estimator.ridge_.intercept_.cpu().numpy()}
    for name, t in res.state_dict().items():
        arrays[f"state/{name}"] = t.detach().cpu().numpy()
    path = Path(path)
    with open(path, "wb") as fh:  # exactly this name: np.savez would append ".npz"
        np.savez(fh, **arrays)


def load(path):
    """Read a model written by :func:`save`; a corrupted or foreign file is a ValueError.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from qrnn import QRNN, ReservoirRegressor, load
    >>> X = np.random.default_rng(0).normal(size=(10, 4, 1))
    >>> est = ReservoirRegressor(QRNN(1, 2, seed=0)).fit(X, X[:, -1, 0])
    >>> f = os.path.join(tempfile.mkdtemp(), "m.npz"); est.save(f)
    >>> bool(np.array_equal(load(f).predict(X), est.predict(X)))
    True
    """
    from .backends import backend_from_config
    from .estimator import ReservoirRegressor
    from .readout import Ridge

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable qrnn model file ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a qrnn model file (no '{FORMAT}' tag)")
    if meta.get("version") != VERSION:
        raise ValueError(f"{path} has model format version {meta.get('version')}; this qrnn reads {VERSION}")
    try:
        cls = _reservoir_classes()[meta["reservoir_class"]]
        params = dict(meta["reservoir_params"])
        if isinstance(params.get("backend"), dict):
            params["backend"] = backend_from_config(params["backend"]["__backend__"])
        reservoir = cls(**params)
        state = {k[len("state/"):]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("state/")}
        reservoir.load_state_dict(state, strict=True)
        est = ReservoirRegressor(reservoir=reservoir, **meta["estimator_params"])
        ridge = Ridge(est.alpha, est.alphas)
        ridge.coef_ = torch.as_tensor(arrays["coef"], dtype=torch.float64)
        ridge.intercept_ = torch.as_tensor(arrays["intercept"], dtype=torch.float64)
        ridge.alpha_ = meta["alpha_"]
        ridge._y_1d = meta["y_1d"]
        ridge.n_features_in_ = ridge.coef_.shape[0]
        if ridge.coef_.ndim != 2 or ridge.coef_.shape[0] != reservoir.n_features:
            raise ValueError(f"readout of shape {tuple(ridge.coef_.shape)} does not fit "
                             f"{reservoir.n_features} reservoir features")
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path} is a damaged qrnn model file ({type(exc).__name__}: {exc})") from None
    est.ridge_, est.alpha_, est.y_ndim_ = ridge, ridge.alpha_, meta["y_ndim_"]
    est.n_features_in_ = reservoir.input_size
    return est
