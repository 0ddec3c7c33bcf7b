"""Closed-form ridge regression: the trained part of a reservoir computer.

``min_W,b ||Y - X W - b||^2 + alpha ||W||^2`` with an unpenalised intercept
``b``, for several targets at once, in float64 on the features' device.

- :meth:`Ridge.fit` centres the data and takes one thin SVD
  ``X_c = U S V^T``; ``W = V diag(s / (s^2 + alpha)) U^T Y_c``. There is no
  explicit inverse and no Gram matrix, so ill-conditioned features lose no
  more accuracy than the SVD itself.
- ``alpha="loo"`` or ``"gcv"`` chooses alpha from a grid using the same SVD.
  Leave-one-out residuals are ``e_i / (1 - H_ii)`` (exact for ridge with an
  unpenalised intercept); generalised cross-validation is
  ``n RSS / (n - tr H)^2``.
- :meth:`Ridge.partial_fit` accumulates ``X^T X``, ``X^T Y`` and the sums, so
  many sequences, or a long stream in chunks, fit exactly without holding all
  features; :meth:`Ridge.finalize` solves from those statistics (symmetric
  eigendecomposition; ``alpha`` fixed or ``"gcv"``).

Directions of rounding noise are dropped, as ``numpy.linalg.pinv`` does:
singular values below ``max(n, p) * eps`` times the largest (eigenvalues of
the Gram matrix below that fraction of its scale, in :meth:`Ridge.finalize`)
count as zero. So ``alpha=0`` on rank-deficient features (duplicated
columns, more features than samples) gives the minimum-norm least-squares
solution. A criterion never picks an alpha where it is undefined: an alpha
that gives a sample a leverage of 1 (LOO divides by ``1 - H_ii``) or leaves
no degrees of freedom (GCV's ``n - tr H``) is skipped, and if every alpha of
the grid is, the fit is refused.
"""
from __future__ import annotations


import numpy as np
import torch

from ._validation import as_array, check_fitted, check_real, check_real_tensor

DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-10, 3, 27))
CRITERIA = ("loo", "gcv")


def _rcond(n: int, p: int) -> float:
    """The relative cutoff on singular values, ``max(n, p) * eps`` (numpy.linalg.lstsq's and pinv's default)."""
    return max(n, p) * float(np.finfo(np.float64).eps)


def _as_tensor(a, name: str, device=None) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        device = a.device if device is None else device
        return check_real_tensor(a, name).to(dtype=torch.float64, device=device)
    # np.require copies read-only input (pandas' to_numpy, a memmap), which torch cannot wrap
    return torch.as_tensor(np.require(as_array(a, name), np.float64, ["W"]), dtype=torch.float64, device=device)


def _check_alpha(alpha):
    if isinstance(alpha, str):
        if alpha not in CRITERIA:
            raise ValueError(f"alpha must be a non-negative number or one of {list(CRITERIA)}, got {alpha!r}")
        return alpha
    return check_real(alpha, "alpha", low=0.0)


