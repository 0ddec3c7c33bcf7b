"""Device noise as channels on the circuit description: :class:`Noise`, for the torch engine.

A :class:`Noise` places, after every gate of a circuit's description, the
channel a device applies there, and flips each measured bit with the
readout error:

- after every one-wire gate (the encoding's gates too; the paper ansatz's
  ``Rot(a, b, c) = RZ RY RZ`` counts as one gate), a one-qubit depolarizing
  channel with parameter ``p1``, then thermal relaxation over ``gate_time``;
- after every two-wire gate (the CNOTs of the paper's ansatz), a two-qubit
  depolarizing channel with parameter ``p2``, then thermal relaxation of
  both wires over ``gate_time_2q``;
- on every measured bit, a symmetric flip with probability ``readout``.

The depolarizing channels are those of ``qiskit_aer.noise.depolarizing_error(p, n)``
for ``p`` in ``[0, 1]`` (Aer also takes ``p`` up to ``4^n / (4^n - 1)``):
``rho -> (1 - p) rho + p Tr(rho) I / 2^n``. Thermal relaxation is
``qiskit_aer.noise.thermal_relaxation_error(t1, t2, t)`` at zero temperature:
coherences decay by ``exp(-t / T2)``, the excited population by
``exp(-t / T1)``, towards ``|0>``. Every channel is held as its Pauli
transfer matrix (real, in the basis ``I, X, Y, Z``, wire order as the
circuit's), which is what the torch engine's Heisenberg form propagates.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .._validation import check_int, check_real

_PER_WIRE = ("p1", "readout", "t1", "t2")


def _probability(value, name: str) -> float:
    return check_real(value, name, low=0.0, high=1.0)


def _per_wire(value, name: str, check):
    """A number, or a sequence of numbers (one per wire), each passed through ``check``."""
    if isinstance(value, (list, tuple, np.ndarray)):
        values = tuple(check(v, f"{name}[{i}]") for i, v in enumerate(np.asarray(value, dtype=object).ravel()))
        if np.ndim(value) != 1 or not values:
            raise ValueError(f"{name} must be a number or a non-empty 1-D sequence of numbers (one per wire), "
                             f"got {value!r}")
        return values
    return check(value, name)


def _time(value, name: str) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == math.inf:
        return math.inf
    return check_real(value, name, low=0.0, low_open=True)


def depolarizing_ptm(p: float, n_wires: int) -> np.ndarray:
    """Pauli transfer matrix of ``depolarizing_error(p, n_wires)``: every non-identity Pauli scaled by ``1 - p``."""
    d = 4**n_wires
    return np.diag([1.0] + [1.0 - p] * (d - 1))


def relaxation_ptm(t1: float, t2: float, t: float) -> np.ndarray:
    """Pauli transfer matrix of thermal relaxation over time ``t`` at zero temperature (basis ``I, X, Y, Z``)."""
    e1, e2 = math.exp(-t / t1), math.exp(-t / t2)
    return np.array([[1.0, 0.0, 0.0, 0.0], [0.0, e2, 0.0, 0.0], [0.0, 0.0, e2, 0.0], [1.0 - e1, 0.0, 0.0, e1]])


def average_gate_fidelity(ptm: np.ndarray) -> float:
    """Average gate fidelity of a channel on ``k`` qubits from its Pauli transfer matrix (``d = 2^k``):
    ``(d F_e + 1) / (d + 1)`` with entanglement fidelity ``F_e = Tr(R) / d^2``."""
    d = math.isqrt(ptm.shape[0])
    return (d * np.trace(ptm) / d**2 + 1) / (d + 1)


class Noise:
    """A device's noise, channel by channel, for ``TorchBackend(noise=...)`` (module docstring).

    Parameters
    ----------
    p1 : float or sequence of float, default 0
        Depolarizing parameter after every one-wire gate, in ``[0, 1]``; one
        per wire, or one for all.
    p2 : float, default 0
        Depolarizing parameter after every two-wire gate, in ``[0, 1]``.
    readout : float or sequence of float, default 0
        Probability that a measured bit is flipped (both ways alike), in
        ``[0, 1]``; each ``<Z>`` is scaled by ``1 - 2 readout``.
    t1, t2 : float or sequence of float, optional
        Relaxation and dephasing times (``T2 <= 2 T1``; ``math.inf`` for
        none), in the unit of ``gate_time``. Both or neither.
    gate_time : float, optional
        Duration of a one-wire gate; needed with ``t1`` and ``t2``.
    gate_time_2q : float, optional
        Duration of a two-wire gate; default ``gate_time``.

    Raises
    ------
    ValueError
        A probability outside ``[0, 1]``, ``T2 > 2 T1``, ``t1`` without
        ``t2`` or without ``gate_time``, or per-wire sequences of different
        lengths, naming the argument.

    Examples
    --------
    >>> Noise(p1=1e-3, p2=1e-2, readout=0.02)
    Noise(p1=0.001, p2=0.01, readout=0.02)
    >>> Noise(p1=0.2)
    Noise(p1=0.2)
    >>> Noise(t1=100e-6, t2=250e-6, gate_time=50e-9)
    Traceback (most recent call last):
    ...
    ValueError: t2 must be <= 2 t1 (no qubit dephases slower than that), got t1=0.0001, t2=0.00025 (wire 0)
    """

    def __init__(self, p1=0.0, p2=0.0, readout=0.0, t1=None, t2=None, gate_time=None, gate_time_2q=None):
        self.p1 = _per_wire(p1, "p1", _probability)
        self.p2 = _probability(p2, "p2")
        self.readout = _per_wire(readout, "readout", _probability)
        if (t1 is None) != (t2 is None):
            raise ValueError("t1 and t2 go together: give both (math.inf for no relaxation) or neither")
        self.t1 = None if t1 is None else _per_wire(t1, "t1", _time)
        self.t2 = None if t2 is None else _per_wire(t2, "t2", _time)
        if t1 is not None and gate_time is None:
            raise ValueError("t1 and t2 need gate_time (how long each gate lets the qubits relax), in their unit")
        if t1 is None and (gate_time is not None or gate_time_2q is not None):
            raise ValueError("gate_time and gate_time_2q only apply with t1 and t2")
        self.gate_time = None if gate_time is None else check_real(gate_time, "gate_time", low=0.0)
        self.gate_time_2q = (self.gate_time if gate_time_2q is None
                             else check_real(gate_time_2q, "gate_time_2q", low=0.0))
        lengths = {name: len(v) for name in _PER_WIRE if isinstance(v := getattr(self, name), tuple)}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"per-wire values must all have one length (one per wire), got lengths {lengths}")
        self.n_wires = next(iter(lengths.values()), None)
        if self.t1 is not None:
            for w, (a, b) in enumerate(zip(self._wires("t1", self.n_wires or 1), self._wires("t2", self.n_wires or 1))):
                if b > 2 * a:
                    raise ValueError(f"t2 must be <= 2 t1 (no qubit dephases slower than that), got t1={a}, "
                                     f"t2={b} (wire {w})")

    def _wires(self, name: str, n: int) -> tuple:
        value = getattr(self, name)
        return value if isinstance(value, tuple) else (value,) * n

    def check_wires(self, n_qubits: int) -> None:
        """Refuse per-wire values for another number of wires than a circuit's."""
        if self.n_wires is not None and self.n_wires != n_qubits:
            raise ValueError(f"this Noise gives per-wire values for {self.n_wires} wires, but the circuit has "
                             f"{n_qubits}; give one value per circuit wire, or one for all")

    @property
    def is_ideal(self) -> bool:
        """Whether it changes nothing (every probability 0 and no relaxation)."""
        zero = all(v == 0 for name in ("p1", "readout") for v in self._wires(name, 1)) and self.p2 == 0
        return zero and self.t1 is None

    def one_wire(self, n_qubits: int) -> list[np.ndarray]:
        """Per wire, the 4x4 Pauli transfer matrix that follows a one-wire gate (depolarizing, then relaxation)."""
        self.check_wires(n_qubits)
        out = []
        for w, p in enumerate(self._wires("p1", n_qubits)):
            m = depolarizing_ptm(p, 1)
            if self.t1 is not None:
                m = relaxation_ptm(self._wires("t1", n_qubits)[w], self._wires("t2", n_qubits)[w], self.gate_time) @ m
            out.append(m)
        return out

    def two_wire(self, n_qubits: int, a: int, b: int) -> np.ndarray:
        """The 16x16 Pauli transfer matrix that follows a two-wire gate on ``(a, b)`` (``a`` more significant)."""
        self.check_wires(n_qubits)
        m = depolarizing_ptm(self.p2, 2)
        if self.t1 is not None:
            t1, t2 = self._wires("t1", n_qubits), self._wires("t2", n_qubits)
            relax = np.kron(relaxation_ptm(t1[a], t2[a], self.gate_time_2q), relaxation_ptm(t1[b], t2[b],
                                                                                        self.gate_time_2q))
            m = relax @ m
        return m

    def readout_factors(self, n_qubits: int) -> np.ndarray:
        """``(n,)``: the factor ``1 - 2 e`` each wire's measured ``Z`` is scaled by."""
        self.check_wires(n_qubits)
        return 1.0 - 2.0 * np.array(self._wires("readout", n_qubits), dtype=np.float64)

    def to_config(self) -> dict:
        """Plain data for :meth:`from_config` (model files hold it)."""
        plain = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
        return {"p1": plain(self.p1), "p2": self.p2, "readout": plain(self.readout), "t1": plain(self.t1),
                "t2": plain(self.t2), "gate_time": self.gate_time,
                "gate_time_2q": self.gate_time_2q if self.t1 is not None else None}

    @classmethod
    def from_config(cls, config) -> "Noise":
        keys = {"p1", "p2", "readout", "t1", "t2", "gate_time", "gate_time_2q"}
        if not isinstance(config, dict) or set(config) != keys:
            raise ValueError(f"not a noise configuration (keys {sorted(keys)}): {config!r}")
        return cls(**config)

    def __eq__(self, other) -> bool:
        return isinstance(other, Noise) and self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(repr(self.to_config()))

    def __repr__(self) -> str:
        defaults = {"p1": 0.0, "p2": 0.0, "readout": 0.0, "t1": None, "t2": None, "gate_time": None,
                    "gate_time_2q": None}
        cfg = self.to_config()
        if cfg["gate_time_2q"] == cfg["gate_time"]:
            cfg["gate_time_2q"] = None
        shown = ", ".join(f"{k}={v!r}" for k, v in cfg.items() if v != defaults[k])
        return f"Noise({shown})"

    @classmethod
    def from_device(cls, device, qubits=None) -> "Noise":
        """The noise of a device's qubits, from its own calibration data (gate errors, T1/T2, durations, readout).

        Parameters
        ----------
        device : str or qiskit BackendV2
            A fake device by name (``"fake_manila"``, as for ``backend="ibm:<device>"``)
            or a backend object (a fake one, or a real one from
            ``QiskitRuntimeService().backend(name)``: its calibration as last reported).
        qubits : sequence of int
            The physical qubit of each circuit wire (a layout), required:
            e.g. ``IBMBackend(device).layout(vqc)``, the one its transpiler picks.

        Notes
        -----
        Per wire, the one-wire gate of a description becomes one general
        one-qubit gate on the device, two ``sx`` pulses: ``p1`` is the
        depolarizing part of two ``sx`` errors once their relaxation is
        accounted for (as Aer's ``NoiseModel.from_backend`` derives it),
        ``gate_time`` two ``sx`` durations. ``p2`` and ``gate_time_2q`` are
        the means over the device's two-qubit gates between the layout's
        qubits (over all of them if none). It differs from the device's
        transpiled circuits: it leaves out the gates the transpiler adds
        (SWAPs routing a CNOT between uncoupled qubits), crosstalk and idle
        relaxation, and it overcounts the encoding's noise (three channels per
        wire, one for each of its gates, where the transpiler merges them
        into one general gate, and a channel after each ``RZ``, which IBM
        devices apply virtually, without error).

        Examples
        --------
        >>> noise = Noise.from_device("fake_manila", qubits=[0, 1, 2, 3])
        >>> noise.n_wires, 0 < noise.p2 < 0.1
        (4, True)
        """
        dev = _device_backend(device)
        target = dev.target
        if qubits is None:
            raise ValueError("qubits: give the physical qubit of each circuit wire (the layout), e.g. "
                             "IBMBackend(device).layout(vqc) for the transpiler's choice")
        if isinstance(qubits, (int, np.integer)) or not hasattr(qubits, "__len__") or not len(qubits):
            raise ValueError(f"qubits must be a non-empty sequence of physical qubit indices, got {qubits!r}")
        qubits = [check_int(q, "qubits entries", minimum=0) for q in qubits]
        if len(set(qubits)) != len(qubits) or max(qubits) >= dev.num_qubits:
            raise ValueError(f"qubits must be distinct physical qubits in [0, {dev.num_qubits}) of "
                             f"{dev.name!r}, got {qubits}")
        one = _one_qubit_gate(target)
        two = _two_qubit_gate(target)
        t1 = [_qubit_time(target, q, "t1") for q in qubits]
        t2 = [min(_qubit_time(target, q, "t2"), 2 * a) for q, a in zip(qubits, t1)]  # Aer truncates T2 too
        p1, times = [], []
        for w, q in enumerate(qubits):
            prop = target[one].get((q,))
            err, dur = (prop.error or 0.0), (prop.duration or 0.0)
            time = 2 * dur
            relax = relaxation_ptm(t1[w], t2[w], time)
            total = 1 - (1 - err) ** 2  # two pulses
            p1.append(_depolarizing_part(total, relax, 1))
            times.append(time)
        pairs = [(a, b) for (a, b) in target[two] if a in qubits and b in qubits] or list(target[two])
        errors = [target[two][pq].error or 0.0 for pq in pairs]
        durations = [target[two][pq].duration or 0.0 for pq in pairs]
        gate_time_2q = float(np.mean(durations))
        mean_relax = np.kron(relaxation_ptm(np.mean(t1), np.mean(t2), gate_time_2q),
                             relaxation_ptm(np.mean(t1), np.mean(t2), gate_time_2q))
        p2 = _depolarizing_part(float(np.mean(errors)), mean_relax, 2)
        readout = [target["measure"][(q,)].error or 0.0 for q in qubits]
        return cls(p1=p1, p2=p2, readout=readout, t1=t1, t2=t2, gate_time=float(np.mean(times)),
                   gate_time_2q=gate_time_2q)


