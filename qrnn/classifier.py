"""Sequence classification: a reservoir (or a trained model) and a linear readout, as scikit-learn classifiers.

:class:`ReservoirClassifier` is the reservoir computer of reservoirpy's and
sQUlearn's classification tutorials: a frozen reservoir's features of each
sequence (its last step, the mean over its steps, or both) and a ridge
readout on one-vs-rest targets, as scikit-learn's ``RidgeClassifier`` fits
them. :class:`TrainedClassifier` is its counterpart trained by epochs with
the cross-entropy, on the options of :class:`~qrnn.TrainedRegressor`.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch
from sklearn.base import ClassifierMixin

from ._validation import check_choice, check_fitted, rng_from, rule, tensor_to_numpy
from .estimator import SequenceEstimator
from .readout import Ridge
from .trainer import _EpochTraining, _Padded, pool

#: The per-sequence features a classifier's readout sees.
READOUTS = ("last", "mean", "last+mean")

#: scikit-learn estimator checks the classifiers do not pass, by name, with the
#: reason. Empty: all pass (``tests/test_classifier.py`` runs them).
SKLEARN_CHECK_EXCEPTIONS: dict[str, str] = {}


class SequenceClassifier(ClassifierMixin, SequenceEstimator):
    """What the qrnn classifiers share: labels, pooled readouts, decisions from scores."""

    _parameters = {**SequenceEstimator._parameters, "readout": rule(check_choice, READOUTS)}

    def _labels(self, y, n: int):
        """``y`` as class indices into ``classes_`` (set here), checked as scikit-learn checks labels."""
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import check_array, column_or_1d

        y = tensor_to_numpy(y)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y")
        y = column_or_1d(y, warn=True)  # a column vector: scikit-learn's DataConversionWarning, then 1-D
        check_classification_targets(y)  # continuous targets: "Unknown label type: continuous ..."
        if len(y) != n:
            raise ValueError(f"y has {len(y)} labels but X has {n} sequences")
        classes, idx = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y has one class ({classes[0].item()!r}); a classifier needs at least 2 classes")
        self.classes_ = classes
        return idx

    @contextlib.contextmanager
    def _keeping_classes(self):
        """A fit that fails leaves the fitted state as it was: ``classes_`` (set early, for the readout's
        width) is put back, so it never sits beside another fit's readout."""
        before = self.__dict__.get("classes_")
        try:
            yield
        except BaseException:
            if before is None:
                self.__dict__.pop("classes_", None)
            else:
                self.classes_ = before
            raise

    def _known_labels(self, y, n: int):
        """Indices of ``y`` (a monitor set's) into the fitted ``classes_``; an unseen label is refused."""
        from sklearn.utils.validation import check_array, column_or_1d

        y = column_or_1d(check_array(tensor_to_numpy(y), ensure_2d=False, dtype=None, input_name="y"))
        if len(y) != n:
            raise ValueError(f"y has {len(y)} labels but X has {n} sequences")
        unseen = sorted(set(y.tolist()) - set(self.classes_.tolist()), key=str)
        if unseen:
            raise ValueError(f"y holds labels {unseen[:5]} that the training labels do not have "
                             f"(classes {self.classes_.tolist()})")
        return np.searchsorted(self.classes_, y)

    def _pooled(self, feats):
        """Per-sequence readout features ``(B, F')`` from a list of ``(T_i, n_features)`` arrays."""
        w = self.washout
        rows = []
        for f in feats:
            mask = np.zeros((1, len(f)))
            mask[0, w:] = 1.0
            rows.append(pool(f[None], np.array([len(f)]), mask, self.readout)[0])
        return np.stack(rows)

    def _decide(self, scores):
        """Labels from decision scores: ``(n,)`` (binary: positive means ``classes_[1]``) or ``(n, K)``."""
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def predict(self, X):
        """The predicted label of each sequence, from :meth:`decision_function`."""
        return self._decide(self.decision_function(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The readout sees the model's features of a sequence, not X's columns: a few-qubit reservoir
        # cannot separate an arbitrary tabular problem, which check_classifiers_train asks for.
        tags.classifier_tags.poor_score = True
        return tags

    def _check_loaded(self):
        super()._check_loaded()
        classes = getattr(self, "classes_", None)
        if classes is not None and (not isinstance(classes, np.ndarray) or classes.ndim != 1 or len(classes) < 2
                                    or len(np.unique(classes)) != len(classes)):
            raise ValueError(f"the fitted classes_ must be at least 2 distinct labels, got {classes!r}")


class ReservoirClassifier(SequenceClassifier):
    """A frozen reservoir's features of each sequence and a ridge readout, as a scikit-learn classifier.

    The readout is fitted as scikit-learn's ``RidgeClassifier`` fits it: one
    target per class, +1 for the sequence's class and -1 for the others (a
    single target for two classes), by the closed-form :class:`~qrnn.Ridge`;
    a sequence's label is the class of the largest score.

    Parameters
    ----------
    reservoir : Reservoir
        Any quantum or classical reservoir, e.g. ``QRNN(12, 4, seed=0)`` or ``ESN(12, 100)``.
    alpha : float or {"loo", "gcv"}, default 1e-6
        Ridge strength, or the criterion that chooses it from ``alphas``
        (leave-one-out or generalised cross-validation of the one-vs-rest
        targets, as ``RidgeClassifierCV``).
    washout : int, default 0
        Steps at the start of every sequence left out of the mean
        (``readout="mean"``, ``"last+mean"``); every sequence must be longer.
    readout : {"last", "mean", "last+mean"}, default "last"
        The features of a sequence that the readout sees: those of its last
        step, their mean over its steps after the washout, or both side by
        side (twice the features).
    alphas : sequence of float, optional
        Grid for ``alpha="loo"`` / ``"gcv"``.

    Attributes
    ----------
    classes_ : ndarray
        The labels, sorted (strings or integers, as given).
    ridge_ : Ridge
        The fitted readout.
    alpha_ : float
        The ridge strength used.
    n_features_in_ : int
        With ``X`` an array: the sequence length ``T`` (as in
        :class:`~qrnn.ReservoirRegressor`).

    Notes
    -----
    ``X`` takes the forms of :class:`~qrnn.ReservoirRegressor`: an array
    ``(n, T, input_size)`` (``(n, T)`` for one input), or a list of
    ``(T_i, input_size)`` arrays of their own lengths (each runs alone, so
    unequal lengths need no padding). ``y`` holds one label per sequence.

    Examples
    --------
    >>> import numpy as np
    >>> from qrnn import ReservoirClassifier
    >>> from qrnn.classical import ESN
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 2 * np.pi, 20)
    >>> X = [np.sin(t * f)[:, None] + 0.05 * rng.normal(size=(20, 1)) for f in (1, 3) * 10]
    >>> y = ["slow", "fast"] * 10
    >>> clf = ReservoirClassifier(ESN(1, 30, seed=0), alpha=1e-3, readout="mean").fit(X, y)
    >>> clf.classes_.tolist(), clf.score(X, y)
    (['fast', 'slow'], 1.0)
    """

    def __init__(self, reservoir=None, alpha=1e-6, washout=0, readout="last", alphas=None):
        self.reservoir = reservoir
        self.alpha = alpha
        self.washout = washout
        self.readout = readout
        self.alphas = alphas

    def _check_params(self):
        super()._check_params()
        Ridge(self.alpha, self.alphas)  # the readout checks alpha and alphas, once, before any work
        if self.washout and self.readout == "last":
            raise ValueError("washout applies to the pooled readouts ('mean', 'last+mean'); readout='last' reads "
                             "the last step only")

    def fit(self, X, y):
        """Fit the readout on the reservoir's features of the sequences ``X`` and their labels ``y``."""
        self._check_params()
        arr, seqs = self._sequences(X, fitting=True)
        self._check_lengths(seqs)
        with self._keeping_classes():
            idx = self._labels(y, len(seqs))
            F = self._pooled(self.reservoir.transform(self._batch(arr, seqs)))
            K = len(self.classes_)
            # one-vs-rest targets in {-1, +1}, as LabelBinarizer(neg_label=-1) gives RidgeClassifier
            Y = np.where(idx[:, None] == np.arange(K), 1.0, -1.0)
            ridge = Ridge(self.alpha, self.alphas).fit(F, Y[:, 1] if K == 2 else Y)
        self.ridge_ = ridge
        self.alpha_ = ridge.alpha_
        return self

    def decision_function(self, X):
        """Scores ``(n,)`` for two classes (positive: ``classes_[1]``), else ``(n, n_classes)``."""
        check_fitted(self, "ridge_")
        arr, seqs = self._sequences(X, fitting=False)
        self._check_lengths(seqs)
        return self.ridge_.predict(self._pooled(self.reservoir.transform(self._batch(arr, seqs))))

    def _check_loaded(self):
        super()._check_loaded()
        Ridge(self.alpha, self.alphas)
        ridge = getattr(self, "ridge_", None)
        if ridge is None:
            return
        if not isinstance(ridge, Ridge):
            raise TypeError(f"ridge_ must be a Ridge readout, got {type(ridge).__name__}")
        width = self.reservoir.n_features * (2 if self.readout == "last+mean" else 1)
        if ridge.n_features_in_ != width:
            raise ValueError(f"the readout takes {ridge.n_features_in_} features but the reservoir gives {width} "
                             f"(readout={self.readout!r})")
        k = len(getattr(self, "classes_", ()))
        if ridge.coef_.shape[1] != (1 if k == 2 else k):
            raise ValueError(f"the readout has {ridge.coef_.shape[1]} outputs for {k} classes")


class TrainedClassifier(_EpochTraining, SequenceClassifier):
    """A recurrent model and a linear readout trained by epochs on the cross-entropy, as a classifier.

    What trains follows the model, as in :class:`~qrnn.TrainedRegressor`: a
    model built with ``trainable=True`` trains end to end (backpropagation
    through time, exact gradients); a frozen reservoir trains only the
    readout, on features computed once. The readout gives one logit per
    class; :meth:`predict_proba` is their softmax.

    Parameters
    ----------
    model : Reservoir
        Any qrnn cell.
    epochs, batch_size, optimizer, lr, clip_grad_norm, validation_fraction, patience, random_state, progress
        As in :class:`~qrnn.TrainedRegressor` (the loss is the cross-entropy),
        except that the validation part is a stratified sample drawn from
        ``random_state`` (each class in its proportion), not the last
        sequences as given.
    readout : {"last", "mean", "last+mean"}, default "last"
        The features of a sequence the readout sees (see :class:`ReservoirClassifier`).
    washout : int, default 0
        Steps left out of the mean (``"mean"``, ``"last+mean"``).

    Attributes
    ----------
    classes_ : ndarray
    model_ : Reservoir
        The trained copy of ``model``.
    coef_ : ndarray of shape (n_readout_features, n_classes)
    intercept_ : ndarray of shape (n_classes,)
    history_ : list of dict
        One record per epoch (``train_loss`` is the mean cross-entropy).
    n_epochs_, best_epoch_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from qrnn import QRNN, TrainedClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(40, 5)); y = (X.mean(1) > 0).astype(int)
    >>> clf = TrainedClassifier(QRNN(1, 2, seed=0, trainable=True), epochs=3, readout="mean",
    ...                         random_state=0, progress=False).fit(X, y)
    >>> clf.predict_proba(X).shape, len(clf.history_)
    ((40, 2), 3)
    """

    _parameters = {**_EpochTraining._training_parameters, **SequenceClassifier._parameters}

    def _fit_targets(self, y, arr, seqs):
        return self._labels(y, len(seqs))

    def fit(self, X, y, monitor=None):
        """Train on sequences ``X`` and labels ``y``; ``monitor`` as in :meth:`TrainedRegressor.fit`."""
        with self._keeping_classes():
            return super().fit(X, y, monitor=monitor)

    def _monitor_targets(self, y, arr, seqs):
        return self._known_labels(y, len(seqs))

    def _padded(self, seqs, Y, dtype, device):
        return _Padded(seqs, Y, self.readout, self.washout, dtype, device, n_classes=len(self.classes_))

    def _validation_last(self, seqs, Y, n_val):
        """A stratified validation part, drawn from ``random_state``: every class trains and validates in its
        proportion (the last sequences as given may be one class: labelled sets are often sorted by class)."""
        from sklearn.model_selection import train_test_split

        seed = int(rng_from(self.random_state).integers(2**31))
        try:
            train, val = train_test_split(np.arange(len(seqs)), test_size=n_val, stratify=Y, random_state=seed)
        except ValueError as exc:  # a class too small to appear on both sides
            raise ValueError(f"validation_fraction={self.validation_fraction}: a stratified validation part of "
                             f"{n_val} sequences cannot be drawn ({exc})") from None
        order = np.concatenate([np.sort(train), np.sort(val)])
        return [seqs[i] for i in order], np.asarray(Y)[order]

    def _logits(self, X):
        check_fitted(self, "coef_")
        arr, seqs = self._sequences(X, fitting=False)
        self._check_lengths(seqs)
        return self._pooled(self.model_.transform(self._batch(arr, seqs))) @ self.coef_ + self.intercept_

    def decision_function(self, X):
        """Scores: the logit difference ``(n,)`` for two classes (positive: ``classes_[1]``), else the
        logits ``(n, n_classes)``."""
        z = self._logits(X)
        return z[:, 1] - z[:, 0] if z.shape[1] == 2 else z

    def predict_proba(self, X):
        """Class probabilities ``(n, n_classes)``: the softmax of the readout's logits."""
        return torch.softmax(torch.as_tensor(self._logits(X)), dim=1).numpy()

    def predict_log_proba(self, X):
        """The logarithm of :meth:`predict_proba`, computed stably (log-softmax)."""
        return torch.log_softmax(torch.as_tensor(self._logits(X)), dim=1).numpy()

    def _check_loaded(self):
        super()._check_loaded()
        loaded = self._loaded_readout()
        if loaded is None:
            return
        model, coef, intercept = loaded
        width = model.n_features * (2 if self.readout == "last+mean" else 1)
        k = len(getattr(self, "classes_", ()))
        if coef.shape != (width, k) or intercept.shape != (k,):
            raise ValueError(f"readout arrays of shapes {coef.shape} and {intercept.shape} do not fit a model of "
                             f"{width} readout features and {k} classes")
