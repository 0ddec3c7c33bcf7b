"""Several reservoirs as one: their features side by side."""
from __future__ import annotations

from functools import partial

import torch

from .reservoir import Reservoir


class Ensemble(Reservoir):
    """Reservoirs that read the same input, their features concatenated.

    Any mix of quantum and classical reservoirs with the same ``input_size``,
    dtype and device. It follows the reservoir contract, so every readout,
    estimator, save/load and parameter search works on it unchanged
    (``set_params(reservoirs=[...])`` replaces the members).

    Parameters
    ----------
    reservoirs : list or tuple of Reservoir
        At least one. The ensemble keeps them as a tuple: changing the list
        afterwards changes nothing.

    Examples
    --------
    >>> import numpy as np
    >>> from qrnn import QLSTM, QRNN, Ensemble
    >>> ens = Ensemble([QRNN(1, 3, seed=0), QLSTM(1, 3, seed=1, init="uniform")])
    >>> ens.n_features, ens.transform(np.zeros((2, 5, 1))).shape
    (7, (2, 5, 7))
    >>> ens.n_circuits  # circuits evaluated per step: 1 + 6
    7
    """

    def __init__(self, reservoirs):
        super().__init__()
        members = list(reservoirs) if isinstance(reservoirs, (list, tuple)) else None
        if not members or not all(isinstance(r, Reservoir) for r in members):
            raise TypeError(f"reservoirs must be a non-empty list of qrnn reservoirs, got {reservoirs!r}")
        first = members[0]
        for i, r in enumerate(members[1:], 1):
            for attr in ("input_size", "_dtype", "device"):
                if getattr(r, attr) != getattr(first, attr):
                    raise ValueError(f"reservoirs[{i}] has {attr.strip('_')}={getattr(r, attr)} but reservoirs[0] "
                                     f"has {getattr(first, attr)}; an ensemble's members must agree")
        # a tuple of them: later edits of the caller's list cannot reach get_params (a tuple is kept
        # as it is, so that scikit-learn's clone finds its own argument back)
        self.reservoirs = tuple(reservoirs)
        self.members = torch.nn.ModuleList(members)
        self.input_size = first.input_size

    @property
    def n_features(self) -> int:
        return sum(r.n_features for r in self.members)

    @property
    def n_circuits(self) -> int:
        """Circuits the members evaluate per step, in all (0 for classical members)."""
        return sum(getattr(r, "n_circuits", 0) for r in self.members)

    @property
    def exact(self) -> bool:
        return all(r.exact for r in self.members)

    @property
    def _dtype(self):
        return self.members[0]._dtype

    @property
    def _device(self) -> torch.device:
        return self.members[0].device

    @property
    def device(self) -> torch.device:
        return self._device

    def _reference_tensor(self):
        return self.members[0]._reference_tensor()

    def _apply(self, fn, *args, **kwargs):
        # each member follows .to() itself (Reservoir._apply); nothing of our own to sync
        return torch.nn.Module._apply(self, fn, *args, **kwargs)

    def _run(self, x, state=None):
        states = (None,) * len(self.members) if state is None else state
        if len(states) != len(self.members):
            raise ValueError(f"state does not belong to this ensemble of {len(self.members)} reservoirs")
        # Members on one backend that pays per call (an IBM device) run in lock step
        # through it: one call per dependent round for all of them, not one each.
        keys = [getattr(r, "_lockstep_key", lambda: None)() for r in self.members]
        outs: list = [None] * len(self.members)
        for i, key in enumerate(keys):
            if outs[i] is not None:
                continue
            together = [j for j, k in enumerate(keys) if key is not None and k is key] or [i]
            if len(together) == 1:
                outs[i] = self.members[i]._run(x, states[i])
                continue
            runs = [partial(self.members[j]._run, x, states[j]) for j in together]
            for j, out in zip(together, key.run_lockstep(runs)):
                outs[j] = out
        return torch.cat([f for f, _ in outs], dim=-1), tuple(s for _, s in outs)

    # -- persistence: the members are children --
    def _to_record(self) -> dict:
        return {"config": {"n": len(self.members)}, "children": {str(i): r for i, r in enumerate(self.members)}}

    @classmethod
    def _from_record(cls, config, arrays, children):
        if set(children) != {str(i) for i in range(config["n"])}:
            raise ValueError(f"an ensemble of {config['n']} members must have children 0..{config['n'] - 1}, "
                             f"got {sorted(children)}")
        return cls([children[str(i)] for i in range(config["n"])])

    def __reduce__(self):
        return type(self), (list(self.members),)
