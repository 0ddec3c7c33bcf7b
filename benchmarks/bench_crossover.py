"""Where TorchBackend(method="auto") should switch forms: one group of 6 circuits per method and size.

Milliseconds per ``columns`` call (2 layers, B = 1024 up to 8 qubits, 256 beyond),
best of 5; the fastest form per size. The thresholds in ``TorchBackend``
(``heisenberg_max_qubits=5``, ``unitary_max_qubits=7``) come from this table
(benchmarks/RESULTS.md).

Run: ``python -m benchmarks.bench_crossover``
"""
import torch, time, qrnn
from qrnn.backends import TorchBackend
for n in range(4, 11):
    vqc = qrnn.VQC(n, 2); w = torch.as_tensor(qrnn.init_weights(6, vqc, "uniform", seed=0))
    B = 1024 if n <= 8 else 256
    v = torch.randn(n, B, dtype=torch.float64)
    row = {}
    for m in ("heisenberg", "unitary", "gates"):
        if (m == "heisenberg" and n > 7) or (m == "unitary" and n > 10): continue
        g = TorchBackend(m).compile(vqc, w)
        with torch.no_grad():
            g.columns(v); ts = []
            for _ in range(5):
                t = time.perf_counter(); g.columns(v); ts.append(time.perf_counter() - t)
        row[m] = min(ts) * 1e3
    print(n, B, {k: round(x, 2) for k, x in row.items()}, "best:", min(row, key=row.get))
