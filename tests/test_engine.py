"""The torch engine's structure, the encoding's input cap, and the opt-in allocator tuning."""
import ctypes
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from qrnn import VQC, init_weights
from qrnn.backends import TorchBackend
from qrnn.backends.torch import allocator, forms
from tests.conftest import random_inputs


def test_each_method_compiles_to_its_own_class():
    vqc = VQC(3, 1)
    w = torch.as_tensor(init_weights(2, vqc, "uniform", seed=0))
    groups = {m: TorchBackend(m).compile(vqc, w) for m in ("heisenberg", "unitary", "gates")}
    assert {m: g.method for m, g in groups.items()} == {m: m for m in groups}
    assert len({type(g) for g in groups.values()}) == 3
    for g in groups.values():  # the contract the cells use
        assert isinstance(g, forms._CompiledGroup)
        assert g.K == 2 and g.vqc == vqc and callable(g.columns)


@pytest.mark.parametrize("n_qubits,method", [(2, "heisenberg"), (3, "unitary"), (4, "gates")])
def test_auto_picks_the_method_by_qubit_count(n_qubits, method):
    be = TorchBackend(heisenberg_max_qubits=2, unitary_max_qubits=3)
    vqc = VQC(n_qubits, 1)
    assert be.resolve_method(n_qubits) == method
    assert be.compile(vqc, torch.zeros((1,) + vqc.weight_shape, dtype=torch.float64)).method == method


@pytest.mark.parametrize("method", ["heisenberg", "unitary", "gates"])
def test_bounded_columns_equal_unbounded_within_the_cap(method, rng):
    # bounded=True only skips the clamp the caller already did: same numbers to the bit.
    vqc = VQC(3, 2)
    run = TorchBackend(method).compile(vqc, torch.as_tensor(init_weights(2, vqc, "uniform", seed=1)))
    v = torch.as_tensor(random_inputs(rng, (3, 8)))
    v[0, 0], v[1, 1] = 1e18, -1e18  # at the float64 cap itself
    assert torch.equal(run.columns(v, bounded=True), run.columns(v))


@pytest.mark.parametrize("method", ["heisenberg", "unitary", "gates"])
def test_inputs_beyond_the_cap_give_the_capped_result(method):
    vqc = VQC(2, 1)
    for dtype, cap in ((torch.float64, 1e18), (torch.float32, 1e9)):
        run = TorchBackend(method).compile(vqc, torch.as_tensor(init_weights(1, vqc, "uniform", seed=2),
                                                                dtype=dtype))
        huge = torch.tensor([[1e300 if dtype == torch.float64 else 1e38, -1e30]], dtype=dtype)
        capped = torch.tensor([[cap, -cap]], dtype=dtype)
        out = run(huge)
        assert torch.isfinite(out).all()
        assert torch.equal(out, run(capped))


def test_input_cap_refuses_other_dtypes():
    assert VQC.input_cap(torch.float64) == 1e18 and VQC.input_cap(torch.float32) == 1e9
    with pytest.raises(TypeError, match=r"one of \[torch.float64, torch.float32\], got dtype torch.float16"):
        VQC.input_cap(torch.float16)


def test_half_angle_and_angle_trig_agree_with_arctan(rng):
    vqc = VQC(2, 1)
    x = torch.as_tensor(random_inputs(rng, (2, 5)))
    t = vqc.input_angles(x.T).T  # (2 n_inputs, B)
    c, s = vqc.input_angle_trig(x)
    ch, sh = vqc.input_half_angle_trig(x)
    for got, want in ((c, torch.cos(t)), (s, torch.sin(t)), (ch, torch.cos(t / 2)), (sh, torch.sin(t / 2))):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-15)


# ---- allocator tuning: opt-in only -------------------------------------------------------------

_RECORD_MALLOPT = """
import ctypes, json, sys
calls = []

class Recording(ctypes.CDLL):  # every library opened through ctypes.CDLL, mallopt recorded
    def __getattr__(self, name):
        if name == "mallopt":
            return lambda *args: calls.append(args) or 1
        return super().__getattr__(name)

    def __getitem__(self, name):
        return self.__getattr__(name) if name == "mallopt" else super().__getitem__(name)

ctypes.CDLL = Recording
import numpy as np, torch
import qrnn
from qrnn.backends import TorchBackend, tune_allocator
res = qrnn.QLSTM(1, 3, seed=0)
res(torch.zeros(4, 3, 1, dtype=torch.float64))
vqc = qrnn.VQC(3)
for method in ("heisenberg", "unitary", "gates"):
    TorchBackend(method).compile(vqc, torch.zeros(1, 2, 3, 3, dtype=torch.float64))(torch.zeros(2, 3, dtype=torch.float64))
before = list(calls)
applied = tune_allocator()
print(json.dumps({"before": before, "applied": applied, "after": calls}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is only called on Linux")
def test_import_compile_and_transform_leave_malloc_alone():
    out = subprocess.run([sys.executable, "-c", _RECORD_MALLOPT], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["before"] == []  # import qrnn, a transform, every compile method: no mallopt
    assert got["applied"] is True
    assert got["after"] == [[-3, 32 * 2**20], [-1, 128 * 2**20]]  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD


class _FakeLibc:
    def __init__(self, result):
        self.result, self.calls = result, []

    def mallopt(self, *args):
        self.calls.append(args)
        return self.result


@pytest.fixture
def untuned(monkeypatch):
    monkeypatch.setattr(allocator, "_ALLOCATOR_TUNED", False)


def test_tune_allocator_applies_once_and_remembers(untuned, monkeypatch):
    libc = _FakeLibc(1)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    assert allocator.tune_allocator() is True
    assert allocator.tune_allocator() is True
    assert libc.calls == [(-3, 32 * 2**20), (-1, 128 * 2**20)]  # not repeated


def test_tune_allocator_is_a_no_op_off_linux(untuned, monkeypatch):
    libc = _FakeLibc(1)
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    assert allocator.tune_allocator() is False
    assert libc.calls == []


def test_tune_allocator_without_glibc_or_refused(untuned, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")

    def no_glibc(name):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(ctypes, "CDLL", no_glibc)  # e.g. musl
    assert allocator.tune_allocator() is False
    refusing = _FakeLibc(0)  # mallopt returns 0 on error
    monkeypatch.setattr(ctypes, "CDLL", lambda name: refusing)
    assert allocator.tune_allocator() is False
    assert allocator._ALLOCATOR_TUNED is False  # a later call tries again
