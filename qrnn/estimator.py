"""A scikit-learn regressor made of a reservoir and a ridge readout."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from . import metrics
from ._validation import as_array, check_batch, check_choice, check_int
from .io import save
from .readout import Ridge
from .reservoir import Reservoir

READOUTS = ("last", "all")


class ReservoirRegressor(RegressorMixin, BaseEstimator):
    """Reservoir features and a closed-form ridge readout, as a scikit-learn regressor.

    Parameters
    ----------
    reservoir : Reservoir
        Any quantum or classical reservoir, e.g. ``QLSTM(1, 3, seed=0)`` or ``ESN(1, 100)``.
    alpha : float or {"loo", "gcv"}, default 1e-6
        Ridge strength, or the criterion that chooses it from ``alphas``.
    washout : int, default 0
        Steps at the start of every sequence left out of the fit and the score
        (``readout="all"``). Every sequence must be longer than ``washout``,
        with either readout.
    readout : {"last", "all"}, default "last"
        ``"last"``: one prediction per sequence, from its last step (the paper's
        setting: windows predicting the next value). ``"all"``: a prediction at
        every step, fitted on every step after the washout (long streams).
    alphas : sequence of float, optional
        Grid for ``alpha="loo"`` / ``"gcv"``.
    chunk_size : int, optional
        With ``readout="all"``: run the reservoir this many steps at a time,
        carrying its state, and accumulate the ridge statistics, so a long
        stream is fitted exactly without holding all its features.

    Notes
    -----
    ``X`` is ``(batch, T, input_size)``, or a list of ``(T_i, input_size)``
    sequences of unequal lengths. With ``"last"``, ``y`` is ``(batch,)`` or
    ``(batch, n_targets)``; with ``"all"``, ``(batch, T)`` or
    ``(batch, T, n_targets)`` (a list of ``(T_i,)`` / ``(T_i, n_targets)``
    arrays for unequal lengths).

    Examples
    --------
    >>> import numpy as np
    >>> from qrnn import QRNN, ReservoirRegressor
    >>> X = np.random.default_rng(0).normal(size=(20, 4, 1)); y = X[:, -1, 0]
    >>> est = ReservoirRegressor(QRNN(1, 3, seed=0), alpha=1e-3).fit(X, y)
    >>> est.predict(X).shape
    (20,)
    """

    def __init__(self, reservoir=None, alpha=1e-6, washout=0, readout="last", alphas=None,
                 chunk_size=None):
        self.reservoir = reservoir
        self.alpha = alpha
        self.washout = washout
        self.readout = readout
        self.alphas = alphas
        self.chunk_size = chunk_size

    # -- checks --
    def _check_params(self):
        if not isinstance(self.reservoir, Reservoir):
            raise TypeError(f"reservoir must be a qrnn or classical reservoir (e.g. QLSTM(1, 3)), "
                            f"got {type(self.reservoir).__name__}")
        check_choice(self.readout, "readout", READOUTS)
        check_int(self.washout, "washout", minimum=0)
        if self.chunk_size is not None:
            check_int(self.chunk_size, "chunk_size", minimum=1)
            if self.readout != "all":
                raise ValueError("chunk_size applies to readout='all' (long streams)")

    def _sequences(self, X):
        """(array of shape (B, T, d) or None, list of (T_i, d) arrays)."""
        d = self.reservoir.input_size
        if isinstance(X, (list, tuple)) and X and all(np.ndim(s) == 2 for s in X):
            seqs = [check_batch(as_array(s, f"X[{i}]")[None], d, f"X[{i}]")[0] for i, s in enumerate(X)]
            return None, seqs
        arr = check_batch(X, d, "X")
        return arr, list(arr)

    def _check_lengths(self, seqs):
        need = self.washout + 1
        for i, s in enumerate(seqs):
            if len(s) < need:
                raise ValueError(f"sequence {i} has {len(s)} steps; washout={self.washout} needs at least {need}")

    def _targets(self, y, arr, seqs):
        """Targets per sequence: list of (T_i, k) arrays ('all') or one (B, k) array ('last')."""
        B = len(seqs)
        if self.readout == "last":
            Y = as_array(y, "y").astype(float)
            if Y.ndim not in (1, 2) or Y.shape[0] != B:
                raise ValueError(f"with readout='last', y must have shape ({B},) or ({B}, n_targets), got {Y.shape}")
            return Y
        if arr is not None and not isinstance(y, (list, tuple)):
            Y = as_array(y, "y").astype(float)
            T = arr.shape[1]
            if Y.ndim not in (2, 3) or Y.shape[:2] != (B, T):
                raise ValueError(f"with readout='all', y must have shape ({B}, {T}) or ({B}, {T}, n_targets), "
                                 f"got {Y.shape}")
            return list(Y)
        if not isinstance(y, (list, tuple)) or len(y) != B:
            raise ValueError(f"with unequal-length sequences, y must be a list of {B} arrays")
        out = []
        for i, (s, yi) in enumerate(zip(seqs, y)):
            yi = as_array(yi, f"y[{i}]").astype(float)
            if yi.ndim not in (1, 2) or yi.shape[0] != len(s):
                raise ValueError(f"y[{i}] must have {len(s)} rows (one per step of X[{i}]), got shape {yi.shape}")
            out.append(yi)
        if len({o.ndim for o in out}) != 1 or len({o.shape[1:] for o in out}) != 1:
            raise ValueError("every y[i] must have the same number of targets")
        return out

    # -- fitting --
    def fit(self, X, y):
        """Fit the readout on the reservoir's features of ``X``."""
        self._check_params()
        arr, seqs = self._sequences(X)
        self._check_lengths(seqs)
        Y = self._targets(y, arr, seqs)
        ridge = Ridge(self.alpha, self.alphas)
        w = self.washout
        if self.readout == "last":
            F = self._features(arr, seqs)
            ridge.fit(np.stack([f[-1] for f in F]), Y)
            self.y_ndim_ = Y.ndim
        elif self.chunk_size is not None:
            targets = [np.stack(Y)] if arr is not None else [yi[None] for yi in Y]
            for block, start, F in self._chunks(arr, seqs):
                lo = max(0, w - start)
                if lo < F.shape[1]:
                    yy = targets[block][:, start + lo:start + F.shape[1]]
                    ridge.partial_fit(F[:, lo:].reshape(-1, F.shape[2]), yy.reshape(-1, *yy.shape[2:]))
            ridge.finalize()
            self.y_ndim_ = Y[0].ndim
        else:
            F = self._features(arr, seqs)
            ridge.fit(np.concatenate([f[w:] for f in F]), np.concatenate([yi[w:] for yi in Y]))
            self.y_ndim_ = Y[0].ndim
        self.ridge_ = ridge
        self.alpha_ = ridge.alpha_
        self.n_features_in_ = self.reservoir.input_size
        return self

    def _features(self, arr, seqs):
        return list(self.reservoir.transform(arr if arr is not None else seqs))

    def _chunks(self, arr, seqs):
        """Yield ``(block, start, features (b, chunk, F))`` over time chunks, carrying the state.

        Equal-length sequences run as one block (one batch); unequal ones as
        one block each.
        """
        blocks = [arr] if arr is not None else [s[None] for s in seqs]
        for b, block in enumerate(blocks):
            state = None
            for start in range(0, block.shape[1], self.chunk_size):
                F, state = self.reservoir.transform(block[:, start:start + self.chunk_size], state=state,
                                                    return_state=True)
                yield b, start, F

    def _check_fitted(self):
        if not hasattr(self, "ridge_"):
            raise ValueError("this ReservoirRegressor is not fitted yet; call fit() first")

    def predict(self, X):
        """Predictions: ``(batch,)``/``(batch, k)`` with ``"last"``; ``(batch, T)``/``(batch, T, k)``
        (a list for unequal lengths) with ``"all"``, at every step, washout included."""
        self._check_fitted()
        arr, seqs = self._sequences(X)
        if self.readout == "last":
            F = self._features(arr, seqs)
            return self.ridge_.predict(np.stack([f[-1] for f in F]))
        if self.chunk_size is not None:
            parts: dict[int, list] = {}
            for b, _, F in self._chunks(arr, seqs):
                p = self.ridge_.predict(F.reshape(-1, F.shape[2]))
                parts.setdefault(b, []).append(p.reshape(F.shape[0], F.shape[1], *p.shape[1:]))
            preds = [x for b in sorted(parts) for x in np.concatenate(parts[b], axis=1)]
        else:
            preds = [self.ridge_.predict(f) for f in self._features(arr, seqs)]
        return np.stack(preds) if arr is not None else preds

    def score(self, X, y, sample_weight=None):
        """R^2 of the predictions (after the washout, with ``"all"``)."""
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported")
        self._check_fitted()
        arr, seqs = self._sequences(X)
        Y = self._targets(y, arr, seqs)
        P = self.predict(X)
        if self.readout == "last":
            return metrics.r2(Y, P)
        w = self.washout
        return metrics.r2(np.concatenate([yi[w:] for yi in Y]), np.concatenate([p[w:] for p in P]))

    def save(self, path) -> None:
        """Write the estimator, reservoir and readout included, to ``path`` (``qrnn.save``; no pickle)."""
        save(self, path)

    # -- persistence (see qrnn.io) --
    def _to_record(self) -> dict:
        params = self.get_params(deep=False)
        children = {"reservoir": params.pop("reservoir")}
        if params.get("alphas") is not None:
            params["alphas"] = [float(a) for a in params["alphas"]]
        fitted, arrays = {}, {}
        for name, value in vars(self).items():  # fitted attributes: name_, by scikit-learn's convention
            if not name.endswith("_") or name.startswith("_"):
                continue
            if isinstance(value, Ridge):
                children[name] = value
            elif isinstance(value, np.ndarray):
                arrays[name] = value
            else:
                fitted[name] = value
        return {"config": {"params": params, "fitted": fitted}, "arrays": arrays, "children": children}

    @classmethod
    def _from_record(cls, config, arrays, children):
        est = cls(reservoir=children.pop("reservoir", None), **config["params"])
        for name, value in {**config["fitted"], **arrays, **children}.items():
            if not (name.isidentifier() and name.endswith("_") and not name.startswith("_")):
                raise ValueError(f"{name!r} is not a fitted attribute")
            setattr(est, name, value)
        ridge = getattr(est, "ridge_", None)
        if ridge is not None and (not isinstance(est.reservoir, Reservoir)
                                  or ridge.n_features_in_ != est.reservoir.n_features):
            raise ValueError(f"the readout takes {ridge.n_features_in_} features but the reservoir gives "
                             f"{getattr(est.reservoir, 'n_features', None)}")
        return est
