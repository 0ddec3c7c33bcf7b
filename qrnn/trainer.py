"""Training by epochs: fully trained models, or a frozen reservoir's readout by gradient descent.

:class:`TrainedRegressor` is the paper's training protocol (docs/models.md,
section 3) as a scikit-learn regressor beside :class:`~qrnn.ReservoirRegressor`.
What trains follows the model:

- a model built with ``trainable=True`` (``QRNN``/``QLSTM``/``QGRU`` on the
  torch engine, or classical ``RNN``/``LSTM``/``GRU``) trains its angles or
  weights and a linear readout together, by backpropagation through time
  with exact gradients ("fully trained");
- a frozen reservoir (``trainable=False``, or an ``ESN``) trains only the
  readout; its features are computed once and reused every epoch
  ("reservoir, trained by epochs", the paper's own reservoir protocol).
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch

from ._validation import check_bool, check_choice, check_fitted, check_int, check_real, check_seed, rng_from, rule
from .estimator import SequenceRegressor

OPTIMIZERS = ("rmsprop", "adam", "sgd")

class _EpochTraining:
    """The training by epochs that :class:`TrainedRegressor` and :class:`~qrnn.TrainedClassifier` share.

    A subclass gives the targets (``_fit_targets``), the data and its loss
    (``_padded``), and keeps the training parameters of ``_training_parameters``.
    """

    _model_param = "model"
    _fitted_attr = "coef_"

    # one constructor for both estimators (scikit-learn reads its signature for get_params)
    def __init__(self, model=None, epochs=100, batch_size=10, optimizer="rmsprop", lr=0.01, clip_grad_norm=None,
                 validation_fraction=None, patience=None, random_state=None, progress=True, readout="last",
                 washout=0):
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.clip_grad_norm = clip_grad_norm
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.progress = progress
        self.readout = readout
        self.washout = washout

    _training_parameters = {
        "epochs": rule(check_int, minimum=1),
        "batch_size": rule(check_int, minimum=1),
        "optimizer": rule(check_choice, OPTIMIZERS),
        "lr": rule(check_real, low=0.0, low_open=True),
        "clip_grad_norm": rule(check_real, low=0.0, low_open=True, optional=True),
        "validation_fraction": rule(check_real, low=0.0, high=1.0, low_open=True, high_open=True, optional=True),
        "patience": rule(check_int, minimum=1, optional=True),
        "random_state": rule(check_seed, random_state=True),
        "progress": rule(check_bool),
    }

    def _check_params(self):
        super()._check_params()
        if self.patience is not None and self.validation_fraction is None:
            raise ValueError("patience needs validation_fraction: early stopping watches the validation loss")
        if self.washout and self.readout == "last":
            raise ValueError("washout applies to readout='all' (a prediction at every step) or a classifier's "
                             "pooled readouts ('mean', 'last+mean'); readout='last' reads the last step only")

    # -- fitting --
    def fit(self, X, y, monitor=None):
        """Train on sequences ``X`` and targets ``y`` (the conventions of :class:`~qrnn.ReservoirRegressor`).

        ``monitor``, an optional ``(X, y)`` pair (a test set, say), has its
        loss recorded as ``monitor_loss`` after every epoch, for learning
        curves. It is never used to train, stop or choose anything.

        Raises
        ------
        FloatingPointError
            If training diverges: a batch's loss is not finite (NaN or
            infinite), or the last step left non-finite parameters. The
            message names the epoch, the batch and the loss, and suggests a
            smaller ``lr`` or ``clip_grad_norm``; nothing is fitted.
        """
        self._check_params()
        arr, seqs = self._sequences(X, fitting=True)
        self._check_lengths(seqs)
        Y = self._fit_targets(y, arr, seqs)
        watch = None
        if monitor is not None:
            if not isinstance(monitor, (tuple, list)) or len(monitor) != 2:
                raise ValueError("monitor must be an (X, y) pair")
            try:
                m_arr, m_seqs = self._sequences(monitor[0], fitting=False)
                self._check_lengths(m_seqs)
                watch = (m_seqs, self._monitor_targets(monitor[1], m_arr, m_seqs))
            except ValueError as exc:
                raise ValueError(f"monitor: {exc}") from exc
        n_val = 0 if self.validation_fraction is None else max(1, int(round(self.validation_fraction * len(seqs))))
        n_train = len(seqs) - n_val
        if n_train < 1:
            raise ValueError(f"validation_fraction={self.validation_fraction} leaves no training sequence "
                             f"out of {len(seqs)}")
        if self.batch_size > n_train:
            raise ValueError(f"batch_size={self.batch_size} is larger than the {n_train} training sequences")
        if n_val:
            seqs, Y = self._validation_last(seqs, Y, n_val)
        return self._fit_epochs(seqs, Y, watch, n_train)

    def _validation_last(self, seqs, Y, n_val):
        """The sequences reordered so that the last ``n_val`` validate: as given (the latest windows of a series)."""
        return seqs, Y

    def _fit_epochs(self, seqs, Y, watch, n_train):
        """Train a copy of the model and a linear readout by epochs; set the fitted attributes.

        ``seqs[:n_train]`` train, the rest validate; ``watch`` is the monitor's
        ``(seqs, Y)`` or None. Subclasses give the data and loss (:meth:`_padded`).
        """
        model = copy.deepcopy(self.model)
        dtype, device = model._dtype, model.device
        trained = [p for p in model.parameters() if p.requires_grad]
        data = self._padded(seqs, Y, dtype, device)
        n_targets = data.n_targets
        if not trained:  # a frozen reservoir: its features are fixed, compute them once
            data.freeze(model)
        if watch is not None:
            m_data = self._padded(watch[0], watch[1], dtype, device)
            if m_data.n_targets != n_targets:
                raise ValueError(f"monitor y has {m_data.n_targets} targets, y has {n_targets}")
            if not trained:
                m_data.freeze(model)

        rng = rng_from(self.random_state)
        readout = _linear(model.n_features * data.pooled_width, n_targets, rng, dtype, device)
        opt = _optimizer(self.optimizer, trained + list(readout.parameters()), self.lr)
        train_idx = torch.arange(n_train, device=device)
        val_idx = torch.arange(n_train, len(seqs), device=device)
        n_val = len(seqs) - n_train
        history, best, best_state, since_best = [], float("inf"), None, 0
        from tqdm.auto import tqdm

        bar = tqdm(range(1, self.epochs + 1), desc=f"training {type(model).__name__}", unit="epoch",
                   disable=None if self.progress else True, leave=False)
        for epoch in bar:
            start = time.perf_counter()
            losses, sizes = [], []
            batches = torch.as_tensor(rng.permutation(n_train), device=device).split(self.batch_size)
            for b, batch in enumerate(batches, 1):
                opt.zero_grad()
                idx = train_idx[batch]
                loss = data.loss(readout(data.features(model, idx)), idx)
                losses.append(float(loss.detach()))
                if not np.isfinite(losses[-1]):
                    bar.close()
                    raise self._diverged(f"at epoch {epoch}, batch {b} of {len(batches)}: the loss is {losses[-1]}")
                loss.backward()
                if self.clip_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(trained + list(readout.parameters()), self.clip_grad_norm)
                opt.step()
                sizes.append(data.weight(idx))
            record = {"epoch": epoch, "train_loss": float(np.average(losses, weights=sizes))}
            if n_val:
                with torch.no_grad():
                    record["val_loss"] = float(data.loss(readout(data.features(model, val_idx)), val_idx))
            record["seconds"] = time.perf_counter() - start  # training time: the monitor is not counted
            if watch is not None:
                with torch.no_grad():
                    record["monitor_loss"] = float(m_data.loss(readout(m_data.features(model, None)), None))
            history.append(record)
            bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k.endswith("loss")})
            if self.patience is not None:
                if record["val_loss"] < best:
                    best, since_best = record["val_loss"], 0
                    best_state = (epoch, copy.deepcopy(model.state_dict()), copy.deepcopy(readout.state_dict()))
                else:
                    since_best += 1
                    if since_best >= self.patience:
                        break
        bar.close()
        if not all(bool(torch.isfinite(p).all()) for p in trained + list(readout.parameters())):
            raise self._diverged(f"at epoch {len(history)}, batch {len(batches)} of {len(batches)}: its step "
                                 "made the parameters non-finite")
        self.best_epoch_ = len(history)
        if best_state is not None:
            self.best_epoch_ = best_state[0]
            model.load_state_dict(best_state[1])
            readout.load_state_dict(best_state[2])
        self.model_ = model
        # C order, as a loaded file has it: a transposed view takes another BLAS path, 1 ulp apart
        self.coef_ = readout.weight.detach().T.cpu().numpy().astype(np.float64, order="C")
        self.intercept_ = readout.bias.detach().cpu().numpy().astype(np.float64)
        self.history_ = history
        self.n_epochs_ = len(history)
        return self

    def _loaded_readout(self):
        """``(model_, coef_, intercept_)`` of a loaded fitted estimator, or None if it is not fitted; the
        readout must be numeric arrays (the subclass checks their shapes)."""
        model = getattr(self, "model_", None)
        if model is None:
            return None
        coef, intercept = getattr(self, "coef_", None), getattr(self, "intercept_", None)
        if not (isinstance(coef, np.ndarray) and isinstance(intercept, np.ndarray)):
            raise ValueError(f"a fitted {type(self).__name__} needs its readout arrays coef_ and intercept_")
        return model, coef, intercept

    def _diverged(self, where: str) -> FloatingPointError:
        clip = ("a smaller clip_grad_norm" if self.clip_grad_norm is not None
                else "clip_grad_norm (1.0, say) to bound each step")
        return FloatingPointError(f"training diverged {where} (lr={self.lr}, clip_grad_norm={self.clip_grad_norm}); "
                                  f"try a smaller lr or {clip}")


class TrainedRegressor(_EpochTraining, SequenceRegressor):
    """A recurrent model and a linear readout trained by epochs (MSE, mini-batches, float64).

    Parameters
    ----------
    model : Reservoir
        Any qrnn cell. ``trainable=True`` trains it end to end; a frozen one
        trains only the readout, on features computed once.
    epochs : int, default 100
        Passes over the training sequences (fewer with early stopping).
    batch_size : int, default 10
        Sequences per gradient step, drawn in a shuffled order every epoch.
    optimizer : {"rmsprop", "adam", "sgd"}, default "rmsprop"
        ``"rmsprop"`` is the paper's (``alpha=0.99, eps=1e-8``).
    lr : float, default 0.01
        Learning rate.
    clip_grad_norm : float, optional
        Clip the gradients' global norm to this value at every step.
    validation_fraction : float, optional
        Hold out the last fraction of the training sequences (in the order
        given: for windows of a series, the latest ones) and record their loss
        every epoch.
    patience : int, optional
        With ``validation_fraction``: stop after this many epochs without a
        lower validation loss, and keep the parameters of the best epoch.
    random_state : int, numpy.random.Generator or numpy.random.RandomState, optional
        Seed of the readout's initial weights and of the batch order (a
        RandomState is drawn from once per fit, as in scikit-learn). The
        model's own weights come from its ``seed``.
    progress : bool, default True
        Show a progress bar (tqdm) with the epoch and loss; it stays quiet
        when output is not a terminal.
    readout : {"last", "all"}, default "last"
        ``"last"``: one prediction per sequence, from its last step (the
        paper's windows). ``"all"``: a prediction at every step (sequence to
        sequence, e.g. a stream cut into chunks), the loss averaged over
        every step past ``washout``.
    washout : int, default 0
        With ``readout="all"``: steps at the start of every sequence left out
        of the loss (the transient from the zero initial state). Every
        sequence must be longer.

    Notes
    -----
    ``X`` takes the forms :class:`~qrnn.ReservoirRegressor` takes: an array
    ``(batch, T, input_size)`` (or ``(batch, T)`` for ``input_size=1``), or
    a list of ``(T_i, input_size)`` sequences of their own lengths. Unequal
    lengths are padded with zeros after each sequence's last step, so the
    padding changes none of its features, and it is left out of the loss; a
    mini-batch runs to its own longest sequence (a frozen reservoir's
    features, computed once, to the longest of all). ``train_loss`` is the
    mean over the epoch's sequences (``"last"``) or loss steps (``"all"``),
    as ``val_loss`` and ``monitor_loss`` are.

    Attributes
    ----------
    model_ : Reservoir
        The trained copy of ``model`` (``model`` itself is never changed).
    coef_ : ndarray of shape (n_features, n_targets)
    intercept_ : ndarray of shape (n_targets,)
        The readout: predictions are ``features @ coef_ + intercept_``.
    history_ : list of dict
        One record per epoch: ``epoch``, ``train_loss`` (the mean of the
        epoch's batch losses), ``val_loss`` (with ``validation_fraction``),
        ``seconds`` (of training), ``monitor_loss`` (with ``fit(...,
        monitor=)``).
    n_epochs_ : int
        Epochs run.
    best_epoch_ : int
        The epoch whose parameters were kept (the last, without ``patience``).

    Examples
    --------
    >>> import numpy as np
    >>> from qrnn import QRNN, TrainedRegressor
    >>> X = np.random.default_rng(0).uniform(-1, 1, size=(40, 4)); y = 0.5 * X[:, -1]
    >>> est = TrainedRegressor(QRNN(1, 2, seed=0, trainable=True), epochs=3, random_state=0,
    ...                        progress=False).fit(X, y)
    >>> len(est.history_), est.predict(X).shape
    (3, (40,))
    """

    _parameters = {**_EpochTraining._training_parameters, **SequenceRegressor._parameters}

    def _fit_targets(self, y, arr, seqs):
        Y = self._targets(y, arr, seqs)
        self.y_ndim_ = Y.ndim if self.readout == "last" else Y[0].ndim
        return Y

    def _monitor_targets(self, y, arr, seqs):
        return self._targets(y, arr, seqs)

    def _padded(self, seqs, Y, dtype, device):
        return _Padded(seqs, Y, self.readout, self.washout, dtype, device)

    def predict(self, X):
        """Predictions: ``(batch,)``/``(batch, k)`` with ``"last"``; ``(batch, T)``/``(batch, T, k)``
        (a list for unequal lengths) with ``"all"``, at every step, washout included."""
        check_fitted(self, "coef_")
        arr, seqs = self._sequences(X, fitting=False)
        F = self.model_.transform(self._batch(arr, seqs))
        if self.readout == "last":
            out = np.stack([f[-1] for f in F]) @ self.coef_ + self.intercept_
            return out[:, 0] if self.y_ndim_ == 1 else out
        preds = [f @ self.coef_ + self.intercept_ for f in F]
        preds = [p[:, 0] if self.y_ndim_ == 1 else p for p in preds]
        return np.stack(preds) if arr is not None else preds

    def _generator(self):
        return self.model_, lambda features: features @ self.coef_ + self.intercept_

    def _n_outputs(self) -> int:
        return int(self.coef_.shape[1])

    def _check_loaded(self):
        super()._check_loaded()
        loaded = self._loaded_readout()
        if loaded is None:
            return
        model, coef, intercept = loaded
        if coef.ndim != 2 or intercept.shape != (coef.shape[1],):
            raise ValueError(f"readout arrays of shapes {coef.shape} and {intercept.shape} do not fit together")
        if coef.shape[0] != model.n_features:
            raise ValueError(f"the readout takes {coef.shape[0]} features but the model gives {model.n_features}")
        if getattr(self, "y_ndim_", None) not in (1, 2) or (self.y_ndim_ == 1 and coef.shape[1] != 1):
            raise ValueError(f"y_ndim_={getattr(self, 'y_ndim_', None)!r} does not fit a readout of "
                             f"{coef.shape[1]} outputs (1 or 2, with one output when 1)")


class _Padded:
    """Sequences of any lengths as one zero-padded tensor, with their targets and the loss over them.

    Padding goes after each sequence's last step, so a recurrent model's
    features of the real steps are those of the sequence alone. A batch runs
    to its longest sequence only. ``readout`` is ``"all"`` (a target per
    step, MSE) or a per-sequence readout of the features: ``"last"``, or
    the classifiers' ``"mean"`` (over the steps after the washout) and
    ``"last+mean"`` (both, side by side). ``n_classes`` makes ``Y`` class
    indices and the loss the cross-entropy of the readout's logits.
    """

    def __init__(self, seqs, Y, readout, washout, dtype, device, n_classes=None):
        self.readout, self.device, self.n_classes = readout, device, n_classes
        self.pooled_width = 2 if readout == "last+mean" else 1  # features per model feature
        self._frozen = None
        lengths = np.array([len(s) for s in seqs])
        self.lengths = torch.as_tensor(lengths, device=device)
        T = int(lengths.max())
        X = np.zeros((len(seqs), T, seqs[0].shape[1]))
        mask = np.zeros((len(seqs), T))
        for i, s in enumerate(seqs):
            X[i, :len(s)] = s
            mask[i, washout:len(s)] = 1.0
        self.X = torch.as_tensor(X, dtype=dtype, device=device)
        self.mask = torch.as_tensor(mask, dtype=dtype, device=device)
        if n_classes is not None:
            self.Y = torch.as_tensor(np.asarray(Y, dtype=np.int64), device=device)
            self.n_targets = n_classes
        elif readout != "all":
            Y = np.array(Y, dtype=np.float64).reshape(len(seqs), -1)  # a copy: y may be read-only
            self.Y = torch.as_tensor(Y, dtype=dtype, device=device)
            self.n_targets = Y.shape[1]
        else:
            k = 1 if Y[0].ndim == 1 else Y[0].shape[1]
            Yp = np.zeros((len(seqs), T, k))
            for i, yi in enumerate(Y):
                Yp[i, :len(yi)] = np.asarray(yi, dtype=np.float64).reshape(len(yi), k)
            self.Y = torch.as_tensor(Yp, dtype=dtype, device=device)
            self.n_targets = k

    def freeze(self, model):
        """Compute ``model``'s features of every sequence once; :meth:`features` then reads them."""
        with torch.no_grad():
            self._frozen = self.features(model, None)

    def weight(self, idx) -> float:
        """What a batch's mean loss averages over: its sequences (per-sequence readouts) or its loss steps."""
        return len(idx) if self.readout != "all" else float(self.mask[idx].sum())

    def _index(self, idx):
        return torch.arange(len(self.X), device=self.device) if idx is None else idx

    def steps(self, idx) -> int:
        return int(self.lengths[self._index(idx)].max())

    def features(self, model, idx):
        """``(b, pooled_width * n_features)`` per sequence, or ``(b, T_b, n_features)`` with ``"all"``."""
        idx = self._index(idx)
        if self._frozen is not None:
            F = self._frozen[idx]
            return F[:, :self.steps(idx)] if self.readout == "all" else F
        F = model(self.X[idx][:, :self.steps(idx)])
        return F if self.readout == "all" else pool(F, self.lengths[idx], self.mask[idx][:, :F.shape[1]],
                                                     self.readout)

    def loss(self, pred, idx):
        """Mean squared error (or cross-entropy) over the sequences ``idx`` (every target, every loss step)."""
        idx = self._index(idx)
        if self.n_classes is not None:
            return torch.nn.functional.cross_entropy(pred, self.Y[idx])
        if self.readout != "all":
            return torch.mean((pred - self.Y[idx]) ** 2)
        T = pred.shape[1]
        mask = self.mask[idx][:, :T]
        err = ((pred - self.Y[idx][:, :T]) ** 2).sum(-1) * mask
        return err.sum() / (mask.sum() * pred.shape[-1])


def pool(F, lengths, mask, readout: str):
    """Per-sequence features of ``(B, T, n)`` step features: the last real step, the mean over the
    steps where ``mask`` is 1 (after the washout), or both side by side (``"last+mean"``).

    Torch tensors or numpy arrays alike (the reservoir classifier pools numpy features).
    """
    last = F[np.arange(len(F)) if isinstance(F, np.ndarray) else torch.arange(len(F), device=F.device),
             lengths - 1]
    if readout == "last":
        return last
    mean = (F * mask[..., None]).sum(1) / mask.sum(1)[:, None]
    if readout == "mean":
        return mean
    return np.concatenate([last, mean], 1) if isinstance(F, np.ndarray) else torch.cat([last, mean], 1)


def _linear(n_in: int, n_out: int, rng, dtype, device) -> torch.nn.Linear:
    """A linear layer with PyTorch's default distribution, U(-1/sqrt(n_in), 1/sqrt(n_in)), drawn from ``rng``."""
    layer = torch.nn.Linear(n_in, n_out, dtype=dtype, device=device)
    k = 1.0 / np.sqrt(n_in)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(rng.uniform(-k, k, size=(n_out, n_in))))
        layer.bias.copy_(torch.as_tensor(rng.uniform(-k, k, size=n_out)))
    return layer


def _optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-8)  # the paper's settings
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.SGD(params, lr=lr)
