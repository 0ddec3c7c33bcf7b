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
    State vectors, the only choice for many wires. Without gradients it runs
    the fused program (:mod:`~qrnn.backends.torch.fused`): the product state
    is never stored, each layer's CNOTs are one gather through a GF(2) index
    map, its one-wire gates real rotations and phases applied in two
    cache-blocked passes, and the Z products are read off the last pass, so
    the paper's 2-layer circuit costs about four passes over each state
    (compiled kernels on the CPU in float64, torch operations on CUDA). With
    gradients, or gates the program does not know, batched gate-by-gate
    torch operations: each CNOT block fused into one index permutation, each
    run of single-qubit gates into one 2x2 matrix per wire, applied in
    Kronecker blocks. Cost ``~ K L n 2^(n+1)`` per sample.

``"auto"`` picks by qubit count (thresholds from ``benchmarks/RESULTS.md``,
"Torch engine scaling, 2 to 20 qubits").
Every form but the fused program is made of differentiable torch
operations, so gradients reach both the inputs and the weights; the fused
program runs only where no gradient is wanted.

Tensors keep the batch last ("columns": ``(features, B)``), so that every
elementwise operation runs along contiguous memory.

The modules, each one concept:

- :mod:`~qrnn.backends.torch.backend`: :class:`TorchBackend` itself, and how it picks a form;
- :mod:`~qrnn.backends.torch.forms`: the compiled forms of a circuit group (Heisenberg,
  unitary, gate by gate, adjoint) and their chunking to the memory budget;
- :mod:`~qrnn.backends.torch.encoding`: the input-dependent product-state prefix;
- :mod:`~qrnn.backends.torch.variational`: the weight-only suffix, fused (gate matrices,
  permutations, diagonals), in torch operations;
- :mod:`~qrnn.backends.torch.fused` and :mod:`~qrnn.backends.torch.fused_kernels`: the
  many-qubit program of the ``"gates"`` form without gradients (numba on the CPU);
- :mod:`~qrnn.backends.torch.gates`: the one-wire gates' actions on amplitudes and Bloch vectors;
- :mod:`~qrnn.backends.torch.budget`: free memory and :class:`MemoryBudgetError`;
- :mod:`~qrnn.backends.torch.allocator`: :func:`tune_allocator` (glibc's malloc, opt-in);
- :mod:`~qrnn.backends.torch.stream` and :mod:`~qrnn.backends.torch.stream_kernels`: whole
  recurrences of frozen reservoirs in compiled code (numba);
- :mod:`~qrnn.backends.torch.adjoint` and :mod:`~qrnn.backends.torch.adjoint_kernels`: adjoint
  gradients of trainable circuits in compiled code (numba);
- :mod:`~qrnn.backends.torch.noisy`: shots and device noise (``TorchBackend(shots=, noise=)``):
  the Heisenberg form with channels, and Z-basis sampling.
"""
from __future__ import annotations

from .allocator import tune_allocator
from .backend import GRADIENTS, METHODS, TorchBackend
from .budget import MemoryBudgetError, free_memory

__all__ = ["TorchBackend", "METHODS", "GRADIENTS", "MemoryBudgetError", "free_memory", "tune_allocator"]
