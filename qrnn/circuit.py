"""The one description of a variational quantum circuit (docs/models.md, section 1).

Every backend renders :class:`VQC` from its :meth:`VQC.ops` list; nothing else
in the package knows the gate order. A circuit is

1. an :class:`Encoding` of the inputs on the first ``n_inputs`` wires; the
   paper's (default) is ``H``, ``RY(arctan x_i)``, ``RZ(arctan x_i**2)``
   (wires without input stay in ``|0>``),
2. an :class:`Ansatz`, its variational part; the paper's (default) is
   ``n_layers`` layers of a CNOT ring at distance 1, a CNOT ring at
   distance 2, then ``Rot(a, b, c) = RZ(c) RY(b) RZ(a)`` on every wire. Any
   other can be given, in qrnn's own terms or converted from a Qiskit
   ``QuantumCircuit`` (:meth:`Ansatz.from_qiskit`),
3. ``<Z_k>`` measured on every wire (cells keep the wires they need).

The gates a circuit may hold are the entries of :data:`GATES`. Wire 0 is the
most significant bit of a basis index (PennyLane's order).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._validation import check_bool, check_choice, check_int, check_real, check_seed
from .registry import Registry

INITS = ("normal", "uniform")
# |x| beyond which arctan(x) is pi/2 to the dtype's precision, and below which (x**2)**2 is finite.
# Its keys are the precisions circuits compute in (half precision cannot hold these caps).
_INPUT_CAPS = {torch.float64: 1e18, torch.float32: 1e9}
COMPUTE_DTYPES = tuple(_INPUT_CAPS)
_MAX_FILE_WEIGHTS = 2**20


@dataclass(frozen=True)
class Gate:
    """What the package knows of one gate: its wires, its angle, its names elsewhere.

    ``kind`` says how the torch engine applies it: ``"fixed"`` (a constant
    one-wire matrix), ``"rotation"`` (``exp(-i theta P / 2)`` on one wire),
    ``"permutation"`` (a two-wire basis permutation), ``"diagonal"`` (a
    two-wire diagonal, ``phases`` giving ``-1/2`` times the generator's
    eigenvalue on ``|00>, |01>, |10>, |11>``, or, with no angle, the fixed
    signs).
    """

    name: str
    n_wires: int
    n_params: int
    kind: str
    qiskit: str
    pennylane: str
    phases: tuple = ()


#: The gates a circuit description may hold, by qrnn's name.
GATES = Registry("gate")
for _g in (
    Gate("H", 1, 0, "fixed", "h", "Hadamard"),
    Gate("RX", 1, 1, "rotation", "rx", "RX"),
    Gate("RY", 1, 1, "rotation", "ry", "RY"),
    Gate("RZ", 1, 1, "rotation", "rz", "RZ"),
    Gate("CNOT", 2, 0, "permutation", "cx", "CNOT"),
    Gate("SWAP", 2, 0, "permutation", "swap", "SWAP"),
    Gate("CZ", 2, 0, "diagonal", "cz", "CZ", phases=(1.0, 1.0, 1.0, -1.0)),
    # CRZ(t) = diag(1, 1, e^{-it/2}, e^{it/2}); RZZ(t) = exp(-i t Z Z / 2)
    Gate("CRZ", 2, 1, "diagonal", "crz", "CRZ", phases=(0.0, 0.0, -0.5, 0.5)),
    Gate("RZZ", 2, 1, "diagonal", "rzz", "IsingZZ", phases=(-0.5, 0.5, 0.5, -0.5)),
):
    GATES.register(_g.name, _g)
del _g


@dataclass(frozen=True)
class Op:
    """One gate, or one gate on each of several wires.

    ``name`` is a :data:`GATES` name. One-wire gates: ``wires`` holds the
    wires, one gate on each. Two-wire gates: ``wires`` holds ``(a, b)``
    pairs (``(control, target)``), applied in order. ``params`` holds, per
    gate, where its angle comes from: ``("x", j)`` is column ``j`` of
    :meth:`VQC.input_angles`, ``("w", j)`` entry ``j`` of the circuit's
    flattened weights, ``("c", j)`` entry ``j`` of :attr:`Ansatz.constants`.
    """

    name: str
    wires: tuple
    params: tuple | None = None


@dataclass(frozen=True)
class Weight:
    """The angle of a gate in an :class:`Ansatz`: weight number ``index`` of the circuit.

    >>> Weight(3)
    Weight(index=3)
    """

    index: int


class Ansatz:
    """The variational part of a circuit: gates whose angles are weights or constants.

    Parameters
    ----------
    n_qubits : int
        Number of wires.
    gates : sequence of tuples
        ``(name, wires)`` for gates without an angle and
        ``(name, wires, angle)`` for the others, in application order.
        ``name`` is a :data:`GATES` name (``"H"``, ``"RX"``, ``"RY"``,
        ``"RZ"``, ``"CNOT"``, ``"CZ"``, ``"CRZ"``, ``"RZZ"``, ``"SWAP"``);
        ``wires`` an int or a tuple of ints (``(control, target)``); ``angle``
        a :class:`Weight` (a weight of the circuit, drawn by the cell's
        ``init`` or trained) or a real number (a constant).
    n_weights : int, optional
        Number of weights; defaults to one more than the largest
        :class:`Weight` index (every index below it must be used).
    weight_names : sequence of str, optional
        A name per weight (a converted Qiskit circuit keeps its parameters').

    Notes
    -----
    A circuit's identity is its gates, not its size: two ansatze are equal
    exactly when they hold the same gates with the same angles, and every
    cache of compiled circuits is keyed on it.

    Examples
    --------
    A hand-made ansatz on two wires, with two weights and a constant:

    >>> a = Ansatz(2, [("RX", 0, Weight(0)), ("CZ", (0, 1)), ("RX", 1, Weight(1)), ("RY", 0, 0.5)])
    >>> a.n_weights, a.weight_shape, a.constants.tolist()
    (2, (2,), [0.5])
    >>> [op.name for op in a.ops]
    ['RX', 'CZ', 'RX', 'RY']
    """

    def __init__(self, n_qubits: int, gates, n_weights: int | None = None, weight_names=None):
        self.n_qubits = check_int(n_qubits, "n_qubits", minimum=1)
        ops, constants, used = [], [], set()
        for i, gate in enumerate(gates):
            ops.append(self._op(i, gate, constants, used))
        top = max(used) + 1 if used else 0
        self.n_weights = top if n_weights is None else check_int(n_weights, "n_weights", minimum=top)
        if n_weights is None and used != set(range(top)):
            raise ValueError(f"gates: weights {sorted(set(range(top)) - used)} are never used; number the "
                             "weights 0, 1, ... or pass n_weights")
        self.ops = tuple(ops)
        self.constants = np.array(constants, dtype=np.float64)
        self.constants.flags.writeable = False
        self._shape = (self.n_weights,)
        if weight_names is not None:
            weight_names = tuple(weight_names)
            if len(weight_names) != self.n_weights or not all(isinstance(n, str) for n in weight_names):
                raise ValueError(f"weight_names must be {self.n_weights} strings, got {weight_names!r}")
        self.weight_names = weight_names
        self.name, self.n_layers = "custom", None

    def _op(self, i: int, gate, constants: list, used: set) -> Op:
        where = f"gates[{i}]"
        if not isinstance(gate, (tuple, list)) or len(gate) not in (2, 3):
            raise ValueError(f"{where} must be (name, wires) or (name, wires, angle), got {gate!r}")
        name, wires = gate[0], gate[1]
        spec = GATES.entry(name).resolve() if name in GATES else None
        if spec is None:
            raise ValueError(f"{where}: unknown gate {name!r}; expected one of {list(GATES.names())}")
        wires = (wires,) if isinstance(wires, (int, np.integer)) and not isinstance(wires, bool) else tuple(wires)
        if len(wires) != spec.n_wires or not all(
                isinstance(q, (int, np.integer)) and not isinstance(q, bool) and 0 <= q < self.n_qubits for q in wires):
            raise ValueError(f"{where}: gate {name} acts on {spec.n_wires} distinct wire(s) in 0..{self.n_qubits - 1}, "
                             f"got wires {gate[1]!r}")
        wires = tuple(int(q) for q in wires)
        if len(set(wires)) != len(wires):
            raise ValueError(f"{where}: gate {name} needs distinct wires, got {wires}")
        if (len(gate) == 3) != (spec.n_params == 1):
            raise ValueError(f"{where}: gate {name} takes {spec.n_params} angle(s), got {len(gate) - 2}")
        w = wires[0] if spec.n_wires == 1 else wires
        if spec.n_params == 0:
            return Op(name, (w,))
        angle = gate[2]
        if isinstance(angle, Weight):
            index = check_int(angle.index, f"{where} weight index", minimum=0)
            used.add(index)
            ref = ("w", index)
        elif isinstance(angle, (float, np.floating)) and math.isfinite(angle):
            ref = ("c", len(constants))
            constants.append(float(angle))
        else:
            raise ValueError(f"{where}: the angle of {name} must be a Weight(j) or a finite float constant, got "
                             f"{angle!r} (an int is refused: say Weight({angle}) or {angle}.0)")
        return Op(name, (w,), (ref,))

    @classmethod
    def paper(cls, n_qubits: int, n_layers: int = 2) -> "Ansatz":
        """The paper's ansatz (module docstring), weights ``(n_layers, n_qubits, 3)``.

        >>> Ansatz.paper(4).weight_shape
        (2, 4, 3)
        """
        self = cls.__new__(cls)
        self.n_qubits = n = check_int(n_qubits, "n_qubits", minimum=1)
        n_layers = check_int(n_layers, "n_layers", minimum=1)
        wires = tuple(range(n))
        ops = []
        for layer in range(n_layers):
            for distance in (1, 2):
                # with fewer than three wires a ring would pair a wire with itself: such pairs are skipped
                pairs = tuple((i, (i + distance) % n) for i in wires if (i + distance) % n != i)
                if pairs:
                    ops.append(Op("CNOT", pairs))
            base = layer * n * 3
            # Rot(a, b, c) = RZ(c) RY(b) RZ(a): RZ(a) acts first.
            for name, k in (("RZ", 0), ("RY", 1), ("RZ", 2)):
                ops.append(Op(name, wires, tuple(("w", base + 3 * q + k) for q in wires)))
        self.ops, self.n_weights, self.weight_names = tuple(ops), n_layers * n * 3, None
        self.constants = np.zeros(0)
        self.constants.flags.writeable = False
        self._shape = (n_layers, n, 3)
        self.name, self.n_layers = "paper", n_layers
        return self

    @classmethod
    def from_qiskit(cls, circuit) -> "Ansatz":
        """Convert a Qiskit ``QuantumCircuit`` whose free ``Parameter`` objects are the weights.

        Weight ``j`` is ``circuit.parameters[j]`` (Qiskit's order, by name),
        so the weights of a converted circuit read in the order Qiskit binds
        them. Gates: ``rx``, ``ry``, ``rz``, ``cx``, ``cz``, ``crz``, ``rzz``,
        ``swap``, ``h``, ``u`` (as ``RZ(lambda)``, ``RY(theta)``, ``RZ(phi)``),
        and the fixed ``x``, ``y``, ``z``, ``s``, ``sdg``, ``t``, ``tdg``,
        ``sx``, ``p`` (as rotations, equal up to a global phase, which no
        expectation value sees); composite gates are decomposed into these.
        Barriers and identities are skipped. An angle must be a plain
        ``Parameter`` or a number. Qiskit qubit ``q`` is wire ``q``.

        Raises
        ------
        ValueError
            A gate outside that set, an angle that is an expression of
            parameters (``2*theta``), measurements, classical bits or
            conditions, naming the instruction.

        Examples
        --------
        >>> from qiskit.circuit.library import real_amplitudes
        >>> a = Ansatz.from_qiskit(real_amplitudes(4, reps=2))
        >>> a.n_weights, a.weight_names[:2]
        (12, ('θ[0]', 'θ[1]'))
        """
        from ._optional import require

        require("qiskit", "converting a Qiskit circuit into an ansatz")
        from qiskit.circuit import Parameter, ParameterExpression, QuantumCircuit

        if not isinstance(circuit, QuantumCircuit):
            raise TypeError(f"circuit must be a qiskit QuantumCircuit, got {type(circuit).__name__}")
        if circuit.num_clbits:
            raise ValueError("the ansatz circuit has classical bits; give only its gates (qrnn measures <Z_k> itself)")
        params = list(circuit.parameters)
        index = {p: j for j, p in enumerate(params)}
        known = set(_QISKIT_GATES) | {"barrier", "id"}
        for _ in range(8):  # composite gates (library blocks) are decomposed until only known gates remain
            unknown = {ins.operation.name for ins in circuit.data if ins.operation.name not in known}
            if not unknown or not all(ins.operation.definition is not None for ins in circuit.data
                                      if ins.operation.name in unknown):
                break
            circuit = circuit.decompose(gates_to_decompose=sorted(unknown))
        gates = []
        for i, ins in enumerate(circuit.data):
            op = ins.operation
            where = f"instruction {i} ({op.name})"
            if op.name in ("barrier", "id"):
                continue
            if getattr(ins, "clbits", ()) or getattr(op, "condition", None) is not None:
                raise ValueError(f"{where}: measurements and classical conditions have no place in an ansatz")
            if op.name not in _QISKIT_GATES:
                raise ValueError(f"{where}: gate {op.name!r} is not supported; expected one of "
                                 f"{sorted(_QISKIT_GATES)} (or a composite of them)")
            wires = tuple(circuit.find_bit(q).index for q in ins.qubits)
            angles = []
            for value in op.params:
                if isinstance(value, Parameter):
                    angles.append(Weight(index[value]))
                elif isinstance(value, ParameterExpression):
                    if value.parameters:
                        raise ValueError(f"{where}: angle {value} is an expression of parameters; qrnn takes "
                                         "each free Parameter as one weight: use a plain Parameter or a number")
                    angles.append(float(value))
                else:
                    angles.append(float(value))
            gates.extend(_QISKIT_GATES[op.name](wires, angles))
        return cls(circuit.num_qubits, gates, n_weights=len(params), weight_names=[p.name for p in params])

    @property
    def weight_shape(self) -> tuple:
        """Shape of one circuit's weights: ``(n_layers, n_qubits, 3)`` for the paper's, ``(n_weights,)`` otherwise."""
        return self._shape

    def key(self):
        key = self.__dict__.get("_cached_key")
        if key is None:  # immutable: built once (trainable groups look circuits up on every pass)
            # plain tuples, not Op dataclasses: compared in C when two equal circuits meet in a cache
            ops = tuple((op.name, op.wires, op.params) for op in self.ops)
            key = self._cached_key = (self.name, self.n_qubits, self._shape, ops, tuple(self.constants.tolist()))
        return key

    def __eq__(self, other) -> bool:
        return isinstance(other, Ansatz) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def digest(self) -> str:
        """SHA-256 of the gates and angles (hex): the ansatz's identity as text, the same in every process."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.to_config(), sort_keys=True).encode()).hexdigest()

    def __repr__(self) -> str:
        if self.name == "paper":
            return f"Ansatz.paper({self.n_qubits}, n_layers={self.n_layers})"
        # the digest makes the repr name the gates: the IBM store keys its groups on it
        return f"Ansatz({self.n_qubits}, <{len(self.ops)} gates {self.digest()[:16]}>, n_weights={self.n_weights})"

    def to_config(self) -> dict:
        """Plain data that :meth:`from_config` turns back into an equal ansatz (model files hold it)."""
        if self.name == "paper":
            return {"paper": {"n_qubits": self.n_qubits, "n_layers": self.n_layers}}
        gates = []
        for op in self.ops:
            wires = list(op.wires[0]) if isinstance(op.wires[0], tuple) else op.wires[0]
            if op.params is None:
                gates.append([op.name, wires])
            else:
                kind, j = op.params[0]
                gates.append([op.name, wires, {"w": j} if kind == "w" else float(self.constants[j])])
        return {"n_qubits": self.n_qubits, "gates": gates, "n_weights": self.n_weights,
                "weight_names": None if self.weight_names is None else list(self.weight_names)}

    @classmethod
    def from_config(cls, config) -> "Ansatz":
        if not isinstance(config, dict):
            raise ValueError(f"an ansatz configuration is a dict, got {type(config).__name__}")
        if set(config) == {"paper"} and isinstance(config["paper"], dict):
            return cls.paper(**config["paper"])
        if set(config) != {"n_qubits", "gates", "n_weights", "weight_names"} or not isinstance(config["gates"], list):
            raise ValueError(f"not an ansatz configuration: keys {sorted(config)}")
        gates = []
        for g in config["gates"]:
            if not isinstance(g, list) or len(g) not in (2, 3):
                raise ValueError(f"not a gate of an ansatz configuration: {g!r}")
            wires = tuple(g[1]) if isinstance(g[1], list) else g[1]
            if len(g) == 2:
                gates.append((g[0], wires))
            elif isinstance(g[2], dict) and set(g[2]) == {"w"}:
                gates.append((g[0], wires, Weight(g[2]["w"])))
            else:
                gates.append((g[0], wires, g[2]))
        n_weights = config["n_weights"]
        if isinstance(n_weights, int) and n_weights > _MAX_FILE_WEIGHTS:  # a file must not allocate at will
            raise ValueError(f"n_weights={n_weights} is above the {_MAX_FILE_WEIGHTS} a saved ansatz may have")
        return cls(config["n_qubits"], gates, n_weights=n_weights, weight_names=config["weight_names"])


def _u(wires, a):
    theta, phi, lam = a
    q = wires[0]
    return [("RZ", q, lam), ("RY", q, theta), ("RZ", q, phi)]


_PI = math.pi
# Qiskit gate -> qrnn gates (equal up to a global phase)
_QISKIT_GATES = {
    "h": lambda w, a: [("H", w[0])],
    "rx": lambda w, a: [("RX", w[0], a[0])],
    "ry": lambda w, a: [("RY", w[0], a[0])],
    "rz": lambda w, a: [("RZ", w[0], a[0])],
    "p": lambda w, a: [("RZ", w[0], a[0])],
    "u": _u, "u3": _u,
    "x": lambda w, a: [("RX", w[0], _PI)],
    "y": lambda w, a: [("RY", w[0], _PI)],
    "z": lambda w, a: [("RZ", w[0], _PI)],
    "s": lambda w, a: [("RZ", w[0], _PI / 2)],
    "sdg": lambda w, a: [("RZ", w[0], -_PI / 2)],
    "t": lambda w, a: [("RZ", w[0], _PI / 4)],
    "tdg": lambda w, a: [("RZ", w[0], -_PI / 4)],
    "sx": lambda w, a: [("RX", w[0], _PI / 2)],
    "cx": lambda w, a: [("CNOT", w)],
    "cz": lambda w, a: [("CZ", w)],
    "swap": lambda w, a: [("SWAP", w)],
    "crz": lambda w, a: [("CRZ", w, a[0])],
    "rzz": lambda w, a: [("RZZ", w, a[0])],
}


class Encoding:
    """How input values become angles: the gates before the ansatz, on wires ``0 .. n_inputs-1``.

    Parameters
    ----------
    kind : {"paper", "angle"}, default "paper"
        ``"paper"``: ``H``, ``RY(arctan x)``, ``RZ(arctan x**2)`` on each
        wire. ``"angle"``: ``RY(scaling * x)``.
    scaling : float, default 1.0
        The factor of the angle encoding (``"angle"`` only).

    Examples
    --------
    >>> Encoding("angle", scaling=np.pi).ops(2)[0]
    Op(name='RY', wires=(0, 1), params=(('x', 0), ('x', 1)))
    >>> Encoding().per_input
    2
    """

    KINDS = ("paper", "angle")

    def __init__(self, kind: str = "paper", scaling: float = 1.0):
        self.kind = check_choice(kind, "encoding", self.KINDS)
        check_real(scaling, "scaling", low=0.0, low_open=True)
        if kind == "paper" and scaling != 1.0:
            raise ValueError("scaling applies to the 'angle' encoding; the paper's takes none (use the cells' "
                             "input_scaling)")
        self.scaling = float(scaling)

    @classmethod
    def of(cls, value) -> "Encoding":
        """An :class:`Encoding` from itself, ``None`` (the paper's) or a kind name."""
        if value is None:
            return cls()
        if isinstance(value, Encoding):
            return value
        if isinstance(value, str):
            return cls(value)
        raise TypeError(f"encoding must be one of {list(cls.KINDS)} or an Encoding, got {type(value).__name__}")

    @property
    def per_input(self) -> int:
        """Angles per encoded value."""
        return 2 if self.kind == "paper" else 1

    def key(self):
        return (self.kind, self.scaling)

    def __eq__(self, other) -> bool:
        return isinstance(other, Encoding) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"Encoding({self.kind!r})" if self.kind == "paper" else f"Encoding('angle', scaling={self.scaling!r})"

    def to_config(self) -> dict:
        return {"kind": self.kind, "scaling": self.scaling}

    @classmethod
    def from_config(cls, config) -> "Encoding":
        if not isinstance(config, dict) or set(config) != {"kind", "scaling"}:
            raise ValueError(f"not an encoding configuration: {config!r}")
        return cls(config["kind"], config["scaling"])

    def ops(self, n_inputs: int) -> tuple[Op, ...]:
        wires = tuple(range(n_inputs))
        if not wires:
            return ()
        if self.kind == "angle":
            return (Op("RY", wires, tuple(("x", i) for i in wires)),)
        return (
            Op("H", wires),
            Op("RY", wires, tuple(("x", 2 * i) for i in wires)),
            Op("RZ", wires, tuple(("x", 2 * i + 1) for i in wires)),
        )

    def input_cap(self, dtype):
        """Magnitude at which the cells cap encoded values, or None (the angle encoding caps nothing)."""
        return VQC.input_cap(dtype) if self.kind == "paper" else None

    def angles(self, x):
        """Angles ``(B, per_input * n_inputs)`` of inputs ``(B, n_inputs)``, numpy or torch."""
        if self.kind == "angle":
            return x * self.scaling if isinstance(x, torch.Tensor) else np.asarray(x, dtype=float) * self.scaling
        if isinstance(x, torch.Tensor):
            return torch.stack((torch.atan(x), torch.atan(x * x)), dim=-1).flatten(-2)
        x = np.asarray(x, dtype=float)
        with np.errstate(over="ignore"):  # x*x -> inf is fine: arctan(inf) = pi/2
            return np.stack((np.arctan(x), np.arctan(x * x)), axis=-1).reshape(*x.shape[:-1], -1)

    def trig(self, x: torch.Tensor, bounded: bool, half: bool):
        """``cos`` and ``sin`` of every angle (of every half angle with ``half``), ``(n_inputs, B) -> (A, B)``."""
        if self.kind == "angle":
            t = x * (self.scaling / 2 if half else self.scaling)
            return torch.cos(t), torch.sin(t)
        u = torch.stack((x, x * x), dim=1).reshape(2 * x.shape[0], x.shape[1])
        if not bounded:
            cap = VQC.input_cap(u.dtype)
            u = u.clamp(-cap, cap)
        if not half:  # t = arctan(u): cos t = 1 / sqrt(1 + u^2), sin t = u / sqrt(1 + u^2)
            inv = torch.rsqrt(torch.addcmul(torch.ones((), dtype=u.dtype, device=u.device), u, u))
            return inv, u * inv
        # cos(t/2) = sqrt((1 + 1/r) / 2), sin(t/2) = u / (2 r cos(t/2)), r = hypot(1, u): stable for every u
        r = torch.hypot(torch.ones_like(u), u)
        c = torch.sqrt(0.5 + 0.5 / r)
        return c, u / (2 * r * c)


class VQC:
    """Description of one variational quantum circuit: encoding, ansatz, measured observables.

    Parameters
    ----------
    n_qubits : int
        Number of wires, ``>= 1``.
    n_layers : int, optional
        Layers ``L`` of the paper's ansatz (default 2); not given with ``ansatz``.
    n_inputs : int, optional
        Number of encoded input values, on wires ``0 .. n_inputs-1``; defaults
        to ``n_qubits``.
    correlators : bool, default False
        Also measure ``<Z_i Z_j>`` for every pair ``i < j`` (after the
        ``<Z_k>``). On a simulator they cost almost nothing; on hardware they
        come from the same Z-basis shots.
    ansatz : Ansatz, optional
        The variational part; default the paper's, ``Ansatz.paper(n_qubits, n_layers)``.
    encoding : Encoding or {"paper", "angle"}, optional
        The input encoding; default the paper's.

    Examples
    --------
    >>> c = VQC(4, n_layers=2)
    >>> c.weight_shape
    (2, 4, 3)
    >>> [op.name for op in c.ops()][:6]
    ['H', 'RY', 'RZ', 'CNOT', 'CNOT', 'RZ']
    >>> VQC(2, ansatz=Ansatz(2, [("RX", 0, Weight(0)), ("CZ", (0, 1))]), encoding="angle").weight_shape
    (1,)
    """

    def __init__(self, n_qubits: int, n_layers: int | None = None, n_inputs: int | None = None,
                 correlators: bool = False, ansatz: Ansatz | None = None, encoding=None):
        self.n_qubits = check_int(n_qubits, "n_qubits", minimum=1)
        self.correlators = check_bool(correlators, "correlators")
        if ansatz is None:
            self.ansatz = Ansatz.paper(self.n_qubits, 2 if n_layers is None else n_layers)
        elif not isinstance(ansatz, Ansatz):
            raise TypeError(f"ansatz must be a qrnn.circuit.Ansatz, got {type(ansatz).__name__}")
        elif n_layers is not None:
            raise ValueError("n_layers sets the paper's ansatz; a given ansatz has its own depth")
        elif ansatz.n_qubits != self.n_qubits:
            raise ValueError(f"ansatz has {ansatz.n_qubits} qubits but the circuit has n_qubits={self.n_qubits}")
        else:
            self.ansatz = ansatz
        self.n_layers = getattr(self.ansatz, "n_layers", None)
        self.encoding = Encoding.of(encoding)
        n_inputs = self.n_qubits if n_inputs is None else n_inputs
        self.n_inputs = check_int(n_inputs, "n_inputs", minimum=0)
        if self.n_inputs > self.n_qubits:
            raise ValueError(
                f"n_inputs must be <= n_qubits={self.n_qubits}, got {self.n_inputs}"
            )

    def __repr__(self) -> str:
        extra = "" if self.ansatz.name == "paper" else f", ansatz={self.ansatz!r}"
        extra += "" if self.encoding.kind == "paper" else f", encoding={self.encoding!r}"
        return (f"VQC(n_qubits={self.n_qubits}, n_layers={self.n_layers}, n_inputs={self.n_inputs}, "
                f"correlators={self.correlators}{extra})")

    def __eq__(self, other) -> bool:
        if self is other:
            return True
        return isinstance(other, VQC) and hash(self) == hash(other) and self._key() == other._key()

    def __hash__(self) -> int:
        h = self.__dict__.get("_cached_hash")
        if h is None:
            h = self._cached_hash = hash(self._key())
        return h

    def _key(self):
        key = self.__dict__.get("_cached_key")
        if key is None:  # immutable: built once
            key = self._cached_key = (self.n_qubits, self.n_inputs, self.correlators, self.ansatz.key(),
                                      self.encoding.key())
        return key

    def with_correlators(self, correlators: bool = True) -> "VQC":
        """The same circuit, measuring the correlators too (or not)."""
        return VQC(self.n_qubits, n_inputs=self.n_inputs, correlators=correlators, ansatz=self.ansatz,
                   encoding=self.encoding)

    @property
    def weight_shape(self) -> tuple:
        return self.ansatz.weight_shape

    @property
    def n_weights(self) -> int:
        return self.ansatz.n_weights

    @property
    def constants(self) -> np.ndarray:
        return self.ansatz.constants

    def slot(self, ref) -> int:
        """Where a ``("w" | "c", j)`` angle reference reads in :meth:`with_constants`' output."""
        return ref[1] if ref[0] == "w" else self.n_weights + ref[1]

    def with_constants(self, weights_flat):
        """``(..., n_weights) -> (..., n_weights + n_constants)``: the constant angles appended.

        Angles ``("w", j)`` and ``("c", j)`` then both read one array, at :meth:`slot`.
        """
        c = self.ansatz.constants
        if not c.size:
            return weights_flat
        if isinstance(weights_flat, torch.Tensor):
            ct = torch.tensor(c, dtype=weights_flat.dtype, device=weights_flat.device)
            return torch.cat((weights_flat, ct.expand(*weights_flat.shape[:-1], c.size)), dim=-1)
        w = np.asarray(weights_flat, dtype=np.float64)
        return np.concatenate((w, np.broadcast_to(c, w.shape[:-1] + c.shape)), axis=-1)

    def observables(self) -> tuple[tuple[int, ...], ...]:
        """The measured Pauli-Z products, as wire tuples, in output order.

        ``(0,), (1,), ..., (n-1,)``, then with ``correlators`` the pairs
        ``(0, 1), (0, 2), ..., (n-2, n-1)``.

        >>> VQC(3, correlators=True).observables()
        ((0,), (1,), (2,), (0, 1), (0, 2), (1, 2))
        """
        singles = tuple((k,) for k in range(self.n_qubits))
        if not self.correlators:
            return singles
        pairs = tuple((i, j) for i in range(self.n_qubits) for j in range(i + 1, self.n_qubits))
        return singles + pairs

    @property
    def n_outputs(self) -> int:
        """Number of measured values (see :meth:`observables`)."""
        return len(self.observables())

    @property
    def n_angles(self) -> int:
        return self.encoding.per_input * self.n_inputs

    def input_angles(self, x):
        """Encoding angles, for the paper's ``[arctan x_0, arctan x_0**2, arctan x_1, ...]``.

        ``x`` is a numpy array or torch tensor of shape ``(B, n_inputs)``; the
        result has shape ``(B, n_angles)`` and the same type.
        """
        return self.encoding.angles(x)

    @staticmethod
    def input_cap(dtype) -> float:
        """The magnitude at which values for the paper's encoding are capped, for ``dtype``.

        Beyond it ``arctan(x)`` and ``arctan(x**2)`` are ``pi/2`` to the
        dtype's precision, so capping changes no angle; below it ``(x**2)**2``
        stays finite. The one place these numbers live (see ``_INPUT_CAPS``).

        Raises
        ------
        TypeError
            For a dtype other than ``torch.float64`` or ``torch.float32``.

        Examples
        --------
        >>> VQC.input_cap(torch.float64), VQC.input_cap(torch.float32)
        (1e+18, 1000000000.0)
        """
        if dtype not in _INPUT_CAPS:
            raise TypeError(f"circuits compute in one of {list(COMPUTE_DTYPES)}, got dtype {dtype}")
        return _INPUT_CAPS[dtype]

    def input_angle_trig(self, x: torch.Tensor, bounded: bool = False):
        """``cos t`` and ``sin t`` of every encoding angle, batch last: ``(n_inputs, B) -> (n_angles, B)``.

        For the paper's encoding, ``u = x`` or ``x**2`` is capped at
        :meth:`input_cap` in magnitude (no change to ``t = arctan u``);
        ``bounded=True`` says the caller already capped ``|x|`` there.
        """
        return self.encoding.trig(x, bounded, half=False)

    def input_half_angle_trig(self, x: torch.Tensor, bounded: bool = False):
        """``cos(t/2)`` and ``sin(t/2)`` of every encoding angle, batch last (see :meth:`input_angle_trig`)."""
        return self.encoding.trig(x, bounded, half=True)

    def encoding_ops(self) -> tuple[Op, ...]:
        return self.encoding.ops(self.n_inputs)

    def variational_ops(self) -> tuple[Op, ...]:
        return self.ansatz.ops

    def ops(self) -> tuple[Op, ...]:
        """The whole circuit, encoding first, in application order."""
        return self.encoding_ops() + self.variational_ops()

    def gates(self):
        """Yield ``(name, wires, param)`` one elementary gate at a time.

        ``wires`` is ``(q,)`` or ``(control, target)``; ``param`` is ``None`` or
        an ``("x" | "w" | "c", index)`` reference. This is the flat order that
        gate-by-gate renderers (PennyLane, Qiskit) follow.
        """
        return _elementary(self.ops())

    def variational_gates(self):
        """:meth:`gates` of the ansatz alone (after the encoding)."""
        return _elementary(self.variational_ops())

    def gate_names(self) -> frozenset:
        """The gates this circuit holds (the engine's fast paths check them)."""
        names = self.__dict__.get("_gate_names")
        if names is None:  # immutable: built once (trainable groups ask on every pass)
            names = self._gate_names = frozenset(op.name for op in self.ops())
        return names


def _elementary(ops):
    for op in ops:
        for i, w in enumerate(op.wires):
            yield op.name, (w if isinstance(w, tuple) else (w,)), None if op.params is None else op.params[i]


def init_weights(n_circuits: int, vqc: VQC, init: str = "normal", seed=None) -> np.ndarray:
    """Draw reservoir angles for ``n_circuits`` circuits, shape ``(n_circuits, *vqc.weight_shape)``.

    ``init="normal"`` draws ``0.01 * N(0, 1)`` (the paper author's code),
    ``init="uniform"`` draws ``U(0, 2 pi)``. Draws come from
    ``numpy.random.default_rng(seed)`` in float64, so a seed gives the same
    angles on every backend and device.

    Examples
    --------
    >>> w = init_weights(6, VQC(4), "uniform", seed=0)
    >>> w.shape
    (6, 2, 4, 3)
    """
    n_circuits = check_int(n_circuits, "n_circuits", minimum=1)
    check_choice(init, "init", INITS)
    rng = np.random.default_rng(check_seed(seed))
    shape = (n_circuits,) + vqc.weight_shape
    if init == "normal":
        return 0.01 * rng.standard_normal(shape)
    return rng.uniform(0.0, 2.0 * np.pi, size=shape)
