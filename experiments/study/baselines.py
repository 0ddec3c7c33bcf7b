"""The baselines in every table: persistence, ridge on the raw window, an ESN as wide as the quantum models."""
from __future__ import annotations

from qrnn import ReservoirRegressor, Ridge
from qrnn.classical import ESN
from qrnn.metrics import mse, nrmse

from .config import StudyConfig
from .grid import Cell
from .tables import row
from .tasks import _data, persistence, task_kind, task_train_fraction


def baselines(task: str, cfg: StudyConfig) -> list[dict]:
    """Persistence, ridge on the raw window, and an ESN with as many units as a model's quantum
    reservoirs have qubits in all; a classification or generation task's own
    (:func:`experiments.study.classification.baselines`, :func:`experiments.study.generation.baselines`)."""
    kind = task_kind(task)
    if kind != "forecast":
        from . import classification, generation

        return (classification if kind == "classification" else generation).baselines(task, cfg)
    Xtr, Xte, ytr, yte = _data(task, task_train_fraction(task, cfg))
    last = persistence(task)
    rows = []
    lin = Ridge(alpha="loo").fit(Xtr[:, :, 0], ytr)
    esn_units = cfg.ensemble * (1 + cfg.hidden_size)
    esn = ReservoirRegressor(ESN(1, esn_units, seed=0), alpha="loo").fit(Xtr, ytr)
    for name, p_tr, p_te, n in (
            ("persistence", last[:len(Xtr)], last[len(Xtr):], 0),
            ("ridge on the raw window", lin.predict(Xtr[:, :, 0]), lin.predict(Xte[:, :, 0]), Xtr.shape[1] + 1),
            (f"ESN({esn_units})", esn.predict(Xtr), esn.predict(Xte), esn_units + 1)):
        rows.append(row(Cell(task, name, "baseline", 0, "-"), "forecast", train_mse=mse(ytr, p_tr),
                        test_mse=mse(yte, p_te), train_nrmse=nrmse(ytr, p_tr), test_nrmse=nrmse(yte, p_te),
                        epochs=0, seconds=0.0, trained_params=n, circuit_evaluations=0))
    return rows
