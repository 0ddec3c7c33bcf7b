"""ReservoirClassifier and TrainedClassifier: scikit-learn's checks, agreement with RidgeClassifier, labels,
pooled readouts, persistence and bad input."""
import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from qrnn import QLSTM, QRNN, ReservoirClassifier, TrainedClassifier, load
from qrnn.classical import ESN
from qrnn.classifier import SKLEARN_CHECK_EXCEPTIONS


@parametrize_with_checks(
    [ReservoirClassifier(QLSTM(input_size=1, hidden_size=3, seed=0)), ReservoirClassifier(ESN(1, 30, seed=0)),
     ReservoirClassifier(ESN(1, 20, seed=0), readout="last+mean", alpha="loo"),
     TrainedClassifier(ESN(1, 20, seed=0), epochs=2, batch_size=2, progress=False, random_state=0),
     TrainedClassifier(QRNN(1, 2, seed=0, trainable=True), epochs=1, batch_size=10, progress=False,
                       random_state=0, readout="mean")],
    expected_failed_checks=lambda est: SKLEARN_CHECK_EXCEPTIONS,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _waves(rng, n=40, lengths=(12, 20), classes=("low", "mid", "high")):
    """Noisy sines of three frequencies, of unequal lengths: a labelled set any reservoir separates."""
    freqs = {"low": 0.3, "mid": 0.9, "high": 1.7}
    offsets = {"low": 0.4, "mid": 0.0, "high": -0.4}
    X, y = [], []
    for i in range(n):
        c = classes[i % len(classes)]
        T = int(rng.integers(*lengths))
        t = np.arange(T) + rng.uniform(0, 6)
        wave = np.stack([np.sin(freqs[c] * t) + offsets[c], np.cos(freqs[c] * t)], 1)
        X.append(0.5 * wave + 0.05 * rng.normal(size=(T, 2)))
        y.append(c)
    return X, np.array(y)


@pytest.mark.parametrize("readout", ["last", "mean", "last+mean"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_reservoir_classifier_is_ridge_classifier_on_the_pooled_features(readout, n_classes, rng):
    from sklearn.linear_model import RidgeClassifier

    X, y = _waves(rng, classes=("low", "mid", "high")[:n_classes])
    res = ESN(2, 25, seed=1)
    washout = 0 if readout == "last" else 3  # the last step alone has no washout
    clf = ReservoirClassifier(res, alpha=0.3, readout=readout, washout=washout).fit(X, y)
    # the pooled features written out by hand from the reservoir's step features
    feats = res.transform(X)
    pooled = {"last": lambda f: f[-1], "mean": lambda f: f[3:].mean(0),
              "last+mean": lambda f: np.concatenate([f[-1], f[3:].mean(0)])}[readout]
    F = np.stack([pooled(f) for f in feats])
    ref = RidgeClassifier(alpha=0.3, solver="svd").fit(F, y)
    np.testing.assert_allclose(clf.decision_function(X), ref.decision_function(F), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(clf.predict(X), ref.predict(F))
    np.testing.assert_array_equal(clf.classes_, ref.classes_)
    assert clf.decision_function(X).shape == ((len(X),) if n_classes == 2 else (len(X), n_classes))


def test_alpha_by_leave_one_out_is_ridge_classifier_cv(rng):
    from sklearn.linear_model import RidgeClassifierCV

    X, y = _waves(rng)
    alphas = [1e-4, 1e-2, 1.0, 100.0]
    clf = ReservoirClassifier(ESN(2, 25, seed=1), alpha="loo", alphas=alphas).fit(X, y)
    F = np.stack([f[-1] for f in ESN(2, 25, seed=1).transform(X)])
    ref = RidgeClassifierCV(alphas=alphas).fit(F, y)
    assert clf.alpha_ == ref.alpha_
    np.testing.assert_allclose(clf.decision_function(X), ref.decision_function(F), atol=1e-8)


@pytest.mark.parametrize("make", [lambda: QRNN(2, 3, seed=0), lambda: ESN(2, 30, seed=0)])
def test_classifiers_separate_unequal_length_multivariate_sequences(make, rng):
    X, y = _waves(rng, n=60)
    Xt, yt = _waves(np.random.default_rng(99), n=30)
    assert ReservoirClassifier(make(), alpha="gcv", readout="last+mean").fit(X, y).score(Xt, yt) >= 0.9
    if isinstance(make(), QRNN):
        return  # its features vary by 1e-3 or less: gradient descent on the readout alone needs far more epochs
    trained = TrainedClassifier(make(), epochs=60, lr=0.05, batch_size=10, readout="last+mean", random_state=0,
                                progress=False).fit(X, y)
    assert trained.score(Xt, yt) >= 0.9
    p = trained.predict_proba(Xt)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(trained.classes_[p.argmax(1)], trained.predict(Xt))
    np.testing.assert_allclose(np.exp(trained.predict_log_proba(Xt)), p, atol=1e-12)


def test_fully_trained_classifier_learns_and_leaves_its_model_alone(rng):
    import torch

    X, y = _waves(rng, n=45, classes=("low", "high"))
    model = QRNN(2, 2, seed=0, trainable=True)
    before = [p.detach().clone() for p in model.parameters()]
    clf = TrainedClassifier(model, epochs=25, lr=0.05, batch_size=9, readout="mean", random_state=0,
                            progress=False).fit(X, y)
    assert clf.history_[-1]["train_loss"] < clf.history_[0]["train_loss"]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(before, clf.model_.parameters()))
    assert clf.score(X, y) >= 0.85


@pytest.mark.parametrize("make", [
    lambda: ReservoirClassifier(QRNN(2, 2, seed=0), readout="last+mean", alpha="loo"),
    lambda: ReservoirClassifier(ESN(2, 10, seed=0), readout="mean", washout=2),
    lambda: TrainedClassifier(ESN(2, 10, seed=0), epochs=3, readout="last+mean", random_state=0, progress=False),
    lambda: TrainedClassifier(QRNN(2, 2, seed=0, trainable=True), epochs=2, random_state=0, progress=False),
])
@pytest.mark.parametrize("labels", ["str", "int"])
def test_classifiers_save_and_load_without_pickle(make, labels, rng, tmp_path):
    X, y = _waves(rng, n=30)
    if labels == "int":
        y = np.searchsorted(np.unique(y), y) * 10 - 5  # -5, 5, 15
    clf = make().fit(X, y)
    clf.save(tmp_path / "clf.qrnn")
    again = load(tmp_path / "clf.qrnn")
    assert type(again) is type(clf)
    np.testing.assert_array_equal(again.classes_, clf.classes_)
    assert again.classes_.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    np.testing.assert_array_equal(again.decision_function(X), clf.decision_function(X))


def test_bad_labels_are_refused(rng):
    X = rng.normal(size=(12, 5))
    clf = ReservoirClassifier(ESN(1, 10, seed=0))
    with pytest.raises(ValueError, match=r"y has one class \('a'\); a classifier needs at least 2 classes"):
        clf.fit(X, ["a"] * 12)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        clf.fit(X, rng.normal(size=12))
    with pytest.raises(ValueError, match="y has 11 labels but X has 12 sequences"):
        clf.fit(X, [0, 1] * 5 + [0])
    with pytest.raises(ValueError, match="readout must be one of"):
        ReservoirClassifier(ESN(1, 10, seed=0), readout="all").fit(X, [0, 1] * 6)
    with pytest.raises(ValueError, match="sequence 0 has 5 steps; washout=5 needs at least 6"):
        ReservoirClassifier(ESN(1, 10, seed=0), washout=5, readout="mean").fit(X, [0, 1] * 6)
    with pytest.raises(ValueError, match="washout applies to the pooled readouts"):
        ReservoirClassifier(ESN(1, 10, seed=0), washout=2).fit(X, [0, 1] * 6)
    with pytest.raises(ValueError, match="washout applies to readout='all'"):
        TrainedClassifier(ESN(1, 10, seed=0), washout=2, progress=False).fit(X, [0, 1] * 6)
    trained = TrainedClassifier(ESN(1, 10, seed=0), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"monitor: y holds labels \[7\] that the training labels do not have"):
        trained.fit(X, [0, 1] * 6, monitor=(X[:2], [0, 7]))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        trained.fit(X, rng.normal(size=12))


def test_monitor_records_the_cross_entropy_of_another_set(rng):
    X, y = _waves(rng, n=30)
    Xt, yt = _waves(np.random.default_rng(5), n=12)
    clf = TrainedClassifier(ESN(2, 20, seed=0), epochs=4, random_state=0, progress=False,
                            validation_fraction=0.2).fit(X, y, monitor=(Xt, yt))
    assert all({"train_loss", "val_loss", "monitor_loss", "seconds"} <= set(h) for h in clf.history_)


def test_esn_100_classifies_japanese_vowels_as_the_literature_reports():
    """The issue's must-show: an ESN-100 reservoir classifier reaches the 0.97-0.99 reported for ESNs.

    Its hyperparameters are chosen by scikit-learn's GridSearchCV (5-fold, on the training speakers'
    utterances only); the test set is scored once, by the chosen model.
    """
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from qrnn import MissingExtraError
    from qrnn.datasets import japanese_vowels

    try:
        Xtr, ytr, Xte, yte = japanese_vowels()
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    steps = np.concatenate(Xtr)
    mu, sd = steps.mean(0), steps.std(0)  # standardised by the training set's statistics
    Xtr, Xte = [(x - mu) / sd for x in Xtr], [(x - mu) / sd for x in Xte]
    grid = {"reservoir__spectral_radius": [0.5, 0.9], "reservoir__input_scaling": [0.1, 0.3, 1.0],
            "reservoir__leak_rate": [0.3, 1.0], "readout": ["last", "last+mean"]}
    search = GridSearchCV(ReservoirClassifier(ESN(12, 100, seed=0), alpha="loo"), grid,
                          cv=StratifiedKFold(5, shuffle=True, random_state=0)).fit(Xtr, ytr)
    assert search.score(Xte, yte) >= 0.97  # 0.989 here (0.993 in cross-validation)


def test_the_validation_part_of_a_trained_classifier_is_stratified(rng):
    # labels sorted by class, as labelled sets often are: the last sequences alone would all be "b"
    X = [rng.normal(size=(6, 1)) for _ in range(40)]
    y = np.array(["a"] * 20 + ["b"] * 20)
    clf = TrainedClassifier(ESN(1, 10, seed=0), epochs=2, validation_fraction=0.5, random_state=0,
                            progress=False)
    seqs, Y = clf._validation_last(X, np.searchsorted(["a", "b"], y), 20)
    assert sorted(Y[:20].tolist()) == [0] * 10 + [1] * 10 and sorted(Y[20:].tolist()) == [0] * 10 + [1] * 10
    clf.fit(X, y)
    assert all("val_loss" in h for h in clf.history_)
    with pytest.raises(ValueError, match="a stratified validation part of 1 sequences cannot be drawn"):
        TrainedClassifier(ESN(1, 10, seed=0), epochs=1, validation_fraction=0.01, batch_size=2,
                          progress=False).fit(X[:12], ["a", "b", "c"] * 4)
