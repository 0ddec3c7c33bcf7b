"""One epoch of a fully trained QLSTM: qrnn against the usual PennyLane TorchLayer build, in one run.

The model is the paper's QLSTM(1, 3): 4 qubits, 2 layers, six VQCs, trained
end to end with its linear readout (MSE, RMSprop lr 0.01, batch 10,
float64) on 100 windows of 4 steps of the damped-SHM task. The PennyLane
model is built the way QLSTM papers' code does it: six ``qml.qnn.TorchLayer``
VQCs on ``default.qubit`` with backprop and batched inputs, the same circuit
and cell equations. Also recorded: the time to a final model for reservoir +
ridge against fully trained (100 epochs). qrnn is timed with its default
gradients (the compiled adjoint kernels) and with ``gradient="autograd"``
(torch's autograd through the compiled circuit forms).

Run: ``python -m benchmarks.bench_training [--epochs 10] [--out benchmarks/results/training-cpu.json]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks import cpu_name

from qrnn import QLSTM, ReservoirRegressor, TrainedRegressor
from qrnn.backends import TorchBackend, warm_up
from qrnn.tasks import damped_shm, make_windows, minmax_scale


def data(n: int = 100):
    X, y = make_windows(minmax_scale(damped_shm()), window=4)
    return X[:n], y[:n]


def pennylane_qlstm(n_qubits: int = 4, n_layers: int = 2, hidden: int = 3, seed: int = 0):
    """A QLSTM of six TorchLayer VQCs, as QLSTM code is usually written."""
    import pennylane as qml

    dev = qml.device("default.qubit", wires=n_qubits)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def vqc(inputs, weights):
        for w in range(n_qubits):
            qml.Hadamard(wires=w)
            qml.RY(torch.atan(inputs[..., w]), wires=w)
            qml.RZ(torch.atan(inputs[..., w] ** 2), wires=w)
        for layer in range(n_layers):
            for d in (1, 2):
                for i in range(n_qubits):
                    qml.CNOT(wires=[i, (i + d) % n_qubits])
            for w in range(n_qubits):
                qml.Rot(*weights[layer, w], wires=w)
        return [qml.expval(qml.Z(w)) for w in range(n_qubits)]

    torch.manual_seed(seed)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.vqcs = torch.nn.ModuleList(
                qml.qnn.TorchLayer(vqc, {"weights": (n_layers, n_qubits, 3)}) for _ in range(6))
            self.readout = torch.nn.Linear(n_qubits, 1)
            self.double()

        def forward(self, x):  # (B, T, 1)
            B = x.shape[0]
            h, c = x.new_zeros(B, hidden), x.new_zeros(B, n_qubits)
            for t in range(x.shape[1]):
                v = torch.cat((x[:, t], h), dim=1)
                f, i = torch.sigmoid(self.vqcs[0](v)), torch.sigmoid(self.vqcs[1](v))
                g, o = torch.tanh(self.vqcs[2](v)), torch.sigmoid(self.vqcs[3](v))
                c = f * c + i * g
                a = o * torch.tanh(c)
                h = self.vqcs[4](a)[:, :hidden]
                y = self.vqcs[5](a)
            return self.readout(y)[:, 0]

    return Model()


def pennylane_epoch_seconds(X, y, epochs: int = 3, batch: int = 10) -> float:
    """Median seconds of ``epochs`` epochs, after one warm-up batch (the same footing as qrnn's)."""
    model = pennylane_qlstm()
    opt = torch.optim.RMSprop(model.parameters(), lr=0.01, alpha=0.99, eps=1e-8)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    rng = np.random.default_rng(0)

    def step(idx):
        opt.zero_grad()
        loss = torch.mean((model(Xt[idx]) - yt[idx]) ** 2)
        loss.backward()
        opt.step()

    step(np.arange(batch))  # warm-up: imports, first-call costs
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        for idx in np.array_split(rng.permutation(len(X)), len(X) // batch):
            step(idx)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10, help="epochs to take the median of, for each")
    ap.add_argument("--out", default="benchmarks/results/training-cpu.json")
    args = ap.parse_args(argv)
    X, y = data()
    warm_up()  # numba's compiled kernels are loaded (or built, once per machine) outside the timing

    def qrnn_epoch_seconds(gradient):
        model = QLSTM(1, 3, seed=0, trainable=True, backend=TorchBackend(gradient=gradient))
        est = TrainedRegressor(model, epochs=args.epochs, random_state=0, progress=False).fit(X, y)
        return float(np.median([h["seconds"] for h in est.history_]))

    qrnn_epoch = qrnn_epoch_seconds("auto")  # the default: the adjoint kernels on the CPU in float64
    autograd_epoch = qrnn_epoch_seconds("autograd")
    pl_epoch = pennylane_epoch_seconds(X, y, args.epochs)

    t = time.perf_counter()
    ReservoirRegressor(QLSTM(1, 3, seed=0), alpha="loo").fit(X, y)
    ridge_total = time.perf_counter() - t
    t = time.perf_counter()
    TrainedRegressor(QLSTM(1, 3, seed=0, trainable=True), epochs=100, random_state=0, progress=False).fit(X, y)
    trained_total = time.perf_counter() - t

    import pennylane

    result = {
        "command": "python -m benchmarks.bench_training " + " ".join(argv if argv is not None else sys.argv[1:]),
        "cpu": cpu_name(), "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(), "torch": torch.__version__, "pennylane": pennylane.__version__,
        "epochs_median_of": args.epochs,
        "qrnn_epoch_s": qrnn_epoch, "qrnn_autograd_epoch_s": autograd_epoch,
        "pennylane_torchlayer_epoch_s": pl_epoch,
        "speedup": pl_epoch / qrnn_epoch, "speedup_autograd": pl_epoch / autograd_epoch,
        "reservoir_ridge_total_s": ridge_total, "fully_trained_100_epochs_total_s": trained_total,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
