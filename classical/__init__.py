"""Alias of :mod:`qrnn.classical`, kept for one release; import from ``qrnn.classical``.

The classical reservoirs live inside the ``qrnn`` package so that the layers
point one way (they build on ``qrnn.reservoir``'s contract) and so that
:func:`qrnn.load` knows every reservoir class without importing anything a
model file names.
"""
import warnings

from qrnn.classical import ESN, GRU, LSTM, RNN

warnings.warn("the top-level 'classical' package is an alias of 'qrnn.classical' and will be removed; "
              "import from qrnn.classical", DeprecationWarning, stacklevel=2)

__all__ = ["RNN", "LSTM", "GRU", "ESN"]
