"""Run by .ci/run in a fresh virtual environment made with ``pip install -e .`` (no extras).

It proves that the core (torch engine, classical cells, readouts, estimators,
tasks) imports and works with none of PennyLane, Qiskit or qiskit-ibm-runtime
installed, and that asking for a backend that needs them names the extra to
install. It is not collected by pytest (the full test environment has every
extra installed).
"""
import importlib.util
import sys

import numpy as np


def main() -> int:
    absent = [m for m in ("pennylane", "qiskit", "qiskit_aer", "qiskit_ibm_runtime")
              if importlib.util.find_spec(m) is None]
    assert len(absent) == 4, f"this check needs a core-only environment; found installed: " \
                             f"{sorted({'pennylane', 'qiskit', 'qiskit_aer', 'qiskit_ibm_runtime'} - set(absent))}"

    import qrnn
    from qrnn import QLSTM, ReservoirRegressor
    from qrnn.classical import ESN
    from qrnn.metrics import mse
    from qrnn.tasks import chronological_split, damped_shm, make_windows, minmax_scale

    X, y = make_windows(minmax_scale(damped_shm()), window=4)
    Xtr, Xte, ytr, yte = chronological_split(X, y)
    scores = {}
    for name, res in (("ESN(1, 50)", ESN(1, 50, seed=0)), ("QLSTM(1, 3) torch", QLSTM(1, 3, seed=0))):
        est = ReservoirRegressor(res, alpha="loo").fit(Xtr, ytr)
        scores[name] = mse(yte, est.predict(Xte))
        assert np.isfinite(scores[name]), (name, scores[name])

    for backend, extra in (("aer", "qiskit"), ("pennylane", "pennylane"), ("pennylane:lightning.qubit", "pennylane")):
        try:
            QLSTM(1, 3, backend=backend)
        except qrnn.MissingExtraError as exc:
            assert f"pip install 'qrnn[{extra}]'" in str(exc), str(exc)
        else:
            raise AssertionError(f"backend={backend!r} was accepted without its extra installed")
    import qrnn.datasets

    for load in (qrnn.datasets.santafe_laser, qrnn.datasets.japanese_vowels):
        try:
            load()
        except qrnn.MissingExtraError as exc:
            assert "pip install 'qrnn[datasets]'" in str(exc), str(exc)
        else:
            raise AssertionError(f"{load.__name__}() loaded without the datasets extra installed")
    from qrnn import ReservoirClassifier

    clf = ReservoirClassifier(ESN(1, 20, seed=0)).fit(Xtr, ytr > np.median(ytr))
    assert clf.score(Xte, yte > np.median(ytr)) > 0.5
    print("core-only install: qrnn imports and fits without PennyLane/Qiskit; test MSE "
          + ", ".join(f"{k} {v:.2e}" for k, v in scores.items())
          + "; backend='aer' / 'pennylane' and qrnn.datasets name their extras; a classifier fits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
