"""Quantum recurrent reservoirs: QRNN, QLSTM and QGRU (docs/models.md, section 2).

Each cell holds the angles of its VQCs, drawn once from ``seed``, and asks its
backend to evaluate them; it knows the cell equations, not how circuits run.
VQCs that read the same input at the same step form one group and are
evaluated together (QLSTM: VQC1-4, then VQC5-6; QGRU: VQC1-2, then VQC3).

A new quantum cell is one subclass of :class:`QuantumReservoir` (see its
"Writing a cell" section, and ``docs/extending.md``): its circuit groups and
its step. It then runs on every backend, is saved and loaded once
registered (:func:`qrnn.register_model`), and appears in the study by name.
"""
from __future__ import annotations

import copy
import warnings
from functools import partial

import numpy as np
import torch

from ._validation import check_bool, check_choice, check_int, check_real, check_seed
from .backends import Backend, backend_from_config, get_backend
from .circuit import INITS, VQC, Ansatz, Encoding, init_weights
from .reservoir import FEATURES, Reservoir, resolve_device, resolve_dtype


class QuantumReservoir(Reservoir):
    """Common constructor and weight handling of the quantum cells.

    Parameters
    ----------
    input_size : int
        Width of each input vector ``x_t``.
    hidden_size : int
        Width of the hidden state; the circuits have ``input_size + hidden_size`` qubits.
    n_layers : int, optional
        Layers of the paper's ansatz per VQC (2 when not given); not given
        with ``ansatz``.
    init : {"normal", "uniform"}, default "normal"
        ``0.01 * N(0, 1)`` angles (the paper author's code) or ``U(0, 2 pi)``.
    seed : int, optional
        Seed of the angles (and of shot sampling). The same seed gives the same
        reservoir on every backend and device.
    backend : str or Backend, default "torch"
        ``"torch"``, ``"pennylane"``, ``"pennylane:<device>"``, ``"aer"`` or a
        configured :class:`~qrnn.backends.Backend`.
    shots : int, optional
        Shots per circuit evaluation for shot-based backends (``"torch"``,
        ``"aer"``, ``"ibm:<device>"``), seeded by ``seed``.
    features : {"output", "state", "all"}, default "output"
        ``"output"``: the input of the paper's final linear layer;
        ``"state"``: the full recurrent state; ``"all"``: both, concatenated.
    correlators : bool, default False
        Append the two-qubit correlators ``<Z_i Z_j>`` (``i < j``, all wires)
        of the circuit that feeds the readout at each step (QRNN: its VQC;
        QLSTM: VQC6; QGRU: VQC3) to the features. They cost almost nothing
        on a simulator and come from the same shots on hardware.
    device : str, default "cpu"
        Torch device of the weights and of the computation (``"cuda"`` for GPU).
    dtype : {"float64", "float32"}, default "float64"
        Real precision; the state vector is complex128 or complex64 accordingly.
    trainable : bool, default False
        False freezes the angles (reservoir mode, stored as buffers); True makes
        them parameters for end-to-end training (needs ``backend="torch"``).
    use_torch_compile : bool, default False
        Compile one cell step with ``torch.compile`` (frozen reservoirs on the
        torch backend). It fuses the step's elementwise work into generated
        C++, for a higher throughput of the step-by-step path (figures:
        ``benchmarks/RESULTS.md``, "QLSTM reservoir throughput, 4 qubits"),
        after a one-time compilation per input shape. Without a working
        compiler it falls back to the uncompiled step with a warning.
    input_scaling : float, default 1.0
        A factor applied to every input ``x_t`` before it is encoded (the
        paper encodes ``x_t`` as it is, factor 1). Other factors move the
        inputs along the ``arctan`` encoding's slope, a classic reservoir
        setting; choose it on a validation split.
    compile : bool, optional
        Deprecated name of ``use_torch_compile`` (it hid
        :meth:`torch.nn.Module.compile`); accepted with a
        ``DeprecationWarning`` for one release.
    ansatz : Ansatz or qiskit.QuantumCircuit, optional
        The variational part of every circuit of the cell, on
        ``input_size + hidden_size`` wires; default the paper's
        (``n_layers`` layers). A Qiskit circuit's free ``Parameter`` objects
        are its weights, in its ``parameters`` order (converted once, here,
        by :meth:`Ansatz.from_qiskit`); ``n_layers`` is then left unset.
    encoding : {"paper", "angle"} or Encoding, default "paper"
        How each circuit encodes its inputs: the paper's ``H``,
        ``RY(arctan v)``, ``RZ(arctan v**2)``, or ``RY(scaling * v)``
        (``Encoding("angle", scaling=...)``).

    Notes
    -----
    A frozen reservoir compiles its circuits once and keeps them for later
    calls. They are rebuilt whenever the weights differ from those they were
    built from (``load_state_dict``, an in-place edit, ``.to()``), on a
    different device or dtype, or with another backend: the check compares
    the weights' values once per call, so no edit can leave stale circuits.

    Writing a cell
    --------------
    A subclass sets ``n_circuits`` (its VQCs) and ``groups``: one
    ``(first, stop, readout)`` per group of VQCs ``first..stop-1`` that read
    the same input at a step, in the order the step calls them
    (``readout=True`` marks the group that also measures the correlators).
    Its :meth:`make_step` receives one callable per group, each mapping
    inputs ``(input_size + hidden_size, B)`` to ``(K, n_outputs, B)``
    (batch last), and returns ``step(x_t, state) -> (features, state)``. A
    cell whose state or features are not one ``hidden_size`` vector
    overrides ``state_widths`` and ``n_features``. A cell whose every
    circuit input is ``x_t`` or within [-1, 1] may set
    ``circuit_inputs_bounded = True`` to skip capping them. Backends may run the
    whole recurrence faster (:meth:`Backend.run_recurrence`); a new cell
    always has the general path.
    """

    n_circuits: int = 0
    # 'compile' is only the deprecated alias: get_params reports it as None.
    _param_attrs = {**Reservoir._param_attrs, "compile": "_compile_alias"}
    _compile_alias = None

    def __init__(self, input_size, hidden_size, n_layers=None, init="normal", seed=None,
                 backend="torch", shots=None, features="output", correlators=False, device="cpu",
                 dtype="float64", trainable=False, use_torch_compile=False, input_scaling=1.0, compile=None,
                 ansatz=None, encoding="paper"):
        super().__init__()
        self.input_size = check_int(input_size, "input_size", minimum=1)
        self.hidden_size = check_int(hidden_size, "hidden_size", minimum=1)
        self.n_layers = None if n_layers is None else check_int(n_layers, "n_layers", minimum=1)
        self.ansatz, self.encoding = ansatz, encoding  # as given (get_params, clone)
        circuit = _as_ansatz(ansatz, self.input_size + self.hidden_size)
        if circuit is not None and n_layers is not None:
            raise ValueError("n_layers sets the depth of the paper's ansatz; leave it unset with ansatz=")
        self.init = check_choice(init, "init", INITS)
        self.seed = check_seed(seed)
        self.features = check_choice(features, "features", FEATURES)
        self.trainable = check_bool(trainable, "trainable")
        if compile is not None:
            warnings.warn("the 'compile' argument is renamed 'use_torch_compile' (it hid nn.Module.compile()); "
                          "'compile' will be removed in the next release", DeprecationWarning, stacklevel=2)
            use_torch_compile = compile
        self.use_torch_compile = check_bool(use_torch_compile, "use_torch_compile")
        self.correlators = check_bool(correlators, "correlators")
        check_real(input_scaling, "input_scaling", low=0.0, low_open=True)
        self.input_scaling = input_scaling  # as given, so that clone() sees its own value
        self.backend, self.shots, self.device_name, self.dtype = backend, shots, device, dtype
        self._backend = get_backend(backend, shots=shots, seed=self.seed)
        self._check_backend(self._backend, backend)
        self._device = resolve_device(device)
        self._dtype = resolve_dtype(dtype)
        self.vqc = VQC(self.input_size + self.hidden_size, n_layers, ansatz=circuit, encoding=Encoding.of(encoding))
        # The readout group also measures the correlators, when asked for.
        self._readout_vqc = self.vqc.with_correlators(correlators)
        self._clear_cache()
        w = torch.as_tensor(init_weights(self.n_circuits, self.vqc, self.init, self.seed),
                            dtype=self._dtype, device=self._device)
        if trainable:
            self.weights = torch.nn.Parameter(w)
        else:
            self.register_buffer("weights", w)

    def _check_backend(self, be: Backend, given) -> None:
        if self.trainable and not be.differentiable:
            raise ValueError(f"trainable=True needs a differentiable backend ('torch', without shots), got {given!r}")
        if self.use_torch_compile and (self.trainable or be.name != "torch" or not be.exact):
            raise ValueError("use_torch_compile=True is for frozen reservoirs (trainable=False) on the exact "
                             f"torch backend (no shots or noise), got trainable={self.trainable}, backend={given!r}")

    def _use_backend(self, be: Backend) -> None:
        """Run on ``be`` from now on, keeping the weights (see :func:`on_backend`)."""
        self._check_backend(be, be)
        self.backend, self.shots, self._backend = be, None, be
        self._clear_cache()

    def _lockstep_key(self):
        return self._backend.lockstep_key()

    @property
    def n_qubits(self) -> int:
        return self.vqc.n_qubits

    @property
    def exact(self) -> bool:
        """Whether the backend computes exact, noiseless expectation values (False with shots or device noise)."""
        return bool(self._backend.exact)

    def _config_params(self) -> dict:
        params = self.get_params()
        if isinstance(params["backend"], Backend):
            params["backend"] = {"__backend__": params["backend"].to_config()}
        if params.get("ansatz") is not None:  # a Qiskit circuit is saved as the ansatz it was converted to
            params["ansatz"] = {"__ansatz__": self.vqc.ansatz.to_config()}
        if isinstance(params.get("encoding"), Encoding):
            params["encoding"] = {"__encoding__": params["encoding"].to_config()}
        return params

    @classmethod
    def _params_from_config(cls, params: dict) -> dict:
        params = dict(params)
        if isinstance(params.get("backend"), dict):
            params["backend"] = backend_from_config(params["backend"]["__backend__"])
        for key, tag, build in (("ansatz", "__ansatz__", Ansatz.from_config),
                                ("encoding", "__encoding__", Encoding.from_config)):
            value = params.get(key)
            if isinstance(value, dict):
                if set(value) != {tag}:
                    raise ValueError(f"not a saved {key}: keys {sorted(value)}")
                params[key] = build(value[tag])
        return params

    def _reference_tensor(self):
        return self.weights

    @property
    def n_correlators(self) -> int:
        n = self.vqc.n_qubits
        return n * (n - 1) // 2 if self.correlators else 0

    # QRNN and QGRU: features and state are the hidden vector; QLSTM overrides.
    @property
    def n_features(self) -> int:
        return self.hidden_size + self.n_correlators

    def state_widths(self):
        """Widths of the state tensors, in order (QRNN, QGRU: ``(hidden_size,)``)."""
        return (self.hidden_size,)

    def circuit_weights(self) -> list[np.ndarray]:
        """Angles of every VQC in the order of docs/models.md, each of the ansatz's ``weight_shape``.

        For the paper's ansatz, ``(n_layers, n_qubits, 3)``: ``[l, q]`` holds
        ``(a, b, c)`` of ``Rot(a, b, c) = RZ(c) RY(b) RZ(a)`` on wire ``q`` in
        layer ``l``. For another, ``(n_weights,)``; for one converted from
        Qiskit, in the circuit's ``parameters`` order.
        """
        w = self.weights.detach().cpu().numpy().astype(np.float64)
        return [w[k].copy() for k in range(self.n_circuits)]

    def circuit(self, i: int) -> VQC:
        """The circuit description of group ``i`` of :attr:`groups`."""
        return self._readout_vqc if self.groups[i][2] else self.vqc

    def group(self, i: int):
        """The backend's compiled group ``i`` of :attr:`groups` (kept while the weights are frozen)."""
        first, stop, readout = self.groups[i]
        w = self.weights
        vqc = self.circuit(i)
        if self.trainable and w.requires_grad:
            return self._backend.compile(vqc, w[first:stop])
        key = ("group", i)
        if key not in self._compiled:
            self._compiled[key] = self._backend.compile(vqc, w[first:stop])
        return self._compiled[key]

    def cached(self, key, build):
        """``build()``, kept with the compiled circuits (dropped with them when the weights change)."""
        if key not in self._compiled:
            self._compiled[key] = build()
        return self._compiled[key]

    def _clear_cache(self):
        self._compiled = {}
        self._compiled_step = None
        self._cache_source = None

    def _validate_cache(self):
        """Drop compiled circuits unless built from exactly the current weights and backend.

        Comparing values (a few hundred numbers, once per call) rather than
        torch's version counter catches every way of changing them:
        ``load_state_dict``, ``.data`` edits, ``.to()``, ``set_params``.
        """
        w = self.weights.detach()
        src = self._cache_source
        if (src is None or src[1] is not self._backend or src[0].device != w.device
                or src[0].dtype != w.dtype or src[0].shape != w.shape or not torch.equal(src[0], w)):
            self._clear_cache()
            self._cache_source = (w.clone(), self._backend)

    def _run(self, x, state=None):
        # The recurrence runs batch-last, (width, B), matching the backends'
        # column layout, so that each step's elementwise work is contiguous.
        cap = self.vqc.encoding.input_cap(x.dtype)
        if self.input_scaling != 1:
            x = x * self.input_scaling
        if cap is not None:
            x = x.clamp(-cap, cap)  # capping changes no angle
        B = x.shape[0]
        if state is None:
            state = tuple(x.new_zeros(w, B) for w in self.state_widths())
        elif not isinstance(state, tuple) or [tuple(t.shape) for t in state] != [(w, B) for w in self.state_widths()]:
            raise ValueError(f"state does not belong to a batch of {B} sequences of this {type(self).__name__}")
        if not (torch.is_grad_enabled() and self.weights.requires_grad):  # training compiles afresh, caches nothing
            self._validate_cache()  # a trainable cell's no-grad predictions (stream kernels) are cached too
        done = self._backend.run_recurrence(self, x, state)  # batch first, as given: a kernel reads it in place
        if done is not None:
            return done
        xs = x.permute(1, 2, 0).contiguous()  # (T, input_size, B)
        step = self._step()
        out = []
        for xt in xs:
            feat, state = step(xt, state)
            out.append(feat)
        return torch.stack(out).permute(2, 0, 1).contiguous(), state  # (B, T, features)

    #: (first, stop, readout) of each group of VQCs a step calls, in order (see "Writing a cell").
    groups: tuple = ()

    def make_step(self, circuits):
        """The cell's step ``(x_t (input_size, B), state) -> (features, state)``, given one callable
        per group of :attr:`groups` (inputs ``(n_inputs, B)`` to ``(K, n_outputs, B)``)."""
        raise NotImplementedError(f"{type(self).__name__} must define make_step (see QuantumReservoir)")

    #: Whether every value the step feeds a circuit is the (capped) input ``x_t`` or lies in [-1, 1], so that
    #: the circuits may skip capping it (a tanh, a sigmoid product, an expectation value). False, the safe
    #: default, caps every circuit input; the built-in cells set it.
    circuit_inputs_bounded: bool = False

    def _make_step(self):
        # read where make_step is defined: a subclass that writes its own step caps unless it says otherwise
        owner = next(c for c in type(self).__mro__ if "make_step" in c.__dict__)
        bounded = bool(owner.__dict__.get("circuit_inputs_bounded", False))
        return self.make_step([partial(self.group(i).columns, bounded=bounded) for i in range(len(self.groups))])

    def _step(self):
        """The cell's step ``(x_t (input_size, B), state) -> (features, state)``."""
        if not self.use_torch_compile:
            return self._make_step()
        # The compiled step closes over the compiled circuits, so it shares
        # their lifetime (_validate_cache drops both).
        if self._compiled_step is None:
            self._compiled_step = _CompiledStep(self._make_step())
        return self._compiled_step


