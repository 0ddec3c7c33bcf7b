"""Classical reservoirs on the same contract as the quantum ones.

RNN, LSTM and GRU are torch's own cells (``torch.nn.RNN`` etc., ``tanh``
RNN) with every weight and bias drawn from PyTorch's default initialisation,
``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``, by a numpy generator seeded
with ``seed`` (so the same seed gives the same reservoir on every device), and
frozen. :class:`ESN` is the leaky-tanh echo state network of reservoirpy.
"""
from __future__ import annotations

import numpy as np
import torch

from ._validation import check_bool, check_choice, check_int, check_real, check_seed
from .reservoir import FEATURES, Reservoir, resolve_device, resolve_dtype


class _TorchCellReservoir(Reservoir):
    _module_cls: type = torch.nn.RNN

    def __init__(self, input_size, hidden_size, seed=None, features="output", device="cpu",
                 dtype="float64", trainable=False):
        super().__init__()
        self.input_size = check_int(input_size, "input_size", minimum=1)
        self.hidden_size = check_int(hidden_size, "hidden_size", minimum=1)
        self.seed = check_seed(seed)
        self.features = check_choice(features, "features", FEATURES)
        self.trainable = check_bool(trainable, "trainable")
        self.device_name, self.dtype = device, dtype
        self._device, self._dtype = resolve_device(device), resolve_dtype(dtype)
        self.cell = self._module_cls(self.input_size, self.hidden_size, batch_first=True)
        rng = np.random.default_rng(self.seed)
        k = 1.0 / np.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.cell.parameters():  # fixed order: w_ih, w_hh, b_ih, b_hh
                p.copy_(torch.as_tensor(rng.uniform(-k, k, size=tuple(p.shape))))
        self.cell.to(device=self._device, dtype=self._dtype)
        self.cell.requires_grad_(trainable)

    @property
    def n_features(self) -> int:
        return self.hidden_size

    @classmethod
    def _array_shapes(cls, params: dict) -> dict:
        # torch's layout: the gates' rows stacked (RNN 1, GRU 3, LSTM 4), known before anything is built
        H = check_int(params["hidden_size"], "hidden_size", minimum=1)
        d = check_int(params["input_size"], "input_size", minimum=1)
        G = {torch.nn.RNN: 1, torch.nn.GRU: 3, torch.nn.LSTM: 4}[cls._module_cls] * H
        return {"cell.weight_ih_l0": (G, d), "cell.weight_hh_l0": (G, H), "cell.bias_ih_l0": (G,),
                "cell.bias_hh_l0": (G,)}

    def _reference_tensor(self):
        return self.cell.weight_ih_l0

    def _run(self, x, state=None):
        if state is not None:
            state = _check_state(state, self.cell.weight_hh_l0.shape[1], x.shape[0], 1)[0]
        out, h = self.cell(x, state)
        return out, (h,)


def _check_state(state, width, batch, n):
    if not isinstance(state, tuple) or len(state) != n or any(
            tuple(t.shape) != (1, batch, width) for t in state):
        raise ValueError(f"state does not belong to a batch of {batch} sequences of this reservoir")
    return state


class RNN(_TorchCellReservoir):
    """Elman RNN reservoir, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.

    Examples
    --------
    >>> import numpy as np
    >>> RNN(1, 8, seed=0).transform(np.zeros((2, 5, 1))).shape
    (2, 5, 8)
    """

    _module_cls = torch.nn.RNN


class GRU(_TorchCellReservoir):
    """GRU reservoir with torch's equations (``torch.nn.GRU``); features ``h_t``.

    Examples
    --------
    >>> import numpy as np
    >>> GRU(1, 8, seed=0).transform(np.zeros((2, 5, 1))).shape
    (2, 5, 8)
    """

    _module_cls = torch.nn.GRU


