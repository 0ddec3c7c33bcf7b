"""The study's models by name, built for a cell, and the input scaling chosen for one.

The quantum and classical models are the cells of :data:`qrnn.registry.MODELS`
tagged ``"quantum"`` and ``"classical"``, so a cell of your own registered
with :func:`qrnn.registry.register_model` is a study model by its name (a
quantum one is built as QRNN is: ``cls(d, hidden_size, init=, seed=,
trainable=, features=, correlators=, input_scaling=)``; a classical one as
``cls(d, hidden_size, seed=, trainable=)``, where ``d`` is the task's inputs
per step: 1, or a classification task's sequences' width, so that a quantum
cell on Japanese vowels' 12 coefficients runs on ``12 + hidden_size``
qubits). ``"ESN"`` is the study's echo-state model, ``esn_size`` units wide;
``"ESN-N"`` is one of ``N`` units (a config can name several sizes).

Examples
--------
>>> from experiments.study.models import model_names, quantum_models
>>> quantum_models()
('QRNN', 'QLSTM', 'QGRU')
>>> model_names()[-1]
'ESN'
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from qrnn import Ensemble, ReservoirRegressor
from qrnn.classical import ESN
from qrnn.metrics import mse
from qrnn.registry import MODELS as _REGISTRY
from qrnn.tasks import chronological_split

from .tasks import task_input_size

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
    """Every name ``study.models`` takes: the quantum cells, the classical cells, ``"ESN"`` (and ``"ESN-N"``)."""
    return (*quantum_models(), *classical_models(), "ESN")


_ESN_SIZED = re.compile(r"ESN-([1-9][0-9]{0,5})")


def is_esn(model: str) -> bool:
    """Whether a study model is the echo-state network: ``"ESN"`` (``esn_size`` units) or ``"ESN-N"`` (N units).

    >>> is_esn("ESN"), is_esn("ESN-300"), is_esn("ESN-0"), is_esn("GRU")
    (True, True, False, False)
    """
    return model == "ESN" or bool(_ESN_SIZED.fullmatch(model))


def esn_units(model: str, cfg: StudyConfig) -> int:
    """The units of an ESN study model."""
    match = _ESN_SIZED.fullmatch(model)
    return int(match.group(1)) if match else cfg.esn_size


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
    d = task_input_size(cell.task)
    if is_esn(cell.model):
        return ESN(d, esn_units(cell.model, cfg), seed=cell.seed)
    cls = model_class(cell.model)
    if is_quantum(cell.model):
        # members of an ensemble get seeds of their own, distinct across the cells' seeds
        members = [cls(d, cfg.hidden_size, init=cell.init, seed=cell.seed * cfg.ensemble + k,
                       trainable=trainable, features=cfg.features, correlators=cfg.correlators,
                       input_scaling=input_scaling, **where) for k in range(cfg.ensemble)]
        return members[0] if cfg.ensemble == 1 else Ensemble(members)
    return cls(d, cfg.hidden_size, seed=cell.seed, trainable=trainable)


def best_input_scaling(cell: Cell, cfg: StudyConfig, error, backend=None) -> float:
    """The input scaling of ``cfg.input_scalings`` whose frozen reservoir has the lowest ``error(model)``
    (a quantum model; the others take 1.0, a single scaling is taken as it is)."""
    if len(cfg.input_scalings) == 1 or not is_quantum(cell.model):
        return cfg.input_scalings[0] if is_quantum(cell.model) else 1.0
    scores = {s: error(build_model(cell, cfg, s, trainable=False, backend=backend)) for s in cfg.input_scalings}
    return min(scores, key=scores.get)


def choose_input_scaling(cell: Cell, cfg: StudyConfig, Xtr, ytr, backend=None) -> float:
    """The input scaling of ``cfg.input_scalings`` whose reservoir + ridge readout forecasts the
    last ``validation_fraction`` of the training windows best (fitted on the rest; test data unseen).
    Ridge is the judge in every mode: it is cheap, and it ranks reservoirs by their features."""
    if len(cfg.input_scalings) == 1 or not is_quantum(cell.model):
        return best_input_scaling(cell, cfg, None)
    Xa, Xv, ya, yv = chronological_split(Xtr, ytr, 1.0 - cfg.validation_fraction)
    return best_input_scaling(cell, cfg, lambda model: mse(yv, ReservoirRegressor(model, alpha="loo").fit(Xa, ya)
                                                           .predict(Xv)), backend)


def family(model: str) -> str:
    """A study model's search family: ``"quantum"``, ``"esn"`` or ``"classical"`` (see
    :func:`experiments.study.search.default_spaces`).

    >>> family("QLSTM"), family("ESN-300"), family("GRU")
    ('quantum', 'esn', 'classical')
    """
    return "quantum" if is_quantum(model) else "esn" if is_esn(model) else "classical"


def build_with(cell: Cell, cfg: StudyConfig, params: dict, trainable=None, backend=None):
    """The cell's model with a search's ``params`` in place of the config's values; returns
    ``(model, data_scale)``: a classical cell's input scaling multiplies its inputs (it has no parameter
    for it), everyone else's is inside the model (``data_scale`` 1)."""
    trainable = cell.mode == "trained" if trainable is None else trainable
    d = task_input_size(cell.task)
    kind = family(cell.model)
    if kind == "esn":
        size = params.get("size", esn_units(cell.model, cfg)) if cell.model == "ESN" else esn_units(cell.model, cfg)
        opts = {k: params[k] for k in ("spectral_radius", "input_scaling", "leak_rate", "sparsity") if k in params}
        return ESN(d, size, seed=cell.seed, **opts), 1.0
    hidden = params.get("hidden_size", cfg.hidden_size)
    cls = model_class(cell.model)
    if kind == "classical":
        return cls(d, hidden, seed=cell.seed, trainable=trainable), float(params.get("input_scaling", 1.0))
    where = {} if backend is None else {"backend": backend}
    ensemble = params.get("ensemble", cfg.ensemble)
    # members' seeds in steps of the largest ensemble the search may choose: different cell seeds never
    # share a member, whatever sizes they chose (seed-paired tests assume independent draws)
    stride = max(ensemble, cfg.search.largest_ensemble() if cfg.search is not None else cfg.ensemble)
    members = [cls(d, hidden, init=cell.init, seed=cell.seed * stride + k, trainable=trainable,
                   features=params.get("features", cfg.features),
                   correlators=params.get("correlators", cfg.correlators),
                   input_scaling=params.get("input_scaling", cfg.input_scalings[0]), **where)
               for k in range(ensemble)]
    return (members[0] if ensemble == 1 else Ensemble(members)), 1.0