def _as_ansatz(ansatz, n_qubits: int):
    """``ansatz=`` as an :class:`Ansatz` on ``n_qubits`` wires (a Qiskit circuit converted), or None."""
    if ansatz is None:
        return None
    if not isinstance(ansatz, Ansatz):
        if type(ansatz).__name__ != "QuantumCircuit":
            raise TypeError(f"ansatz must be a qrnn.circuit.Ansatz or a qiskit QuantumCircuit, got "
                            f"{type(ansatz).__name__}")
        ansatz = Ansatz.from_qiskit(ansatz)
    if ansatz.n_qubits != n_qubits:
        raise ValueError(f"ansatz has {ansatz.n_qubits} qubits; this cell's circuits have input_size + hidden_size "
                         f"= {n_qubits}")
    return ansatz


def on_backend(reservoir: Reservoir, backend) -> Reservoir:
    """A copy of ``reservoir`` whose every quantum cell, ensemble members included, runs on ``backend``.

    The weights are kept as they are (drawn, trained or loaded); classical
    reservoirs are copied unchanged. The original is not touched.

    Parameters
    ----------
    reservoir : Reservoir
        Any reservoir: a quantum cell, a classical one, an :class:`~qrnn.Ensemble`.
    backend : str or Backend
        A backend name or object, as the cells' ``backend=`` takes it. Every
        copied cell shares the one resolved backend object.

    Raises
    ------
    TypeError
        ``reservoir`` is not a qrnn reservoir.
    ValueError
        A cell cannot run there (``trainable=True`` on a backend without
        gradients, ``use_torch_compile=True`` off the torch engine), or an
        unknown backend name.

    Examples
    --------
    >>> import numpy as np
    >>> from qrnn import QRNN, Ensemble
    >>> ens = Ensemble([QRNN(1, 2, seed=0), QRNN(1, 2, seed=1)])
    >>> moved = on_backend(ens, "pennylane")
    >>> [m.backend.name for m in moved.members], ens.members[0].backend
    (['pennylane:default.qubit', 'pennylane:default.qubit'], 'torch')
    >>> bool(np.allclose(moved.transform(np.ones((2, 3, 1))), ens.transform(np.ones((2, 3, 1))), atol=1e-10))
    True
    """
    if not isinstance(reservoir, Reservoir):
        raise TypeError(f"reservoir must be a qrnn reservoir, got {type(reservoir).__name__}")
    be = get_backend(backend)
    out = copy.deepcopy(reservoir)
    for module in out.modules():
        if isinstance(module, QuantumReservoir):
            module._use_backend(be)
    return out


