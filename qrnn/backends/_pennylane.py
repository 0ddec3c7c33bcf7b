"""PennyLane renderer: one broadcast tape per circuit, one ``qml.execute`` per group."""
from __future__ import annotations

import numpy as np

from .._optional import require
from ..circuit import GATES, VQC
from .base import Backend, NumpyCompiled


def qubit_devices() -> list[str]:
    """Installed PennyLane devices that give exact expectation values of qubit circuits.

    Read from the ``pennylane.plugins`` entry points, so listing them loads no plugin.
    """
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="pennylane.plugins")}
    return sorted(n for n in names if (n.endswith(".qubit") and n != "null.qubit") or n == "default.mixed")


class PennyLaneBackend(Backend):
    """Run circuits on a PennyLane device with parameter broadcasting.

    Parameters
    ----------
    device : str, default "default.qubit"
        Any installed PennyLane device name, e.g. ``"lightning.qubit"``.
    **device_options
        Passed to ``qml.device``.

    Notes
    -----
    Tapes are executed without gradient tracking (``diff_method=None``), the
    fastest PennyLane configuration for fixed reservoirs.

    Examples
    --------
    >>> import torch
    >>> from qrnn.circuit import VQC
    >>> run = PennyLaneBackend().compile(VQC(2), torch.zeros(1, 2, 2, 3, dtype=torch.float64))
    >>> tuple(run(torch.ones(3, 2, dtype=torch.float64)).shape)
    (1, 3, 2)
    """

    exact = True
    differentiable = False

    def __init__(self, device: str = "default.qubit", **device_options):
        require("pennylane", "backend 'pennylane'")
        valid = qubit_devices()
        if device not in valid:
            raise ValueError(f"device must be an installed PennyLane qubit device, one of {valid}; got {device!r}")
        self.device = device
        self.device_options = device_options
        self.name = f"pennylane:{device}"
        self._devices: dict[int, object] = {}
        self._device(1)  # options are checked now, not at the first transform

    def __repr__(self) -> str:
        return f"PennyLaneBackend(device={self.device!r})"

    def to_config(self) -> dict:
        return {"kind": "pennylane", "device": self.device, **self.device_options}

    def _device(self, n: int):
        qml = require("pennylane", "backend 'pennylane'")
        if n not in self._devices:
            try:
                self._devices[n] = qml.device(self.device, wires=n, **self.device_options)
            except Exception as exc:  # PennyLane raises its own DeviceError
                raise ValueError(
                    f"backend 'pennylane:{self.device}': cannot create PennyLane device "
                    f"{self.device!r} with options {self.device_options} ({type(exc).__name__}: {exc})"
                ) from exc
        return self._devices[n]

    def compile(self, vqc: VQC, weights):
        self.check_weights(vqc, weights)
        qml = require("pennylane", "backend 'pennylane'")
        dev = self._device(vqc.n_qubits)
        w = vqc.with_constants(weights.detach().cpu().numpy().reshape(weights.shape[0], -1).astype(np.float64))
        gates = list(vqc.gates())
        classes = {name: getattr(qml, GATES[name].pennylane) for name in vqc.gate_names()}
        measurements = [qml.expval(qml.prod(*[qml.Z(w) for w in wires]) if len(wires) > 1 else qml.Z(wires[0]))
                        for wires in vqc.observables()]
        n = vqc.n_outputs

        def run(x: np.ndarray) -> np.ndarray:
            angles = vqc.input_angles(x)
            B = x.shape[0]
            tapes = []
            for wk in w:
                ops = []
                for name, wires, ref in gates:
                    if ref is None:
                        ops.append(classes[name](wires=list(wires)))
                    else:
                        value = angles[:, ref[1]] if ref[0] == "x" else float(wk[vqc.slot(ref)])
                        ops.append(classes[name](value, wires=list(wires)))
                tapes.append(qml.tape.QuantumScript(ops, measurements))
            results = qml.execute(tapes, dev, diff_method=None)
            # One measurement comes back bare, several as a tuple; B = 1 may drop the axis.
            out = np.stack([np.broadcast_to(np.asarray(res, dtype=np.float64).reshape(n, -1), (n, B))
                            for res in results])
            return out.transpose(0, 2, 1)

        return NumpyCompiled(self, run, weights, vqc)
