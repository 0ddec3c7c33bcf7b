"""qrnn: reservoir computing with quantum recurrent neural networks.

``import qrnn`` costs little more than ``import torch`` (``benchmarks/RESULTS.md``,
"Import time"): scikit-learn, slow to import, is loaded on first use of the estimators,
and PennyLane and Qiskit only when a backend that needs them is built.
"""
from __future__ import annotations

import importlib

from . import classical
from ._optional import MissingExtraError
from .backends import AerBackend, Backend, PennyLaneBackend, TorchBackend, get_backend
from .cells import QGRU, QLSTM, QRNN
from .circuit import VQC, Ansatz, Encoding, Weight, init_weights
from .ensemble import Ensemble
from .io import load, save
from .readout import Ridge
from .recommended import recommended_reservoir
from .registry import MODELS, register_model

__version__ = "0.1.0"

# Public names whose modules are imported on first access (PEP 562).
_LAZY = {"ReservoirRegressor": "qrnn.estimator", "TrainedRegressor": "qrnn.trainer",
         "ReservoirClassifier": "qrnn.classifier", "TrainedClassifier": "qrnn.classifier", "plan_shots": "qrnn.plan",
         "ShotPlan": "qrnn.plan"}

__all__ = [
    "QRNN", "QLSTM", "QGRU", "Ensemble", "recommended_reservoir", "register_model", "MODELS", "VQC", "Ansatz", "Weight", "Encoding", "init_weights", "ReservoirRegressor", "TrainedRegressor", "ReservoirClassifier", "TrainedClassifier", "plan_shots", "ShotPlan", "Ridge", "load", "save", "classical",
    "Backend", "TorchBackend", "PennyLaneBackend", "AerBackend", "get_backend", "MissingExtraError",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later accesses skip this hook
        return value
    if name == "datasets":  # a submodule, imported on first access (importing it sets the attribute)
        return importlib.import_module("qrnn.datasets")
    raise AttributeError(f"module 'qrnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | {"datasets"})