class _CompiledStep:
    """A cell step under ``torch.compile``, falling back to the plain step if compilation fails."""

    def __init__(self, step):
        self.plain = step
        self.fn = torch.compile(step, dynamic=None)

    def __call__(self, x, state):
        if self.fn is self.plain:
            return self.plain(x, state)
        try:
            return self.fn(x, state)
        except Exception as exc:  # no C++ compiler, unsupported device, ...
            warnings.warn(f"torch.compile of the cell step failed ({type(exc).__name__}: {exc}); "
                          "running uncompiled", RuntimeWarning, stacklevel=3)
            self.fn = self.plain
            return self.plain(x, state)


class QRNN(QuantumReservoir):
    """Quantum RNN reservoir: ``h_t = tanh(VQC(concat(x_t, h_{t-1})))[:hidden_size]``.

    Features: ``h_t`` (``hidden_size`` values) for every option of ``features``.

    Examples
    --------
    >>> import numpy as np
    >>> res = QRNN(input_size=1, hidden_size=3, seed=0)
    >>> res.transform(np.zeros((2, 5, 1))).shape
    (2, 5, 3)
    """

    n_circuits = 1
    groups = ((0, 1, True),)
    circuit_inputs_bounded = True  # x_t capped by _run; the rest are tanh, sigmoid products, <Z>

    def make_step(self, circuits):
        (vqc,) = circuits
        H, n, corr = self.hidden_size, self.n_qubits, self.correlators

        def step(x, state):
            out = vqc(torch.cat((x, state[0])))[0]
            h = torch.tanh(out[:H])
            return (torch.cat((h, out[n:])) if corr else h), (h,)

        return step


