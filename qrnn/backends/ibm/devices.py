"""The device catalogue: which fake devices exist, which primitive runs a device, the service's defaults."""
from __future__ import annotations

from ..._optional import require

# IBM Runtime's Estimator default target precision; a rehearsal without shots or
# precision (other than the exact ideal one) uses it, as the service would.
DEFAULT_PRECISION = 0.015625
# Classes of qiskit_ibm_runtime.fake_provider that are not one device.
_NOT_DEVICES = ("FakeProviderForBackendV2", "FakeFractionalBackend", "FakeProvider")


def fake_device_names() -> dict[str, str]:
    """Fake device names accepted as ``device`` -> their ``fake_provider`` class name.

    ``"fake_manila"`` names ``FakeManilaV2``, ``"fake_sherbrooke"`` names
    ``FakeSherbrooke`` (the device's own ``backend.name``).

    Examples
    --------
    >>> names = fake_device_names()
    >>> names["fake_manila"], names["fake_sherbrooke"]
    ('FakeManilaV2', 'FakeSherbrooke')
    """
    fp = require("qiskit_ibm_runtime.fake_provider", "backend 'ibm' with a fake device")
    names = {}
    for cls in dir(fp):
        if cls.startswith("Fake") and cls not in _NOT_DEVICES:
            base = cls[len("Fake"):]
            base = base[:-2] if base.endswith("V2") else base
            names["fake_" + base.lower()] = cls
    return names


def choose_primitive(fake: bool) -> str:
    """Which primitive runs the PUBs: the one place this is decided.

    - Real devices: ``"executor_estimator"``, i.e.
      ``qiskit_ibm_runtime.executor_estimator.Estimator``. qiskit-ibm-runtime
      0.50 deprecated ``EstimatorV2`` in its favour (it does the pre- and
      post-processing client-side and will become the top-level
      ``Estimator``); code written against the deprecated class would break
      within a release or two.
    - Fake devices: ``"aer_local"``, Aer's own primitives on the ISA circuit
      restricted to the physical qubits its layout uses, with the device
      noise model restricted to them. The runtime's local mode (either
      Estimator on a fake backend) simulates every qubit of the device, which
      is far slower on a large device (measured in ``benchmarks/RESULTS.md``,
      "IBM rehearsal on fake devices"). Running the
      transpiled ISA circuits (not the logical ones on a plain simulator)
      also avoids the executor Estimator's wrong values on a plain
      ``AerSimulator`` when two or more qubits end with RY/U3 (issue 9).

    Examples
    --------
    >>> choose_primitive(fake=True), choose_primitive(fake=False)
    ('aer_local', 'executor_estimator')
    """
    return "aer_local" if fake else "executor_estimator"


def fake_backend(name: str):
    """The fake device ``name`` (a key of :func:`fake_device_names`), built; an unknown name is refused.

    Examples
    --------
    >>> fake_backend("fake_manila").num_qubits
    5
    """
    names = fake_device_names()
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"unknown fake device {name!r}; expected one of {sorted(names)} (a real device: pass "
                         "its backend object, QiskitRuntimeService().backend(name))")
    fp = require("qiskit_ibm_runtime.fake_provider", "a fake device")
    return getattr(fp, names[name])()
