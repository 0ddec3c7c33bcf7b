"""The one description of a variational quantum circuit (docs/models.md, section 1).

Every backend renders :class:`VQC` from its :meth:`VQC.ops` list; nothing else
in the package knows the gate order. A circuit is

1. an encoding on the first ``n_inputs`` wires: ``H``, ``RY(arctan x_i)``,
   ``RZ(arctan x_i**2)`` (wires without input stay in ``|0>``),
2. ``n_layers`` variational layers: a CNOT ring at distance 1, a CNOT ring at
   distance 2, then ``Rot(a, b, c) = RZ(c) RY(b) RZ(a)`` on every wire,
3. ``<Z_k>`` measured on every wire (cells keep the wires they need).

Wire 0 is the most significant bit of a basis index (PennyLane's order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._validation import check_bool, check_choice, check_int, check_seed

INITS = ("normal", "uniform")
# |x| beyond which arctan(x) is pi/2 to the dtype's precision, and below which (x**2)**2 is finite.
# Its keys are the precisions circuits compute in (half precision cannot hold these caps).
_INPUT_CAPS = {torch.float64: 1e18, torch.float32: 1e9}
COMPUTE_DTYPES = tuple(_INPUT_CAPS)


@dataclass(frozen=True)
class Op:
    """One gate, or one gate on each of several wires.

    ``name`` is ``"H"``, ``"RX"``, ``"RY"``, ``"RZ"`` (one gate per wire in
    ``wires``) or ``"CNOT"`` (``wires`` is a tuple of ``(control, target)``
    pairs, applied in order). ``params`` holds, per wire, where the angle comes
    from: ``("x", j)`` is column ``j`` of :meth:`VQC.input_angles`, ``("w", j)``
    is entry ``j`` of the flattened ``(n_layers, n_qubits, 3)`` weights.
    """

    name: str
    wires: tuple
    params: tuple | None = None


class VQC:
    """Description of the paper's variational quantum circuit.

    Parameters
    ----------
    n_qubits : int
        Number of wires, ``>= 1``.
    n_layers : int, default 2
        Number of variational layers ``L``, ``>= 1``.
    n_inputs : int, optional
        Number of encoded input values, on wires ``0 .. n_inputs-1``; defaults
        to ``n_qubits``.
    correlators : bool, default False
        Also measure ``<Z_i Z_j>`` for every pair ``i < j`` (after the
        ``<Z_k>``). On a simulator they cost almost nothing; on hardware they
        come from the same Z-basis shots.

    Notes
    -----
    With fewer than three wires a ring would pair a wire with itself; such
    pairs are skipped (a CNOT needs two distinct wires).

    Examples
    --------
    >>> c = VQC(4, n_layers=2)
    >>> c.weight_shape
    (2, 4, 3)
    >>> [op.name for op in c.ops()][:6]
    ['H', 'RY', 'RZ', 'CNOT', 'CNOT', 'RZ']
    """

    def __init__(self, n_qubits: int, n_layers: int = 2, n_inputs: int | None = None,
                 correlators: bool = False):
        self.n_qubits = check_int(n_qubits, "n_qubits", minimum=1)
        self.correlators = check_bool(correlators, "correlators")
        self.n_layers = check_int(n_layers, "n_layers", minimum=1)
        n_inputs = self.n_qubits if n_inputs is None else n_inputs
        self.n_inputs = check_int(n_inputs, "n_inputs", minimum=0)
        if self.n_inputs > self.n_qubits:
            raise ValueError(
                f"n_inputs must be <= n_qubits={self.n_qubits}, got {self.n_inputs}"
            )

    def __repr__(self) -> str:
        return (f"VQC(n_qubits={self.n_qubits}, n_layers={self.n_layers}, n_inputs={self.n_inputs}, "
                f"correlators={self.correlators})")

    def __eq__(self, other) -> bool:
        return isinstance(other, VQC) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self):
        return (self.n_qubits, self.n_layers, self.n_inputs, self.correlators)

    @property
    def weight_shape(self) -> tuple[int, int, int]:
        return (self.n_layers, self.n_qubits, 3)

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
        return 2 * self.n_inputs

    def input_angles(self, x):
        """Encoding angles ``[arctan x_0, arctan x_0**2, arctan x_1, ...]``.

        ``x`` is a numpy array or torch tensor of shape ``(B, n_inputs)``; the
        result has shape ``(B, 2 * n_inputs)`` and the same type.
        """
        if isinstance(x, torch.Tensor):
            return torch.stack((torch.atan(x), torch.atan(x * x)), dim=-1).flatten(-2)
        x = np.asarray(x, dtype=float)
        with np.errstate(over="ignore"):  # x*x -> inf is fine: arctan(inf) = pi/2
            return np.stack((np.arctan(x), np.arctan(x * x)), axis=-1).reshape(*x.shape[:-1], -1)

    @staticmethod
    def input_cap(dtype) -> float:
        """The magnitude at which encoded values are capped, for ``dtype``.

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
        """``cos t`` and ``sin t`` of every encoding angle, batch last.

        ``x`` is a tensor ``(n_inputs, B)``; both results are ``(2 n_inputs, B)``
        in :meth:`input_angles` order. For ``t = arctan(u)``:
        ``cos t = 1 / sqrt(1 + u^2)``, ``sin t = u / sqrt(1 + u^2)``.
        ``u`` is capped at :meth:`input_cap` in magnitude (no change to ``t``);
        ``bounded=True`` says the caller already capped ``|x|`` there, so that
        nothing can overflow.
        """
        u = self._encoded_values(x, bounded)
        inv = torch.rsqrt(torch.addcmul(self._one(u), u, u))
        return inv, u * inv

    def _encoded_values(self, x: torch.Tensor, bounded: bool) -> torch.Tensor:
        """``(n_inputs, B) -> (2 n_inputs, B)``: ``x_i`` and ``x_i**2`` interleaved, capped at
        :meth:`input_cap` unless the caller already capped ``x`` (``bounded=True``)."""
        u = torch.stack((x, x * x), dim=1).reshape(2 * x.shape[0], x.shape[1])
        if bounded:
            return u
        cap = self.input_cap(u.dtype)
        return u.clamp(-cap, cap)

    @staticmethod
    def _one(u: torch.Tensor) -> torch.Tensor:
        return torch.ones((), dtype=u.dtype, device=u.device)

    def input_half_angle_trig(self, x: torch.Tensor, bounded: bool = False):
        """``cos(t/2)`` and ``sin(t/2)`` of every encoding angle, batch last.

        ``x`` is a tensor ``(n_inputs, B)``; both results are ``(2 n_inputs, B)``
        in :meth:`input_angles` order. For ``t = arctan(u)``, with
        ``r = hypot(1, u)``: ``cos(t/2) = sqrt((1 + 1/r) / 2)`` and
        ``sin(t/2) = u / (2 r cos(t/2))``, algebraic and stable for every
        finite ``u``. ``u`` is capped as in :meth:`input_angle_trig`.
        """
        u = self._encoded_values(x, bounded)
        r = torch.hypot(torch.ones_like(u), u)
        c = torch.sqrt(0.5 + 0.5 / r)
        return c, u / (2 * r * c)

    def encoding_ops(self) -> tuple[Op, ...]:
        wires = tuple(range(self.n_inputs))
        if not wires:
            return ()
        return (
            Op("H", wires),
            Op("RY", wires, tuple(("x", 2 * i) for i in wires)),
            Op("RZ", wires, tuple(("x", 2 * i + 1) for i in wires)),
        )

    def variational_ops(self) -> tuple[Op, ...]:
        n = self.n_qubits
        wires = tuple(range(n))
        ops = []
        for layer in range(self.n_layers):
            for distance in (1, 2):
                pairs = tuple((i, (i + distance) % n) for i in wires if (i + distance) % n != i)
                if pairs:
                    ops.append(Op("CNOT", pairs))
            base = layer * n * 3
            # Rot(a, b, c) = RZ(c) RY(b) RZ(a): RZ(a) acts first.
            for name, k in (("RZ", 0), ("RY", 1), ("RZ", 2)):
                ops.append(Op(name, wires, tuple(("w", base + 3 * q + k) for q in wires)))
        return tuple(ops)

    def ops(self) -> tuple[Op, ...]:
        """The whole circuit, encoding first, in application order."""
        return self.encoding_ops() + self.variational_ops()

    def gates(self):
        """Yield ``(name, wires, param)`` one elementary gate at a time.

        ``wires`` is ``(q,)`` or ``(control, target)``; ``param`` is ``None`` or
        a ``("x" | "w", index)`` reference. This is the flat order that gate-
        by-gate renderers (PennyLane, Qiskit) follow.
        """
        for op in self.ops():
            if op.name == "CNOT":
                for pair in op.wires:
                    yield op.name, pair, None
            else:
                for i, q in enumerate(op.wires):
                    yield op.name, (q,), None if op.params is None else op.params[i]


def init_weights(n_circuits: int, vqc: VQC, init: str = "normal", seed=None) -> np.ndarray:
    """Draw reservoir angles for ``n_circuits`` circuits, shape ``(n_circuits, L, n, 3)``.

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