def _depolarizing_part(error: float, relax: np.ndarray, n_wires: int) -> float:
    """The depolarizing parameter that, followed by ``relax``, has average gate infidelity ``error``
    (Aer's ``_device_depolarizing_error``: 0 where relaxation alone explains the error)."""
    dim = 2**n_wires
    fid = average_gate_fidelity(relax)
    if error <= 1 - fid:
        return 0.0
    error = min(error, dim / (dim + 1))
    return float(min(dim * (error - (1 - fid)) / (dim * fid - 1), 1.0))


def _device_backend(device):
    if isinstance(device, str):
        from .ibm.devices import fake_backend

        return fake_backend(device)
    if not hasattr(device, "target") or not hasattr(device, "num_qubits"):
        raise TypeError(f"device must be a fake device name (e.g. 'fake_manila') or a qiskit BackendV2, "
                        f"got {type(device).__name__}")
    return device


def _one_qubit_gate(target) -> str:
    for name in ("sx", "x", "u", "u3"):
        if name in target:
            return name
    raise ValueError(f"the device reports no one-qubit gate among sx, x, u, u3 (it has {sorted(target)})")


def _two_qubit_gate(target) -> str:
    for name in ("cx", "ecr", "cz"):
        if name in target:
            return name
    raise ValueError(f"the device reports no two-qubit gate among cx, ecr, cz (it has {sorted(target)})")


def _qubit_time(target, q: int, which: str) -> float:
    props = target.qubit_properties[q] if target.qubit_properties else None
    value = getattr(props, which, None) if props is not None else None
    return math.inf if value is None else float(value)
