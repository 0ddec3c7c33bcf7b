"""Bad input gets a clear error naming the argument."""
import numpy as np
import pytest
import torch

from qrnn import QGRU, QLSTM, QRNN, VQC, AerBackend, PennyLaneBackend, TorchBackend, init_weights


@pytest.mark.parametrize("cls", [QRNN, QLSTM, QGRU])
@pytest.mark.parametrize("X,exc,match", [
    (np.zeros((4, 1)), ValueError, r"X must have shape \(batch, T, input_size=1\)"),
    (np.zeros((2, 3, 2)), ValueError, "input_size=1 features"),
    (np.zeros((0, 3, 1)), ValueError, "empty batch"),
    (np.zeros((2, 0, 1)), ValueError, r"T = 0"),
    (np.array([[[np.nan]]]), ValueError, "NaN or infinite"),
    (np.array([[[np.inf]]]), ValueError, "NaN or infinite"),
    (np.array([[["a"]]]), TypeError, "real numbers"),
    (np.array([[[1 + 1j]]]), TypeError, "real numbers"),
    ([[[1.0], [2.0]], [[1.0]]], ValueError, "ragged"),
    ([np.zeros((3, 1)), np.zeros((0, 1))], ValueError, r"X\[1\] holds empty sequences"),
    ([np.zeros((3, 1)), np.full((2, 1), np.nan)], ValueError, r"X\[1\] contains NaN"),
])
def test_transform_rejects(cls, X, exc, match):
    with pytest.raises(exc, match=match):
        cls(1, 2, seed=0).transform(X)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"input_size": 0}, ValueError, "input_size must be >= 1"),
    ({"hidden_size": 2.5}, TypeError, "hidden_size must be an integer"),
    ({"n_layers": 0}, ValueError, "n_layers must be >= 1"),
    ({"init": "xavier"}, ValueError, "init must be one of"),
    ({"features": "hidden"}, ValueError, "features must be one of"),
    ({"backend": "cirq"}, ValueError, "unknown backend 'cirq'"),
    ({"seed": -1}, ValueError, "seed must be >= 0"),
    ({"seed": "1"}, TypeError, "seed must be an integer"),
    ({"dtype": "float16"}, ValueError, "dtype must be one of"),
    ({"device": "tpu:0"}, ValueError, "device must be a torch device"),
    ({"trainable": True, "backend": "aer"}, ValueError, "differentiable backend"),
    ({"shots": 0}, ValueError, "shots must be >= 1"),
    ({"shots": 100, "trainable": True}, ValueError, "differentiable backend"),
])
def test_constructor_rejects(kwargs, exc, match):
    args = {"input_size": 1, "hidden_size": 2, **kwargs}
    with pytest.raises(exc, match=match):
        QLSTM(**args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error when CUDA is absent")
def test_cuda_asked_for_but_missing():
    with pytest.raises(ValueError, match="no CUDA device"):
        QRNN(1, 2, device="cuda")


def test_module_call_rejects_bad_tensors():
    res = QRNN(1, 2, seed=0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        res(np.zeros((1, 2, 1)))
    with pytest.raises(ValueError, match="NaN"):
        res(torch.full((1, 2, 1), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(batch, T, input_size=1\)"):
        res(torch.zeros(2, 1, dtype=torch.float64))


def test_circuit_arguments():
    with pytest.raises(ValueError, match="n_inputs must be <= n_qubits"):
        VQC(2, 1, n_inputs=3)
    with pytest.raises(ValueError, match="n_qubits must be >= 1"):
        VQC(0)
    with pytest.raises(ValueError, match="init must be one of"):
        init_weights(1, VQC(2), "ones")


@pytest.mark.parametrize("make,exc,match", [
    (lambda: QRNN(1, 2, backend="pennylane:no.such.device"), ValueError,
     r"device must be an installed PennyLane qubit device, one of \[.*'default.qubit'.*'lightning.qubit'.*\]"),
    (lambda: QRNN(1, 2, backend="pennylane:default.gaussian"), ValueError, "qubit device"),
    (lambda: QRNN(1, 2, backend="pennylane:"), ValueError, "unknown backend 'pennylane:'"),
    (lambda: QRNN(1, 2, backend="aer:gpu"), ValueError, "unknown backend 'aer:gpu'"),
    (lambda: QRNN(1, 2, backend="torch:cuda"), ValueError, "unknown backend 'torch:cuda'"),
    (lambda: QRNN(1, 2, backend="cirq"), ValueError, r"unknown backend 'cirq'; expected one of \['torch'"),
    (lambda: QRNN(1, 2, backend=3), TypeError, "backend must be a name from"),
    (lambda: PennyLaneBackend("default.qubit", shots_per_thing=3), ValueError,
     r"cannot create PennyLane device 'default.qubit' with options \{'shots_per_thing': 3\}"),
    (lambda: AerBackend(method="stabilizer"), ValueError, r"method must be one of \['automatic', 'density_matrix'"),
    (lambda: AerBackend(noise_model="ibm_kyiv"), TypeError, "noise_model must be a qiskit_aer.noise.NoiseModel"),
    (lambda: AerBackend(shots=0), ValueError, "shots must be >= 1"),
    (lambda: AerBackend(seed=-2), ValueError, "seed must be >= 0"),
    (lambda: QRNN(1, 2, backend="aer", shots=0), ValueError, "shots must be >= 1"),
    (lambda: QRNN(1, 2, backend="pennylane", shots=10), ValueError, "exact and takes no shots"),
    (lambda: QRNN(1, 2, backend=AerBackend(), shots=10), ValueError, "shots must be set on the backend object"),
    (lambda: TorchBackend("dense"), ValueError, "method must be one of"),
    (lambda: TorchBackend(chunk_bytes=0), ValueError, "chunk_bytes must be >= 1"),
    (lambda: TorchBackend(heisenberg_max_qubits=1.5), TypeError, "heisenberg_max_qubits must be an integer"),
])
def test_backend_configuration_errors_at_construction(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
