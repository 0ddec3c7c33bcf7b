"""The weight-only suffix of a circuit, fused: index permutations, diagonals and Kronecker blocks."""
from __future__ import annotations

import numpy as np
import torch

from ...circuit import GATES, VQC
from .gates import _FIXED_SU2, _gate_matrix


def _cnot_perm(n: int, control: int, target: int) -> np.ndarray:
    idx = np.arange(2**n)
    cbit = (idx >> (n - 1 - control)) & 1
    return idx ^ (cbit << (n - 1 - target))


def _swap_perm(n: int, a: int, b: int) -> np.ndarray:
    idx = np.arange(2**n)
    ba, bb = (idx >> (n - 1 - a)) & 1, (idx >> (n - 1 - b)) & 1
    return idx ^ ((ba ^ bb) << (n - 1 - a)) ^ ((ba ^ bb) << (n - 1 - b))


def _pair_index(n: int, a: int, b: int) -> np.ndarray:
    """``(2^n,)``: ``2 bit_a + bit_b`` of every basis state (the row of a two-wire diagonal)."""
    idx = np.arange(2**n)
    return 2 * ((idx >> (n - 1 - a)) & 1) + ((idx >> (n - 1 - b)) & 1)


def wants_derivative(*tensors: torch.Tensor) -> bool:
    """Whether a derivative through ``tensors`` is wanted: a backward pass (grad mode and
    ``requires_grad``) or forward-mode tangents (dual tensors), which in-place and ``out=``
    operations and compiled kernels cannot carry."""
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return True
    from torch.autograd import forward_ad

    return any(forward_ad.unpack_dual(t).tangent is not None for t in tensors)


def _batched_kron(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(K, p, p)`` and ``(K, q, q)`` -> ``(K, p q, p q)``, ``a`` on the more significant index."""
    K, p, q = a.shape[0], a.shape[1], b.shape[1]
    return (a[:, :, None, :, None] * b[:, None, :, None, :]).reshape(K, p * q, p * q)


class _Variational:
    """The weight-only suffix, fused.

    Each block of permutation gates (CNOT, SWAP) becomes one index
    permutation, each run of diagonal gates (CZ, CRZ, RZZ) one diagonal. The
    single-qubit gates between them become one 2x2 per wire, then Kronecker
    blocks over up to ``fuse`` consecutive wires (16x16 for 4). One block is
    one batched matrix product over the state, so a layer takes ``n / fuse``
    passes over memory instead of ``n``; the state is memory-bound at many
    wires.
    """

    def __init__(self, vqc: VQC, weights: torch.Tensor, cdtype, fuse: int = 4):
        self.n = n = vqc.n_qubits
        self.K = K = weights.shape[0]
        flat = vqc.with_constants(weights.reshape(K, -1))
        device = weights.device
        steps: list = []
        pending: dict[int, torch.Tensor] = {}
        perm = None
        diag = None

        def flush_local():
            wires = sorted(pending)
            while wires:
                # a run of consecutive wires, at most `fuse` long
                run = [wires.pop(0)]
                while wires and wires[0] == run[-1] + 1 and len(run) < fuse:
                    run.append(wires.pop(0))
                block = pending[run[0]]
                for q in run[1:]:
                    block = _batched_kron(block, pending[q])
                steps.append(("block", run[0], len(run), block))
            pending.clear()

        def flush_perm():
            nonlocal perm
            if perm is not None:
                steps.append(("perm", torch.as_tensor(perm, device=device)))
                perm = None

        def flush_diag():
            nonlocal diag
            if diag is not None:
                steps.append(("diag", diag.unsqueeze(-1)))
                diag = None

        for op in vqc.variational_ops():
            spec = GATES[op.name]
            if spec.kind == "permutation":
                flush_local()
                flush_diag()
                for a, b in op.wires:
                    p = _cnot_perm(n, a, b) if op.name == "CNOT" else _swap_perm(n, a, b)
                    perm = p if perm is None else perm[p]
            elif spec.kind == "diagonal":
                flush_local()
                flush_perm()
                for i, (a, b) in enumerate(op.wires):
                    local = _pair_index(n, a, b)  # (2^n,) in 0..3
                    coef = torch.as_tensor(np.asarray(spec.phases)[local], dtype=flat.dtype, device=device)
                    if spec.n_params == 0:
                        d = coef.to(cdtype).expand(K, -1)
                    else:
                        theta = flat[:, vqc.slot(op.params[i])]
                        d = torch.polar(torch.ones_like(coef).expand(K, -1), theta[:, None] * coef).to(cdtype)
                    diag = d if diag is None else diag * d
            else:
                flush_perm()
                flush_diag()
                if spec.kind == "fixed":
                    gates = torch.as_tensor(_FIXED_SU2[op.name], dtype=cdtype, device=device).expand(
                        K, len(op.wires), 2, 2)
                else:
                    if any(ref[0] not in ("w", "c") for ref in op.params):
                        raise ValueError("variational gates may only take weights and constants")
                    # every wire's matrix at once: a trainable group rebuilds these on each forward pass
                    gates = _gate_matrix(op.name, flat[:, [vqc.slot(ref) for ref in op.params]], cdtype)
                new = [q for q in op.wires if q not in pending]
                old = [i for i, q in enumerate(op.wires) if q in pending]
                if old:
                    prods = gates[:, old] @ torch.stack([pending[op.wires[i]] for i in old], dim=1)
                    pending.update({op.wires[i]: prods[:, j] for j, i in enumerate(old)})
                pending.update({q: gates[:, op.wires.index(q)] for q in new})
        flush_local()
        flush_perm()
        flush_diag()
        self.steps = steps

    def apply(self, state: torch.Tensor) -> torch.Tensor:
        """Apply to states ``(K, 2^n, B)`` (amplitude index, then batch)."""
        K, D, B = state.shape
        n = self.n
        for step in self.steps:
            if step[0] == "perm":
                state = state.index_select(1, step[1])
                continue
            if step[0] == "diag":
                state = state * step[1]
                continue
            _, q0, k, mat = step
            a, d, c = 2**q0, 2**k, 2 ** (n - q0 - k) * B
            if a == 1:
                state = torch.bmm(mat, state.reshape(K, d, c)).reshape(K, D, B)
                continue
            # A (d, d) matrix against a (a, d, c) batch of (d, c) slices, in place
            # in memory order: no transposed copies of the state (faster than bringing
            # the block's axis forward at many qubits, same numbers; benchmarks/RESULTS.md,
            # "One-time costs and small engine details").
            view = state.reshape(K, a, d, c)
            if wants_derivative(view, mat):
                state = torch.stack([torch.matmul(mat[k], view[k]) for k in range(K)]).reshape(K, D, B)
            else:
                out = torch.empty_like(view)
                for k in range(K):
                    torch.matmul(mat[k], view[k], out=out[k])
                state = out.reshape(K, D, B)
        return state

    def unitaries(self, cdtype, device) -> torch.Tensor:
        """``(K, 2^n, 2^n)``: the block applied to every basis state is its unitary."""
        D = 2**self.n
        return self.apply(torch.eye(D, dtype=cdtype, device=device).expand(self.K, D, D))
