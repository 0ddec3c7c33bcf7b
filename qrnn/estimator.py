"""A scikit-learn regressor made of a reservoir and a ridge readout."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from . import metrics
from ._validation import (as_array, check_batch, check_batch_shape, check_bool, check_choice, check_fitted, check_int,
                          check_numeric,
                          check_params, rule,
                          friendly_ragged, ndim, tensor_to_numpy)
from .batch import SequenceBatch
from .io import save
from .readout import Ridge, fit_feature_penalised
from .reservoir import Reservoir

READOUTS = ("last", "all")

#: scikit-learn estimator checks that ReservoirRegressor does not pass, by
#: name, with the reason. Empty: all of them pass, for quantum and classical
#: reservoirs alike (``tests/test_sklearn_contract.py`` runs them).
#: ``check_array_api_input`` is skipped by scikit-learn itself unless
#: ``SCIPY_ARRAY_API=1`` (read when SciPy is first imported); the test runs it
#: in a subprocess with that set, where it passes too. The estimator computes
#: in torch and does not claim array-API support (its tag stays False).
SKLEARN_CHECK_EXCEPTIONS: dict[str, str] = {}


class SequenceEstimator(BaseEstimator):
    """What every qrnn estimator shares: sequence inputs, tags, parameter checks and persistence.

    Subclasses name the constructor parameter that holds the recurrent model
    in ``_model_param`` and keep a ``readout`` parameter: ``"all"`` (a
    prediction at every step) or a per-sequence one (``"last"``, and the
    classifiers' ``"mean"`` and ``"last+mean"``); see
    :class:`ReservoirRegressor` for the input conventions.
    """

    _model_param = "reservoir"
    _fitted_attr = "ridge_"  # set by fit: what check_fitted looks for
    #: The domain of each constructor parameter, checked at fit (see qrnn._validation.rule); a subclass
    #: extends it. Rules that tie two parameters together stay in ``_check_params``.
    _parameters = {"washout": rule(check_int, minimum=0)}

    @property
    def _per_sequence(self) -> bool:
        """One output per sequence (a fixed ``T`` for arrays: scikit-learn's ``n_features_in_``)."""
        return self.readout != "all"

    def _check_params(self):
        self._check_model()
        check_params(self, self._parameters)

    @property
    def _model(self):
        return getattr(self, self._model_param)

    def set_params(self, **params):
        """scikit-learn's ``set_params``; a refused call leaves the estimator as it was.

        A nested ``reservoir__...`` (``model__...``) change goes to the model's
        own ``set_params``, which builds and validates the new model before it
        replaces anything; parameters set before a refusal are put back.
        """
        before = self.get_params(deep=False)
        try:
            return super().set_params(**params)
        except Exception:
            for name, value in before.items():
                setattr(self, name, value)
            raise

    def _check_model(self):
        if not isinstance(self._model, Reservoir):
            raise TypeError(f"{self._model_param} must be a qrnn reservoir or cell (e.g. QLSTM(1, 3), "
                            f"qrnn.classical.ESN(1, 100)), got {type(self._model).__name__}")

    def _sequences(self, X, fitting: bool):
        """``(array (B, T, d) or None, list of (T_i, d) arrays)`` from any accepted form of ``X``.

        A list of 2-D arrays is a batch of sequences of their own lengths.
        Otherwise ``X`` goes through scikit-learn's ``check_array``: ``(n, T)``
        is ``n`` univariate sequences of length ``T`` (reservoirs with
        ``input_size=1``), ``(B, T, input_size)`` a batch. With
        ``readout="last"``, ``validate_data`` also records (in fit) or checks
        (in predict) ``n_features_in_ = T`` (and a DataFrame's column names),
        scikit-learn's convention. Torch tensors are detached and copied to
        the CPU, as ``Reservoir.transform`` takes them.
        """
        d = self._model.input_size
        X = tensor_to_numpy(X)
        if isinstance(X, (list, tuple)) and X and all(ndim(s, f"X[{i}]") == 2 for i, s in enumerate(X)):
            seqs = [check_batch(as_array(s, f"X[{i}]")[None], d, f"X[{i}]")[0] for i, s in enumerate(X)]
            if fitting:
                self._forget_n_features()
            return None, seqs
        params = {"ensure_2d": True, "allow_nd": True,
                  "ensure_min_samples": 2 if fitting and self._per_sequence else 1}
        if self._per_sequence:
            from sklearn.utils.validation import validate_data

            with friendly_ragged("X"):
                arr = validate_data(self, X, reset=fitting, **params)
        else:
            arr = check_numeric(X, "X", **params)
            if fitting:
                self._forget_n_features()
        if arr.ndim == 2:
            if d != 1:
                raise ValueError(f"a 2-D X {arr.shape} is {arr.shape[0]} univariate sequences of length "
                                 f"{arr.shape[1]}, which needs a reservoir with input_size=1; this one has "
                                 f"input_size={d}: pass X as (batch, T, {d})")
            arr = arr[:, :, None]
        arr = check_batch_shape(arr, d, "X")  # validate_data / check_numeric checked the values
        return arr, list(arr)

    def _batch(self, arr, seqs) -> SequenceBatch:
        """The checked sequences as one batch, for the model to trust (no second scan of the values)."""
        d = self._model.input_size
        return SequenceBatch(arr) if arr is not None else SequenceBatch.padded(seqs, d)

    def _forget_n_features(self):
        # Only readout="last" on an array of sequences has a fixed T (n_features_in_) and column
        # names to check; a refit without them must not keep those of an earlier fit.
        self.__dict__.pop("n_features_in_", None)
        self.__dict__.pop("feature_names_in_", None)

    def _check_lengths(self, seqs):
        need = getattr(self, "washout", 0) + 1
        for i, s in enumerate(seqs):
            if len(s) < need:
                raise ValueError(f"sequence {i} has {len(s)} steps; washout={need - 1} needs at least {need}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True  # (batch, T, input_size): the native form
        # A shot-based reservoir samples anew on every run: predictions on the
        # same input differ by shot noise, so the invariance checks do not apply.
        model = getattr(self, self._model_param, None)
        tags.non_deterministic = not getattr(model, "exact", True)
        return tags

    def save(self, path) -> None:
        """Write the estimator, model and readout included, to ``path`` (``qrnn.save``; no pickle)."""
        save(self, path)

    # -- persistence (see qrnn.io) --
    def _to_record(self) -> dict:
        params = self.get_params(deep=False)
        children = {name: params.pop(name) for name in list(params) if hasattr(params[name], "_to_record")}
        if params.get("alphas") is not None:
            params["alphas"] = [float(a) for a in params["alphas"]]
        fitted, arrays = {}, {}
        for name, value in vars(self).items():  # fitted attributes: name_, by scikit-learn's convention
            if not name.endswith("_") or name.startswith("_"):
                continue
            if hasattr(value, "_to_record"):
                children[name] = value
            elif isinstance(value, np.ndarray) and value.dtype.kind in "OUS":  # feature_names_in_, str classes_
                fitted[name] = {"__strings__": [str(v) for v in value]}
                if value.dtype.kind == "U":
                    fitted[name]["unicode"] = True  # back as numpy's str dtype, not object
            elif isinstance(value, np.ndarray):
                arrays[name] = value
            else:
                fitted[name] = value
        return {"config": {"params": params, "fitted": fitted}, "arrays": arrays, "children": children}

    @classmethod
    def _from_record(cls, config, arrays, children):
        params = {name: children.pop(name) for name in list(children) if not name.endswith("_")}
        est = cls(**params, **config["params"])
        for name, value in {**config["fitted"], **arrays, **children}.items():
            if not (name.isidentifier() and name.endswith("_") and not name.startswith("_")):
                raise ValueError(f"{name!r} is not a fitted attribute")
            if isinstance(value, dict) and set(value) in ({"__strings__"}, {"__strings__", "unicode"}):
                strings = [str(v) for v in value["__strings__"]]
                # object, as scikit-learn keeps feature names; numpy's str dtype where the fit made that
                value = np.asarray(strings, dtype=str if value.get("unicode") is True else object)
            setattr(est, name, value)
        est._check_loaded()
        return est

    def _check_loaded(self):
        """Refuse a loaded estimator whose parts do not fit together (subclasses add checks).

        Its parameters go through ``_check_params``, the check ``fit`` makes, so
        a file holds no value that ``fit`` would refuse; the fitted sizes must be
        what a fit gives.
        """
        self._check_params()
        for name, valid, want in (("n_features_in_", lambda v: v >= 1, "an integer >= 1"),
                                  ("y_ndim_", lambda v: v in (1, 2), "1 or 2")):
            value = getattr(self, name, None)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not valid(value)):
                raise ValueError(f"the fitted {name} must be {want}, got {value!r}")



class SequenceRegressor(RegressorMixin, SequenceEstimator):
    """What every qrnn regressor shares: targets per sequence or per step, R^2, closed-loop generation."""

    _parameters = {**SequenceEstimator._parameters, "readout": rule(check_choice, READOUTS)}

    def _targets(self, y, arr, seqs):
        """Targets per sequence: list of (T_i, k) arrays ('all') or one (B, k) array ('last')."""
        B = len(seqs)
        y = tensor_to_numpy(y)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        if self.readout == "last":
            Y = check_numeric(y, "y", ensure_2d=False, allow_nd=True, dtype=np.float64)
            if Y.ndim not in (1, 2) or Y.shape[0] != B:
                raise ValueError(f"with readout='last', y must have shape ({B},) or ({B}, n_targets), got {Y.shape}")
            return Y
        if arr is not None and not isinstance(y, (list, tuple)):
            Y = check_numeric(y, "y", ensure_2d=False, allow_nd=True, dtype=np.float64)
            T = arr.shape[1]
            if Y.ndim not in (2, 3) or Y.shape[:2] != (B, T):
                raise ValueError(f"with readout='all', y must have shape ({B}, {T}) or ({B}, {T}, n_targets), "
                                 f"got {Y.shape}")
            return list(Y)
        if not isinstance(y, (list, tuple)) or len(y) != B:
            raise ValueError(f"with unequal-length sequences, y must be a list of {B} arrays")
        out = []
        for i, (s, yi) in enumerate(zip(seqs, y)):
            yi = check_numeric(tensor_to_numpy(yi), f"y[{i}]", ensure_2d=False, dtype=np.float64)
            if yi.ndim not in (1, 2) or yi.shape[0] != len(s):
                raise ValueError(f"y[{i}] must have {len(s)} rows (one per step of X[{i}]), got shape {yi.shape}")
            out.append(yi)
        if len({o.ndim for o in out}) != 1 or len({o.shape[1:] for o in out}) != 1:
            raise ValueError("every y[i] must have the same number of targets")
        return out

    def score(self, X, y, sample_weight=None):
        """R^2 of the predictions (after the washout, with ``"all"``)."""
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported")
        check_fitted(self, self._fitted_attr)
        arr, seqs = self._sequences(X, fitting=False)
        Y = self._targets(y, arr, seqs)
        P = self.predict(X)
        if self.readout == "last":
            return metrics.r2(Y, P)
        w = getattr(self, "washout", 0)
        return metrics.r2(np.concatenate([yi[w:] for yi in Y]), np.concatenate([p[w:] for p in P]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # The readout sees the model's features of the last step, not X: a
        # 4-qubit reservoir (4 features) cannot fit an arbitrary tabular
        # regression, which check_regressors_train asks for.
        tags.regressor_tags.poor_score = True
        return tags

    # -- closed-loop generation --
    def _generator(self):
        """``(reservoir, head)``: the fitted reservoir and the readout as a function of ``(B, F)`` features."""
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    def generate(self, warmup, n_steps, progress=False):
        """Run the fitted model on its own predictions: closed-loop generation.

        The reservoir runs over ``warmup``; the readout's prediction after its
        last step is the first generated value, which is fed back as the next
        input, and so on. Each step runs the reservoir one step from the
        carried state, so the cost per step is constant (a circuit run per
        step and sequence, not a rerun of the whole history).

        Parameters
        ----------
        warmup : array-like of shape (T0,), (T0, input_size) or (batch, T0, input_size)
            The sequence(s) that drive the reservoir before it runs free;
            ``(T0,)`` for a one-input model. ``T0`` must be longer than
            ``washout`` (the readout was fitted on steps after it).
        n_steps : int
            Steps to generate, at least 1.
        progress : bool, default False
            Show a progress bar (tqdm) over the steps.

        Returns
        -------
        ndarray
            The ``n_steps`` predictions, in the shape of ``warmup`` with its
            time axis of length ``n_steps``.

        Raises
        ------
        ValueError
            The model was not fitted with ``readout="all"``, or its outputs
            are not as wide as its input (the predictions could not be fed
            back); ``n_steps < 1``; ``warmup`` too short or malformed.

        Examples
        --------
        >>> import numpy as np
        >>> from qrnn import ReservoirRegressor
        >>> from qrnn.classical import ESN
        >>> u = np.sin(np.arange(400) * 0.2)
        >>> est = ReservoirRegressor(ESN(1, 50, seed=0), readout="all", washout=50)
        >>> est = est.fit(u[None, :-1, None], u[None, 1:])   # one step ahead, on the stream itself
        >>> est.generate(u[:-1], 20).shape
        (20,)
        """
        check_fitted(self, self._fitted_attr)
        n_steps = check_int(n_steps, "n_steps", minimum=1)
        check_bool(progress, "progress")
        if self.readout != "all":
            raise ValueError(f"generate needs a model fitted with readout='all' on one-step-ahead targets of a "
                             f"stream (a prediction at every step, fed back as the next input); this one has "
                             f"readout={self.readout!r}")
        reservoir, head = self._generator()
        d, k = reservoir.input_size, self._n_outputs()
        if k != d:
            raise ValueError(f"generate feeds each prediction back as the next input, so the model must predict "
                             f"as many values per step as it takes: it predicts {k} but its input_size is {d}; "
                             f"fit it on one-step-ahead targets of the input itself")
        w = check_numeric(tensor_to_numpy(warmup), "warmup", ensure_2d=False, allow_nd=True, dtype=np.float64)
        shape = w.shape
        if w.ndim == 1 and d == 1:
            w = w[None, :, None]
        elif w.ndim == 2 and w.shape[1] == d:
            w = w[None]
        elif not (w.ndim == 3 and w.shape[2] == d):
            one = "(T0,), " if d == 1 else ""
            raise ValueError(f"warmup must have shape {one}(T0, {d}) or (batch, T0, {d}), got {shape}")
        need = self.washout + 1
        if w.shape[1] < need:
            raise ValueError(f"warmup has {w.shape[1]} steps; washout={self.washout} needs at least {need} (the "
                             f"readout was fitted on the steps after the washout)")
        from tqdm.auto import tqdm

        w = np.ascontiguousarray(w)
        F, state = reservoir._features_numpy(w, None)
        if state is None:  # a user's cell may not return its state: a free run would restart from zero
            raise ValueError(f"generate carries the reservoir's state from step to step, but "
                             f"{type(reservoir).__name__} returns no state from its _run")
        out = np.empty((w.shape[0], n_steps, d))
        last = F[:, -1]
        for t in tqdm(range(n_steps), desc="generating", unit="step", disable=None if progress else True,
                      leave=False):
            out[:, t] = head(last)
            if t + 1 < n_steps:
                step, state = reservoir._features_numpy(out[:, t:t + 1], state)
                last = step[:, 0]
        if len(shape) == 3:
            return out
        return out[0, :, 0] if len(shape) == 1 else out[0]


class ReservoirRegressor(SequenceRegressor):
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
    shot_penalty : bool, default False
        A shot-aware readout (a research option; ``readout="last"``, a
        reservoir on ``TorchBackend(shots=...)``): the training windows are
        transformed a second time with independent shots, each feature's
        sampling variance is estimated from the two draws, and feature ``j``
        is penalised by ``alpha + sum_i var_ij`` (the noise energy its
        coefficient picks up) instead of ``alpha``: features with larger
        shot noise are shrunk more. It costs one more transform of the
        training windows. Whether it helps: ``benchmarks/RESULTS.md``,
        "A shot-aware readout".

    Attributes
    ----------
    ridge_ : Ridge
        The fitted readout.
    alpha_ : float
        The ridge strength used (chosen, with ``"loo"`` / ``"gcv"``).
    n_features_in_ : int
        With ``readout="last"`` and ``X`` an array: the sequence length
        ``T``, which is the number of columns of a 2-D ``X`` (scikit-learn's
        meaning) and ``X.shape[1]`` of a 3-D one alike; ``predict`` and
        ``score`` then require the same ``T`` (scikit-learn's message). Not
        set with ``readout="all"`` (streams of any length) nor when ``X`` is a
        list of sequences (the form for unequal lengths), whose lengths vary
        by design.
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``X`` (``readout="last"``), as in
        scikit-learn; set only then.

    Notes
    -----
    ``X`` is ``(batch, T, input_size)``; a 2-D ``(n_samples, T)`` array is
    ``n_samples`` univariate sequences (reservoirs with ``input_size=1``), so
    the estimator takes scikit-learn's usual 2-D data; a list of
    ``(T_i, input_size)`` arrays holds sequences of unequal lengths. Inputs go
    through scikit-learn's ``check_array`` (object arrays of numbers are
    converted; complex, sparse, NaN, empty and too-small inputs are refused
    with scikit-learn's messages; strings in ``y`` are refused, never parsed,
    as :class:`~qrnn.Ridge` refuses them); torch tensors are detached and
    copied to the CPU first. With ``"last"``, ``y`` is ``(batch,)`` or
    ``(batch, n_targets)``; with ``"all"``, ``(batch, T)`` or
    ``(batch, T, n_targets)`` (a list of ``(T_i,)`` / ``(T_i, n_targets)``
    arrays for unequal lengths). The estimator passes every scikit-learn
    estimator check (see :data:`SKLEARN_CHECK_EXCEPTIONS`).

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
                 chunk_size=None, shot_penalty=False):
        self.reservoir = reservoir
        self.alpha = alpha
        self.washout = washout
        self.readout = readout
        self.alphas = alphas
        self.chunk_size = chunk_size
        self.shot_penalty = shot_penalty

    # -- checks --
    _parameters = {**SequenceRegressor._parameters, "chunk_size": rule(check_int, minimum=1, optional=True),
                   "shot_penalty": rule(check_bool)}

    def _check_params(self):
        super()._check_params()
        Ridge(self.alpha, self.alphas)  # the readout checks alpha and alphas (once, here, before any work)
        if self.chunk_size is not None and self.readout != "all":
            raise ValueError("chunk_size applies to readout='all' (long streams)")
        if self.shot_penalty:
            if self.readout != "last":
                raise ValueError("shot_penalty applies to readout='last'")
            self._redraw_backend()  # refused now if the features are not shot estimates

    # -- fitting --
    def fit(self, X, y):
        """Fit the readout on the reservoir's features of ``X``."""
        self._check_params()
        arr, seqs = self._sequences(X, fitting=True)
        self._check_lengths(seqs)
        Y = self._targets(y, arr, seqs)
        ridge = Ridge(self.alpha, self.alphas)
        w = self.washout
        if self.readout == "last":
            F = np.stack([f[-1] for f in self._features(arr, seqs)])
            if self.shot_penalty:
                again = np.stack([f[-1] for f in self._features(arr, seqs, self._redraw_backend())])
                # half the mean square difference of two independent draws estimates each feature's variance
                self.shot_variance_ = ((F - again) ** 2).mean(0) / 2
                fit_feature_penalised(ridge, F, Y, self.shot_variance_ * len(F))
            else:
                ridge.fit(F, Y)
                self.__dict__.pop("shot_variance_", None)  # from an earlier fit with shot_penalty
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
        return self

    def _features(self, arr, seqs, backend=None):
        reservoir = self.reservoir
        if backend is not None:
            from .cells import on_backend

            reservoir = on_backend(reservoir, backend)
        return list(reservoir.transform(self._batch(arr, seqs)))

    def _redraw_backend(self):
        """The reservoir's torch engine with shots, seeded afresh: the second, independent draw of shot_penalty."""
        from .backends import TorchBackend
        from .cells import QuantumReservoir

        cells = [m for m in _cells(self.reservoir) if isinstance(m, QuantumReservoir)]
        backends = {id(c._backend): c._backend for c in cells}
        be = next(iter(backends.values())) if len(backends) == 1 else None
        if not isinstance(be, TorchBackend) or be.shots is None:
            raise ValueError("shot_penalty needs a quantum reservoir whose cells share one TorchBackend with shots "
                             "(e.g. backend=TorchBackend(shots=1000, seed=0)); exact features have no shot noise")
        cfg = {k: v for k, v in be.to_config().items() if k != "kind"}
        seed = be.seed
        cfg["seed"] = None if seed is None else (seed + 1 if isinstance(seed, int) else seed)
        return TorchBackend(**cfg)

    def _chunks(self, arr, seqs):
        """Yield ``(block, start, features (b, chunk, F))`` over time chunks, carrying the state.

        Equal-length sequences run as one block (one batch); unequal ones as
        one block each.
        """
        blocks = [arr] if arr is not None else [s[None] for s in seqs]
        for b, block in enumerate(blocks):
            state = None
            for start in range(0, block.shape[1], self.chunk_size):
                F, state = self.reservoir.transform(SequenceBatch(block[:, start:start + self.chunk_size]), state=state,
                                                    return_state=True)
                yield b, start, F

    def predict(self, X):
        """Predictions: ``(batch,)``/``(batch, k)`` with ``"last"``; ``(batch, T)``/``(batch, T, k)``
        (a list for unequal lengths) with ``"all"``, at every step, washout included."""
        check_fitted(self, "ridge_")
        arr, seqs = self._sequences(X, fitting=False)
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

    def _generator(self):
        def head(features):
            return self.ridge_.predict(features).reshape(len(features), -1)

        return self.reservoir, head

    def _n_outputs(self) -> int:
        return int(self.ridge_.coef_.shape[1])

    def _check_loaded(self):
        super()._check_loaded()
        Ridge(self.alpha, self.alphas)  # fit's own check of alpha and alphas
        ridge = getattr(self, "ridge_", None)
        if ridge is not None and not isinstance(ridge, Ridge):
            raise TypeError(f"ridge_ must be a Ridge readout, got {type(ridge).__name__}")
        if ridge is not None and getattr(self, "alpha_", ridge.alpha_) != ridge.alpha_:
            raise ValueError(f"alpha_={getattr(self, 'alpha_')!r} is not the readout's alpha_={ridge.alpha_!r}")
        if ridge is not None and ridge.n_features_in_ != self.reservoir.n_features:
            raise ValueError(f"the readout takes {ridge.n_features_in_} features but the reservoir gives "
                             f"{self.reservoir.n_features}")


def _cells(reservoir):
    """Every reservoir inside ``reservoir`` (itself, or an ensemble's members, depth first)."""
    members = getattr(reservoir, "members", None)
    if not members:
        return [reservoir]
    return [c for m in members for c in _cells(m)]
