"""The study's models by name, built for a cell, and the input scaling chosen for one.

The quantum and classical models are the cells of :data:`qrnn.registry.MODELS`
tagged ``"quantum"`` and ``"classical"``, so a cell of your own registered
with :func:`qrnn.registry.register_model` is a study model by its name (a
quantum one is built as QRNN is: ``cls(1, hidden_size, init=, seed=,
trainable=, features=, correlators=, input_scaling=)``; a classical one as
``cls(1, hidden_size, seed=, trainable=)``). ``"ESN"`` is the study's
echo-state model, ``esn_size`` units wide.

Examples
--------
>>> from experiments.study.models import model_names, quantum_models
>>> quantum_models()
('QRNN', 'QLSTM', 'QGRU')
>>> model_names()[-1]
'ESN'
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from qrnn import Ensemble, ReservoirRegressor
from qrnn.classical import ESN
from qrnn.metrics import mse
from qrnn.registry import MODELS as _REGISTRY
from qrnn.tasks import chronological_split

if TYPE_CHECKING:  # config and grid import this module
    from .config import StudyConfig
    from .grid import Cell


def quantum_models() -> tuple:
    """The registered quantum cells' names."""
    return _REGISTRY.names(tag="quantum")


def classical_models() -> tuple:
    """The registered classical cells' names."""
    return _REGISTRY.names(tag="classical")


def model_names() -> tuple:
    """Every name ``study.models`` takes: the quantum cells, the classical cells, ``"ESN"``."""
    return (*quantum_models(), *classical_models(), "ESN")


def is_quantum(model: str) -> bool:
    """Whether a study model is a registered quantum cell (its cells run every init of the config).

    >>> is_quantum("QGRU"), is_quantum("GRU"), is_quantum("ESN")
    (True, False, False)
    """
    return model in _REGISTRY and "quantum" in _REGISTRY.entry(model).tags


def model_class(model: str):
    """The cell class of a quantum or classical study model."""
    return _REGISTRY[model]


def build_model(cell: Cell, cfg: StudyConfig, input_scaling: float = 1.0, trainable=None, backend=None):
    """The cell's model; ``backend`` (quantum models: a device condition's torch engine) or the default."""
    trainable = cell.mode == "trained" if trainable is None else trainable
    where = {} if backend is None else {"backend": backend}
    if cell.model == "ESN":
        return ESN(1, cfg.esn_size, seed=cell.seed)
    cls = model_class(cell.model)
    if is_quantum(cell.model):
        # members of an ensemble get seeds of their own, distinct across the cells' seeds
        members = [cls(1, cfg.hidden_size, init=cell.init, seed=cell.seed * cfg.ensemble + k,
                       trainable=trainable, features=cfg.features, correlators=cfg.correlators,
                       input_scaling=input_scaling, **where) for k in range(cfg.ensemble)]
        return members[0] if cfg.ensemble == 1 else Ensemble(members)
    return cls(1, cfg.hidden_size, seed=cell.seed, trainable=trainable)


def choose_input_scaling(cell: Cell, cfg: StudyConfig, Xtr, ytr, backend=None) -> float:
    """The input scaling of ``cfg.input_scalings`` whose reservoir + ridge readout forecasts the
    last ``validation_fraction`` of the training windows best (fitted on the rest; test data unseen).
    Ridge is the judge in every mode: it is cheap, and it ranks reservoirs by their features."""
    if len(cfg.input_scalings) == 1 or not is_quantum(cell.model):
        return cfg.input_scalings[0] if is_quantum(cell.model) else 1.0
    Xa, Xv, ya, yv = chronological_split(Xtr, ytr, 1.0 - cfg.validation_fraction)
    scores = {}
    for scaling in cfg.input_scalings:
        est = ReservoirRegressor(build_model(cell, cfg, scaling, trainable=False, backend=backend),
                                 alpha="loo").fit(Xa, ya)
        scores[scaling] = mse(yv, est.predict(Xv))
    return min(scores, key=scores.get)
