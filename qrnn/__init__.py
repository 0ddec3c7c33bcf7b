"""qrnn: reservoir computing with quantum recurrent neural networks."""
from .backends import AerBackend, Backend, PennyLaneBackend, TorchBackend, get_backend
from .cells import QGRU, QLSTM, QRNN
from .circuit import VQC, init_weights
from .estimator import ReservoirRegressor
from . import classical
from .io import load, save
from .readout import Ridge

__version__ = "0.1.0"

__all__ = [
    "QRNN", "QLSTM", "QGRU", "VQC", "init_weights", "ReservoirRegressor", "Ridge", "load", "save", "classical",
    "Backend", "TorchBackend", "PennyLaneBackend", "AerBackend", "get_backend",
]
