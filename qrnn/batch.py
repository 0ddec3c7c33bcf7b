"""One validated batch of sequences: checked once where data enters, then passed down as it is.

An estimator's ``fit`` used to check ``X`` for finiteness at its own entry,
again in the reservoir's ``transform``, and to move it between numpy and
torch on each layer's terms. A :class:`SequenceBatch` is made once, at the
entry (:meth:`SequenceBatch.of`), holds the sequences padded into one
float64 array with their lengths, and every layer below trusts it.
"""
from __future__ import annotations

import numpy as np
import torch

from ._validation import as_array, check_batch


class SequenceBatch:
    """Sequences of ``input_size`` values per step, padded to the longest: ``values (B, T, d)`` and ``lengths (B,)``.

    Build one with :meth:`of` (which validates); the constructor itself
    trusts its arguments and is for data already checked.

    Attributes
    ----------
    values : ndarray of shape (B, T_max, input_size)
        float64, C-contiguous and writeable (torch can wrap it without a
        copy); steps past a sequence's length are zero.
    lengths : ndarray of shape (B,)
        Each sequence's number of steps.
    ragged : bool
        Whether it came as a list of sequences (results are then a list too).

    Examples
    --------
    >>> import numpy as np
    >>> b = SequenceBatch.of([np.ones((3, 1)), np.ones((2, 1))], input_size=1)
    >>> b.values.shape, b.lengths.tolist(), b.ragged
    ((2, 3, 1), [3, 2], True)
    >>> [f.shape for f in b.split(np.zeros((2, 3, 4)))]
    [(3, 4), (2, 4)]
    """

    __slots__ = ("values", "lengths", "ragged")

    def __init__(self, values: np.ndarray, lengths=None, ragged: bool = False):
        self.values = np.require(values, np.float64, ["C", "W"])
        B, T = self.values.shape[:2]
        self.lengths = np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(lengths, dtype=np.int64)
        self.ragged = ragged

    @classmethod
    def of(cls, X, input_size: int, name: str = "X") -> "SequenceBatch":
        """Validate ``X``, an array ``(B, T, input_size)`` or a list of ``(T_i, input_size)`` arrays.

        Raises
        ------
        TypeError, ValueError
            A non-numeric, complex, non-finite, empty or wrongly shaped input,
            naming ``name`` (``X[i]`` for a sequence of a list).
        """
        if isinstance(X, SequenceBatch):
            if X.values.shape[2] != input_size:
                raise ValueError(f"{name} must have input_size={input_size} features in its last axis, "
                                 f"got {X.values.shape[2]}")
            return X
        if is_sequence_list(X):
            arrays = [check_batch(as_array(s, f"{name}[{i}]")[None], input_size, f"{name}[{i}]")[0]
                      for i, s in enumerate(X)]
            return cls.padded(arrays, input_size)
        return cls(check_batch(X, input_size, name))

    @classmethod
    def padded(cls, arrays, input_size: int) -> "SequenceBatch":
        """A ragged batch of already checked ``(T_i, input_size)`` arrays."""
        lengths = [len(a) for a in arrays]
        values = np.zeros((len(arrays), max(lengths), input_size))
        for i, a in enumerate(arrays):
            values[i, :len(a)] = a
        return cls(values, lengths, ragged=True)

    def __len__(self) -> int:
        return len(self.lengths)

    def sequences(self) -> list:
        """Each sequence, unpadded (views of :attr:`values`)."""
        return [self.values[i, :L] for i, L in enumerate(self.lengths)]

    def tensor(self, dtype, device) -> torch.Tensor:
        """:attr:`values` as a tensor: no copy for float64 on the CPU."""
        return torch.as_tensor(self.values, dtype=dtype, device=device)

    def split(self, per_step):
        """Per-step results ``(B, T_max, ...)`` as the batch came: the array, or a list cut to each length."""
        if not self.ragged:
            return per_step
        return [per_step[i, :L] for i, L in enumerate(self.lengths)]


def is_sequence_list(X) -> bool:
    """Whether ``X`` is a non-empty list or tuple of 2-D arrays or tensors (a ragged batch)."""
    return isinstance(X, (list, tuple)) and bool(X) and all(
        isinstance(s, (np.ndarray, torch.Tensor)) and s.ndim == 2 for s in X)
