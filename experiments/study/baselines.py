"""The baselines in every table: persistence, ridge on the raw window, an ESN as wide as the quantum models."""
from __future__ import annotations

from qrnn import ReservoirRegressor, Ridge
from qrnn.classical import ESN
from qrnn.metrics import mse, nrmse

from .config import StudyConfig
from .tasks import _data, persistence, task_train_fraction


def baselines(task: str, cfg: StudyConfig) -> list[dict]:
    """Persistence, ridge on the raw window, and an ESN with as many units as a model's quantum
    reservoirs have qubits in all."""
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
        rows.append({"task": task, "model": name, "init": "-", "mode": "baseline", "seed": 0,
                     "train_mse": mse(ytr, p_tr), "test_mse": mse(yte, p_te),
                     "train_nrmse": nrmse(ytr, p_tr), "test_nrmse": nrmse(yte, p_te),
                     "epochs": 0, "epochs_to_5pct": None, "seconds": 0.0, "seconds_per_epoch": None,
                     "trained_params": n, "circuit_evaluations": 0, "input_scaling": None, "condition": "exact"})
    return rows
