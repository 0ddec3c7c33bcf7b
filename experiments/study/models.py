"""The study's models by name, built for a cell, and the input scaling chosen for one."""
from __future__ import annotations

from typing import TYPE_CHECKING

from qrnn import QGRU, QLSTM, QRNN, Ensemble, ReservoirRegressor
from qrnn.classical import ESN, GRU, LSTM, RNN
from qrnn.metrics import mse
from qrnn.tasks import chronological_split

if TYPE_CHECKING:  # config and grid import this module
    from .config import StudyConfig
    from .grid import Cell

QUANTUM = {"QRNN": QRNN, "QLSTM": QLSTM, "QGRU": QGRU}
CLASSICAL = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
MODELS = (*QUANTUM, *CLASSICAL, "ESN")


def build_model(cell: Cell, cfg: StudyConfig, input_scaling: float = 1.0, trainable=None):
    trainable = cell.mode == "trained" if trainable is None else trainable
    if cell.model in QUANTUM:
        # members of an ensemble get seeds of their own, distinct across the cells' seeds
        members = [QUANTUM[cell.model](1, cfg.hidden_size, init=cell.init, seed=cell.seed * cfg.ensemble + k,
                                       trainable=trainable, features=cfg.features, correlators=cfg.correlators,
                                       input_scaling=input_scaling) for k in range(cfg.ensemble)]
        return members[0] if cfg.ensemble == 1 else Ensemble(members)
    if cell.model in CLASSICAL:
        return CLASSICAL[cell.model](1, cfg.hidden_size, seed=cell.seed, trainable=trainable)
    return ESN(1, cfg.esn_size, seed=cell.seed)


def choose_input_scaling(cell: Cell, cfg: StudyConfig, Xtr, ytr) -> float:
    """The input scaling of ``cfg.input_scalings`` whose reservoir + ridge readout forecasts the
    last ``validation_fraction`` of the training windows best (fitted on the rest; test data unseen).
    Ridge is the judge in every mode: it is cheap, and it ranks reservoirs by their features."""
    if len(cfg.input_scalings) == 1 or cell.model not in QUANTUM:
        return cfg.input_scalings[0] if cell.model in QUANTUM else 1.0
    Xa, Xv, ya, yv = chronological_split(Xtr, ytr, 1.0 - cfg.validation_fraction)
    scores = {}
    for scaling in cfg.input_scalings:
        est = ReservoirRegressor(build_model(cell, cfg, scaling, trainable=False), alpha="loo").fit(Xa, ya)
        scores[scaling] = mse(yv, est.predict(Xv))
    return min(scores, key=scores.get)
