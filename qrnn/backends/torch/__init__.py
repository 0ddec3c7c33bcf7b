"""The package's own exact state-vector engine, on torch (CPU or CUDA): :class:`TorchBackend`.

A reservoir's circuits are fixed, so :meth:`TorchBackend.compile` does the
expensive part once per call of a cell and each time step is cheap:

``"heisenberg"``
    Each measured ``Z_k`` is carried into the Heisenberg picture,
    ``O_k = U^dagger Z_k U``, and expanded in Pauli strings. The encoded state
    is a product state, so ``<O_k>`` is the Pauli coefficients dotted with the
    Kronecker product of the wires' Bloch 4-vectors ``(1, x, y, z)``: one real
    matrix product ``(K n, 4^n) @ (4^n, B)`` gives every output of every
    circuit sharing the input. Cost ``K n 4^n`` per sample; best for few wires.
``"unitary"``
    The variational block as a dense unitary per circuit, applied to the
    product state by one real matrix product ``(2 K 2^n, 2^(n+1)) @ (2^(n+1), B)``
    (real and imaginary parts stacked). Cost ``4 K 4^n`` real MACs per sample.
``"gates"``
    Batched gate-by-gate application: each CNOT block fused into one index
    permutation, each run of single-qubit gates fused into one 2x2 matrix per
    wire. Cost ``~ K L n 2^(n+1)`` per sample; the only choice for many wires.

``"auto"`` picks by qubit count (thresholds from ``benchmarks/RESULTS.md``,
"Torch engine scaling, 2 to 20 qubits").
Everything is made of differentiable torch operations, so gradients reach
both the inputs and the weights.

Tensors keep the batch last ("columns": ``(features, B)``), so that every
elementwise operation runs along contiguous memory.

The modules, each one concept:

- :mod:`~qrnn.backends.torch.backend`: :class:`TorchBackend` itself, and how it picks a form;
- :mod:`~qrnn.backends.torch.forms`: the compiled forms of a circuit group (Heisenberg,
  unitary, gate by gate, adjoint) and their chunking to the memory budget;
- :mod:`~qrnn.backends.torch.encoding`: the input-dependent product-state prefix;
- :mod:`~qrnn.backends.torch.variational`: the weight-only suffix, fused (gate matrices,
  permutations, diagonals);
- :mod:`~qrnn.backends.torch.gates`: the one-wire gates' actions on amplitudes and Bloch vectors;
- :mod:`~qrnn.backends.torch.budget`: free memory and :class:`MemoryBudgetError`;
- :mod:`~qrnn.backends.torch.allocator`: :func:`tune_allocator` (glibc's malloc, opt-in);
- :mod:`~qrnn.backends.torch.stream` and :mod:`~qrnn.backends.torch.stream_kernels`: whole
  recurrences of frozen reservoirs in compiled code (numba);
- :mod:`~qrnn.backends.torch.adjoint` and :mod:`~qrnn.backends.torch.adjoint_kernels`: adjoint
  gradients of trainable circuits in compiled code (numba).
"""
from __future__ import annotations

from .allocator import tune_allocator
from .backend import GRADIENTS, METHODS, TorchBackend
from .budget import MemoryBudgetError, free_memory

__all__ = ["TorchBackend", "METHODS", "GRADIENTS", "MemoryBudgetError", "free_memory", "tune_allocator"]