class Ridge:
    """Ridge regression with an unpenalised intercept.

    Parameters
    ----------
    alpha : float or {"loo", "gcv"}, default 1e-6
        Regularisation strength, or the criterion that chooses it from ``alphas``.
    alphas : sequence of float, optional
        The grid searched when ``alpha`` is a criterion (default 1e-10 .. 1e3).

    Attributes
    ----------
    coef_ : torch.Tensor (n_features, n_targets)
    intercept_ : torch.Tensor (n_targets,)
    alpha_ : float
        The alpha used (chosen, if ``alpha`` was a criterion).
    cv_scores_ : ndarray or None
        Mean squared LOO residual, or GCV score, per grid value (NaN where
        the criterion is undefined: that alpha makes the fit interpolate).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X @ [1.0, -2.0, 0.5] + 3
    >>> r = Ridge(alpha=1e-9).fit(X, y)
    >>> np.round(r.coef_[:, 0].numpy(), 6).tolist(), round(float(r.intercept_[0]), 6)
    ([1.0, -2.0, 0.5], 3.0)
    >>> Ridge(alpha="loo").fit(X, y).alpha_ < 1e-3
    True
    """

    def __init__(self, alpha=1e-6, alphas=None):
        self.alpha = _check_alpha(alpha)
        if alphas is None:
            grid = DEFAULT_ALPHAS
        elif isinstance(alphas, str) or not np.iterable(alphas) or len(alphas) == 0:
            raise ValueError(f"alphas must be a non-empty sequence of non-negative numbers, got {alphas!r}")
        else:
            grid = tuple(check_real(a, f"alphas[{i}]", low=0.0) for i, a in enumerate(alphas))
        self.alphas = grid
        self._stats = None

    # -- one-shot fit --
    def fit(self, X, y) -> "Ridge":
        X, Y, self._y_1d = self._check_xy(X, y)
        n = X.shape[0]
        x_mean, y_mean = X.mean(0), Y.mean(0)
        Xc, Yc = X - x_mean, Y - y_mean
        U, s, Vt = torch.linalg.svd(Xc, full_matrices=False)
        keep = s > _rcond(*X.shape) * s.max() if len(s) else s > 0
        U, s, Vt = U[:, keep], s[keep], Vt[keep]  # directions below the cutoff are rounding noise
        UtY = U.T @ Yc
        s2 = s * s
        if isinstance(self.alpha, str):
            # 1 - H_ii and the residuals as (part outside span U) + (the shrunk part): no cancellation,
            # so both stay accurate as alpha -> 0, where they vanish together when the fit interpolates
            U2 = U * U
            if len(s) == n - 1:  # [1, U] spans every sample: nothing is left outside (exactly, not to rounding)
                resid0, free = torch.zeros_like(Yc), torch.zeros_like(U2[:, 0])
            else:
                resid0, free = Yc - U @ UtY, (1.0 - 1.0 / n - U2.sum(1)).clamp(min=0)
            tol = _rcond(*X.shape)
            scores = []
            for a in self.alphas:
                loose = a / (s2 + a)  # 1 - s^2 / (s^2 + a); s > 0 past the cutoff
                resid = resid0 + U @ (loose[:, None] * UtY)
                if self.alpha == "loo":
                    one_minus_h = free + U2 @ loose
                    ok = bool((one_minus_h > tol).all())  # a leverage of 1: the LOO residual is 0 / 0
                    score = float(((resid / one_minus_h[:, None]) ** 2).mean()) if ok else np.nan
                else:
                    rest = (n - 1 - len(s) + float(loose.sum())) / n  # 1 - dof / n, dof = 1 + tr of the shrinkage
                    score = float((resid**2).mean() / rest**2) if rest > tol else np.nan
                scores.append(score)
            self.cv_scores_ = np.array(scores)
            self.alpha_ = self._choose(X.shape)
        else:
            self.cv_scores_ = None
            self.alpha_ = self.alpha
        d = s / (s2 + self.alpha_)
        self.coef_ = Vt.T @ (d[:, None] * UtY)
        self.intercept_ = y_mean - x_mean @ self.coef_
        self.n_features_in_ = X.shape[1]
        return self

    def _choose(self, shape) -> float:
        """The grid value of the lowest criterion, among those where it is defined."""
        if np.all(np.isnan(self.cv_scores_)):
            n, p = shape
            raise ValueError(f"alpha={self.alpha!r}: every alpha in alphas {list(self.alphas)} makes the readout "
                             f"interpolate the {n} samples ({p} features), where the criterion is undefined; "
                             "give alphas larger values")
        return self.alphas[int(np.nanargmin(self.cv_scores_))]

    # -- streaming fit --
    def partial_fit(self, X, y) -> "Ridge":
        """Add a block of samples to the sufficient statistics (call :meth:`finalize` after)."""
        if self.alpha == "loo":
            raise ValueError("alpha='loo' needs every sample at once; use fit(), a fixed alpha or 'gcv'")
        X, Y, y_1d = self._check_xy(X, y, min_samples=1)
        if self._stats is None:
            self._stats = {"n": 0, "sx": 0, "sy": 0, "xx": 0, "xy": 0, "yy": 0, "y_1d": y_1d,
                           "shape": (X.shape[1], Y.shape[1])}
        elif self._stats["shape"] != (X.shape[1], Y.shape[1]):
            raise ValueError(f"partial_fit blocks must keep (n_features, n_targets) = "
                             f"{self._stats['shape']}, got {(X.shape[1], Y.shape[1])}")
        st = self._stats
        st["n"] += X.shape[0]
        st["sx"] = st["sx"] + X.sum(0)
        st["sy"] = st["sy"] + Y.sum(0)
        st["xx"] = st["xx"] + X.T @ X
        st["xy"] = st["xy"] + X.T @ Y
        st["yy"] = st["yy"] + (Y * Y).sum(0)
        return self

    def finalize(self) -> "Ridge":
        st = self._stats
        if st is None or st["n"] < 2:
            raise ValueError("finalize needs at least 2 samples added by partial_fit")
        n = st["n"]
        mx, my = st["sx"] / n, st["sy"] / n
        G = st["xx"] - n * torch.outer(mx, mx)
        C = st["xy"] - n * torch.outer(mx, my)
        syy = st["yy"] - n * my * my
        lam, V = torch.linalg.eigh(G)
        # eigenvalues are squared singular values; G comes from uncentred sums, rounded relative to them
        keep = lam > _rcond(n, G.shape[0]) * max(float(lam.max()), float(st["xx"].diagonal().max()))
        lam, V = lam[keep], V[:, keep]
        VtC = V.T @ C
        if self.alpha == "gcv":
            tol = _rcond(n, G.shape[0])
            scores = []
            for a in self.alphas:
                inv = 1 / (lam + a)
                # RSS = syy - 2 W^T C + W^T G W with W = V inv V^T C
                rss = syy - ((2 * inv - lam * inv * inv)[:, None] * VtC**2).sum(0)
                rest = (n - 1 - len(lam) + float((a * inv).sum())) / n  # 1 - dof / n
                scores.append(float(rss.clamp(min=0).mean() / n / rest**2) if rest > tol else np.nan)
            self.cv_scores_ = np.array(scores)
            self.alpha_ = self._choose((n, G.shape[0]))
        else:
            self.cv_scores_ = None
            self.alpha_ = self.alpha
        self.coef_ = V @ ((1 / (lam + self.alpha_))[:, None] * VtC)
        self.intercept_ = my - mx @ self.coef_
        self.n_features_in_ = G.shape[0]
        self._y_1d = st["y_1d"]
        self._stats = None
        return self

    def predict(self, X):
        """Predictions, ``(n,)`` if the targets were 1-D, else ``(n, n_targets)``; type follows ``X``."""
        check_fitted(self, "coef_")
        is_tensor = isinstance(X, torch.Tensor)
        Xt = _as_tensor(X, "X", device=self.coef_.device)
        if Xt.ndim != 2 or Xt.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n_samples, {self.n_features_in_}), got {tuple(Xt.shape)}")
        out = Xt @ self.coef_ + self.intercept_
        if self._y_1d:
            out = out[:, 0]
        return out if is_tensor else out.cpu().numpy()

    # -- persistence (see qrnn.io) --
    def _to_record(self) -> dict:
        config = {"alpha": self.alpha, "alphas": list(self.alphas)}
        arrays = {}
        if hasattr(self, "coef_"):
            config["fitted"] = {"alpha_": self.alpha_, "y_1d": self._y_1d}
            arrays = {"coef": self.coef_.cpu().numpy(), "intercept": self.intercept_.cpu().numpy()}
            if self.cv_scores_ is not None:
                arrays["cv_scores"] = self.cv_scores_
        return {"config": config, "arrays": arrays}

    @classmethod
    def _from_record(cls, config, arrays, children):
        ridge = cls(config["alpha"], config["alphas"])
        fitted = config.get("fitted")
        if fitted is None:
            return ridge
        coef, intercept = arrays["coef"], arrays["intercept"]
        if coef.ndim != 2 or intercept.shape != (coef.shape[1],):
            raise ValueError(f"readout arrays of shapes {coef.shape} and {intercept.shape} do not fit together")
        ridge.coef_ = torch.as_tensor(coef, dtype=torch.float64)
        ridge.intercept_ = torch.as_tensor(intercept, dtype=torch.float64)
        ridge.cv_scores_ = arrays.get("cv_scores")
        ridge.alpha_ = _check_alpha(fitted["alpha_"])
        ridge._y_1d = bool(fitted["y_1d"])
        if ridge._y_1d and coef.shape[1] != 1:
            raise ValueError(f"a readout for one target has {coef.shape[1]} columns")
        ridge.n_features_in_ = coef.shape[0]
        return ridge

    @staticmethod
    def _check_xy(X, y, min_samples: int = 2):
        Xt = _as_tensor(X, "X")
        Yt = _as_tensor(y, "y", device=Xt.device)
        if Xt.ndim != 2:
            raise ValueError(f"X must have shape (n_samples, n_features), got {tuple(Xt.shape)}")
        if Yt.ndim not in (1, 2):
            raise ValueError(f"y must have shape (n_samples,) or (n_samples, n_targets), got {tuple(Yt.shape)}")
        if Yt.shape[0] != Xt.shape[0]:
            raise ValueError(f"y has {Yt.shape[0]} samples but X has {Xt.shape[0]}")
        if Xt.shape[0] < min_samples:
            raise ValueError(f"ridge needs at least {min_samples} samples, got {Xt.shape[0]}")
        y_1d = Yt.ndim == 1
        return Xt, (Yt[:, None] if y_1d else Yt), y_1d


