"""Classical reservoirs (RNN, LSTM, GRU, ESN) on the qrnn reservoir contract."""
from .cells import ESN, GRU, LSTM, RNN

__all__ = ["RNN", "LSTM", "GRU", "ESN"]