class QLSTM(QuantumReservoir):
    """Quantum LSTM reservoir (six VQCs).

    ``f, i, o = sigma(VQC1, VQC2, VQC4 (v_t))``, ``g = tanh(VQC3(v_t))``,
    ``c_t = f c_{t-1} + i g`` (width ``n_qubits``), ``a_t = o tanh(c_t)``,
    ``h_t = VQC5(a_t)[:hidden_size]``, output ``VQC6(a_t)`` (all wires).

    Features: ``"output"`` gives ``VQC6(a_t)`` (``n_qubits`` values),
    ``"state"`` gives ``(h_t, c_t)``, ``"all"`` gives ``(VQC6(a_t), h_t, c_t)``.

    Examples
    --------
    >>> import numpy as np
    >>> res = QLSTM(input_size=1, hidden_size=3, seed=0)
    >>> res.transform(np.zeros((2, 5, 1))).shape
    (2, 5, 4)
    >>> [w.shape for w in res.circuit_weights()][:2]
    [(2, 4, 3), (2, 4, 3)]
    """

    n_circuits = 6
    groups = ((0, 4, False), (4, 6, True))
    circuit_inputs_bounded = True  # x_t capped by _run; the rest are tanh, sigmoid products, <Z>

    @property
    def n_features(self) -> int:
        n, H = self.n_qubits, self.hidden_size
        return {"output": n, "state": H + n, "all": 2 * n + H}[self.features] + self.n_correlators

    def state_widths(self):
        return (self.hidden_size, self.n_qubits)

    def make_step(self, circuits):
        gates, heads = circuits
        H, n, features, corr = self.hidden_size, self.n_qubits, self.features, self.correlators

        def step(x, state):
            h, c = state
            z = gates(torch.cat((x, h)))
            f, i, _, o = torch.sigmoid(z)  # one call for the three sigmoid gates
            c = f * c + i * torch.tanh(z[2])
            h_full, y_full = heads(o * torch.tanh(c))
            h, y = h_full[:H], y_full[:n]
            if features == "output" and not corr:
                return y, (h, c)  # the paper's readout: no copy
            parts = {"output": (y,), "state": (h, c), "all": (y, h, c)}[features]
            return torch.cat(parts + ((y_full[n:],) if corr else ())), (h, c)

        return step