def fit_feature_penalised(ridge: Ridge, X, y, penalty) -> Ridge:
    """Fit ``ridge`` with feature ``j`` penalised by ``alpha + penalty[j]`` instead of ``alpha``.

    ``min_W,b ||Y - X W - b||^2 + sum_j (alpha + penalty_j) ||W_j||^2``: with
    ``c_j = sqrt(1 + penalty_j / alpha)`` it is plain ridge (``alpha``) on the
    features ``X_j / c_j``, whose coefficients are then divided by ``c_j``. A
    criterion (``"loo"``, ``"gcv"``) scores every alpha of the grid on its own
    rescaled features. Used by the shot-aware readout
    (``ReservoirRegressor(shot_penalty=True)``), whose ``penalty`` is each
    feature's sampling variance summed over the samples: the expected
    ``||E W||^2`` that the features' shot noise ``E`` adds to the residuals.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 2)); y = X @ [1.0, 1.0]
    >>> r = fit_feature_penalised(Ridge(alpha=1.0), X, y, np.array([0.0, 1e6]))
    >>> np.round(r.coef_[:, 0].numpy(), 2).tolist()  # the second feature, heavily penalised, is shrunk to 0
    [1.14, 0.0]
    """
    Xt = _as_tensor(X, "X")
    d = _as_tensor(penalty, "penalty", device=Xt.device)
    if Xt.ndim != 2 or d.shape != (Xt.shape[1],) or bool((d < 0).any()):
        raise ValueError(f"penalty must be one non-negative number per feature ({Xt.shape[1] if Xt.ndim == 2 else '?'}),"
                         f" got shape {tuple(d.shape)}")
    grid = ridge.alphas if isinstance(ridge.alpha, str) else (ridge.alpha,)
    if any(a <= 0 for a in grid):
        raise ValueError("a feature penalty needs alpha > 0 (every alpha of the grid): at alpha = 0 the rescaling "
                         "is undefined")

    def scaled(a):
        return torch.sqrt(1.0 + d / a)

    if isinstance(ridge.alpha, str):
        scores = []
        for a in grid:
            probe = Ridge(ridge.alpha, alphas=[a]).fit(Xt / scaled(a), y)
            scores.append(float(probe.cv_scores_[0]))
        ridge.cv_scores_ = np.array(scores)
        best = ridge._choose(tuple(Xt.shape))
    else:
        best = ridge.alpha
    c = scaled(best)
    fitted = Ridge(best).fit(Xt / c, y)
    ridge.coef_ = fitted.coef_ / c[:, None]
    ridge.intercept_ = fitted.intercept_
    ridge.alpha_, ridge._y_1d, ridge.n_features_in_ = best, fitted._y_1d, fitted.n_features_in_
    if not isinstance(ridge.alpha, str):
        ridge.cv_scores_ = None
    return ridge