class LSTM(_TorchCellReservoir):
    """LSTM reservoir with torch's equations (``torch.nn.LSTM``).

    Features: ``"output"`` gives ``h_t``; ``"state"`` gives ``(h_t, c_t)``;
    ``"all"`` the same as ``"state"`` (the output of an LSTM is its ``h``).

    Examples
    --------
    >>> import numpy as np
    >>> LSTM(1, 8, seed=0, features="state").transform(np.zeros((2, 5, 1))).shape
    (2, 5, 16)
    """

    _module_cls = torch.nn.LSTM

    @property
    def n_features(self) -> int:
        return self.hidden_size * (1 if self.features == "output" else 2)

    def _run(self, x, state=None):
        H, B = self.hidden_size, x.shape[0]
        if state is not None:
            state = _check_state(state, H, B, 2)
        if self.features == "output":
            out, (h, c) = self.cell(x, state)
            return out, (h, c)
        # torch returns only the last c; run the same equations step by step.
        w_ih, w_hh = self.cell.weight_ih_l0, self.cell.weight_hh_l0
        b = self.cell.bias_ih_l0 + self.cell.bias_hh_l0
        h, c = (x.new_zeros(B, H), x.new_zeros(B, H)) if state is None else (state[0][0], state[1][0])
        pre_x = x @ w_ih.T + b
        out = []
        for t in range(x.shape[1]):
            i, f, g, o = (pre_x[:, t] + h @ w_hh.T).split(H, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            out.append(torch.cat((h, c), dim=1))
        return torch.stack(out, dim=1), (h[None], c[None])


class ESN(Reservoir):
    """Echo state network: a leaky tanh reservoir with a set spectral radius.

    ``s_t = (1 - leak_rate) s_{t-1} + leak_rate tanh(W_in u_t + W s_{t-1} + b)``

    ``W`` has a fraction ``sparsity`` of zero entries, standard normal
    otherwise, and is rescaled to ``spectral_radius`` (largest eigenvalue
    modulus); ``W_in`` is ``U(-input_scaling, input_scaling)``; ``b`` is
    ``U(-bias_scaling, bias_scaling)``. Features are ``s_t``.

    Examples
    --------
    >>> import numpy as np
    >>> esn = ESN(1, 50, spectral_radius=0.9, seed=0)
    >>> esn.transform(np.zeros((1, 10, 1))).shape
    (1, 10, 50)
    """

    def __init__(self, input_size, hidden_size=100, spectral_radius=0.9, input_scaling=1.0,
                 leak_rate=1.0, sparsity=0.9, bias_scaling=0.0, seed=None, device="cpu",
                 dtype="float64"):
        super().__init__()
        self._configure(input_size, hidden_size, spectral_radius, input_scaling, leak_rate, sparsity,
                        bias_scaling, seed, device, dtype)
        rng = np.random.default_rng(self.seed)
        N = self.hidden_size
        W = rng.standard_normal((N, N)) * (rng.random((N, N)) >= self.sparsity)
        radius = np.abs(np.linalg.eigvals(W)).max()
        if radius > 0:
            W *= self.spectral_radius / radius
        W_in = rng.uniform(-input_scaling, input_scaling, size=(N, self.input_size))
        b = rng.uniform(-bias_scaling, bias_scaling, size=N)
        self._set_weights(W, W_in, b)

    def _configure(self, input_size, hidden_size, spectral_radius, input_scaling, leak_rate, sparsity,
                   bias_scaling, seed, device, dtype) -> None:
        """Check and keep the parameters: all the constructor does but draw the weights."""
        self.input_size = check_int(input_size, "input_size", minimum=1)
        self.hidden_size = check_int(hidden_size, "hidden_size", minimum=1)
        check_real(spectral_radius, "spectral_radius", low=0.0)
        check_real(input_scaling, "input_scaling", low=0.0)
        check_real(leak_rate, "leak_rate", low=0.0, high=1.0, low_open=True)  # 0 would freeze the state
        check_real(sparsity, "sparsity", low=0.0, high=1.0, high_open=True)  # 1 removes every weight
        check_real(bias_scaling, "bias_scaling", low=0.0)
        # Stored as given, so that scikit-learn's clone sees its own values back.
        self.spectral_radius, self.input_scaling = spectral_radius, input_scaling
        self.leak_rate, self.sparsity, self.bias_scaling = leak_rate, sparsity, bias_scaling
        self.seed = check_seed(seed)
        self.device_name, self.dtype = device, dtype
        self._device, self._dtype = resolve_device(device), resolve_dtype(dtype)

    def _set_weights(self, W, W_in, b) -> None:
        for name, arr in (("W", W), ("W_in", W_in), ("bias", b)):
            self.register_buffer(name, torch.as_tensor(arr, dtype=self._dtype, device=self._device))

    # -- loading: the file's weights as they are; drawing them anew would rescale W to the spectral
    # radius, an eigenvalue decomposition of O(hidden_size^3) that the file's size alone would set --
    @classmethod
    def _array_shapes(cls, params: dict) -> dict:
        N = check_int(params["hidden_size"], "hidden_size", minimum=1)
        return {"W": (N, N), "W_in": (N, check_int(params["input_size"], "input_size", minimum=1)), "bias": (N,)}

    @classmethod
    def _for_tensors(cls, params: dict) -> "ESN":
        esn = cls.__new__(cls)
        Reservoir.__init__(esn)
        esn._configure(**params)
        N = esn.hidden_size
        esn._set_weights(np.zeros((N, N)), np.zeros((N, esn.input_size)), np.zeros(N))  # loaded next
        return esn

    @property
    def n_features(self) -> int:
        return self.hidden_size

    def _reference_tensor(self):
        return self.W

    def _run(self, x, state=None):
        pre = x @ self.W_in.T + self.bias  # the input drive of every step at once
        if state is None:
            s = x.new_zeros(x.shape[0], self.hidden_size)
        else:
            s = _check_state(state, self.hidden_size, x.shape[0], 1)[0][0]
        a = self.leak_rate
        out = []
        for t in range(x.shape[1]):
            s = (1 - a) * s + a * torch.tanh(pre[:, t] + s @ self.W.T)
            out.append(s)
        return torch.stack(out, dim=1), (s[None],)