class QGRU(QuantumReservoir):
    """Quantum GRU reservoir (three VQCs).

    ``r, z = sigma(VQC1, VQC2 (v_t))[:hidden_size]``,
    ``H~_t = tanh(VQC3(concat(x_t, r H_{t-1})))[:hidden_size]``,
    ``H_t = z H_{t-1} + (1 - z) H~_t``.

    Features: ``H_t`` (``hidden_size`` values) for every option of ``features``.

    Examples
    --------
    >>> import numpy as np
    >>> res = QGRU(input_size=1, hidden_size=3, seed=0)
    >>> res.transform(np.zeros((2, 5, 1))).shape
    (2, 5, 3)
    """

    n_circuits = 3
    groups = ((0, 2, False), (2, 3, True))
    circuit_inputs_bounded = True  # x_t capped by _run; the rest are tanh, sigmoid products, <Z>

    def make_step(self, circuits):
        gates, cand = circuits
        Hs, n, corr = self.hidden_size, self.n_qubits, self.correlators

        def step(x, state):
            (H,) = state
            r, z = torch.sigmoid(gates(torch.cat((x, H)))[:, :Hs])
            out = cand(torch.cat((x, r * H)))[0]
            H = z * H + (1 - z) * torch.tanh(out[:Hs])
            return (torch.cat((H, out[n:])) if corr else H), (H,)

        return step
