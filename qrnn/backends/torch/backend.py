""":class:`TorchBackend`: the torch engine's options, and the form it compiles each circuit group into."""
from __future__ import annotations

import torch

from ..._validation import check_choice, check_int, check_seed
from ...circuit import VQC
from ..base import Backend
from . import stream
from .adjoint import unsupported
from .budget import free_memory
from .forms import _GROUPS, _Adjoint


METHODS = ("auto", "heisenberg", "unitary", "gates")  # the last three: forms._GROUPS
GRADIENTS = ("auto", "adjoint", "autograd")


class TorchBackend(Backend):
    """Exact state-vector engine on torch, batched over samples and circuits.

    Parameters
    ----------
    method : {"auto", "heisenberg", "unitary", "gates"}, default "auto"
        How a circuit group is compiled (see :mod:`qrnn.backends.torch`).
    heisenberg_max_qubits, unitary_max_qubits : int
        ``"auto"`` uses the Heisenberg form up to the first, the dense unitary
        up to the second, and gate-by-gate beyond.
    chunk_bytes : int, optional
        The memory budget, in bytes, of one circuit group's evaluation: every
        method splits its batches into chunks that fit it (results do not
        depend on the split), and a group whose operator, or whose single
        sample, does not fit raises :class:`MemoryBudgetError` naming the
        qubits, the budget and the need. Default: half the memory free on
        the group's device, read when a group's operator or batch first
        needs more than 64 MiB (:func:`free_memory`); smaller ones are not
        checked against it.
    stream_max_batch : int or None, default None
        A frozen float64 reservoir on the CPU whose circuits take the
        Heisenberg form (up to ``heisenberg_max_qubits``) runs its whole
        recurrence in a compiled kernel (``qrnn.backends.torch.stream``, numba,
        parallel over sequences) instead of step by step in torch, for
        batches up to this size (None: any size; 0: never). The default
        takes it at every size because the kernel led the torch path at
        every batch size measured, by most at the smallest
        (``benchmarks/bench_stream.py``; the figures are in
        ``benchmarks/RESULTS.md``, "One long stream and small batches:
        compiled recurrence kernels"). It takes precedence over
        ``use_torch_compile``.
    gradient : {"auto", "adjoint", "autograd"}, default "auto"
        How gradients of circuits with trainable weights are computed (in
        training). ``"adjoint"``: each circuit group is one operation whose
        forward pass simulates the state vectors and whose backward pass is
        the adjoint method, both compiled (numba; CPU and float64 only).
        ``"autograd"``: torch differentiates through the compiled form that
        ``method`` picks (any device and dtype, and higher derivatives).
        ``"auto"`` takes ``"adjoint"`` where it applies and ``"autograd"``
        elsewhere. So ``method`` chooses how circuits are evaluated without
        gradients (frozen reservoirs, predictions); with the default
        ``gradient``, training on the CPU in float64 does not use it. Both give
        the same gradients to rounding (``tests/test_adjoint.py``); the
        adjoint path trains the paper's 4-qubit QLSTM several times faster
        (``benchmarks/RESULTS.md``, "Training a fully trained QLSTM").
    shots : int, optional
        ``None`` (default) for exact expectation values; an integer for
        estimates from that many Z-basis outcomes of all wires per circuit
        and input, drawn from the exact (with ``noise``, the noisy)
        distribution, every feature (``<Z_i>``, ``<Z_i Z_j>``) from the same
        outcomes, as hardware measures (``qrnn.backends.torch.noisy``).
        Frozen circuits only (shots have no gradient).
    seed : int or numpy.random.Generator, optional
        Seeds the shots as ``AerBackend`` does: with an int, each call's draws
        come from the seed and the call's weights and inputs (the same data
        gives the same shots whatever ran before; time steps get independent
        ones); a Generator is drawn from at each call; None samples afresh.
    noise : qrnn.backends.Noise, optional
        Device noise, a channel after every gate and a readout flip
        (:class:`~qrnn.backends.Noise`). With ``shots=None`` the exact noisy
        expectation values, in the Heisenberg form with channels (its cost
        grows as ``4^n`` per measured value: up to about 8 wires); with shots,
        samples of the noisy distribution, which takes the values of all
        ``2^n`` Z products (a cost of ``8^n``: up to about 6 wires). ``method`` must then be ``"auto"`` or ``"heisenberg"``.

    Examples
    --------
    >>> import torch
    >>> from qrnn.circuit import VQC
    >>> vqc = VQC(3)
    >>> run = TorchBackend().compile(vqc, torch.zeros(2, 2, 3, 3, dtype=torch.float64))
    >>> tuple(run(torch.zeros(5, 3, dtype=torch.float64)).shape)
    (2, 5, 3)

    Shots and noise:

    >>> from qrnn.backends import Noise
    >>> noisy = TorchBackend(shots=1000, seed=1, noise=Noise(p1=1e-3, p2=1e-2, readout=0.02))
    >>> noisy
    TorchBackend(method='auto', shots=1000, seed=1, noise=Noise(p1=0.001, p2=0.01, readout=0.02))
    >>> out = noisy.compile(vqc, torch.zeros(2, 2, 3, 3, dtype=torch.float64))(torch.zeros(5, 3, dtype=torch.float64))
    >>> bool((out.abs() <= 1).all())
    True
    """

    name = "torch"
    exact = True
    differentiable = True

    def __init__(self, method: str = "auto", heisenberg_max_qubits: int = 5,
                 unitary_max_qubits: int = 7, chunk_bytes=None, stream_max_batch=None, gradient: str = "auto",
                 shots=None, seed=None, noise=None):
        self.method = check_choice(method, "method", METHODS)
        self.heisenberg_max_qubits = check_int(heisenberg_max_qubits, "heisenberg_max_qubits", minimum=0)
        self.unitary_max_qubits = check_int(unitary_max_qubits, "unitary_max_qubits", minimum=0)
        self.chunk_bytes = None if chunk_bytes is None else check_int(chunk_bytes, "chunk_bytes", minimum=1)
        self.stream_max_batch = (None if stream_max_batch is None
                                 else check_int(stream_max_batch, "stream_max_batch", minimum=0))
        self.gradient = check_choice(gradient, "gradient", GRADIENTS)
        self.shots = None if shots is None else check_int(shots, "shots", minimum=1)
        self.seed = check_seed(seed)
        from ..noise import Noise

        if isinstance(noise, dict):  # a saved configuration (TorchBackend.to_config)
            noise = Noise.from_config(noise)
        if noise is not None and not isinstance(noise, Noise):
            raise TypeError(f"noise must be a qrnn.backends.Noise (e.g. Noise(p1=1e-3, p2=1e-2) or "
                            f"Noise.from_device('fake_manila', qubits=...)), got {type(noise).__name__}")
        self.noise = None if noise is None or noise.is_ideal else noise
        if self.noise is not None and self.method not in ("auto", "heisenberg"):
            raise ValueError(f"noise runs in the Heisenberg form with channels; method must be 'auto' or "
                             f"'heisenberg', got {self.method!r}")
        if self.noise is not None and self.gradient == "adjoint":
            raise ValueError("gradient='adjoint' simulates noiseless circuits; with noise use gradient='auto' "
                             "or 'autograd'")
        self.exact = self.shots is None and self.noise is None
        self.differentiable = self.shots is None  # shot estimates have no gradient

    def __repr__(self) -> str:
        extra = "" if self.gradient == "auto" else f", gradient={self.gradient!r}"
        if self.shots is not None:
            extra += f", shots={self.shots}, seed={self.seed}"
        if self.noise is not None:
            extra += f", noise={self.noise!r}"
        return f"TorchBackend(method={self.method!r}{extra})"

    def to_config(self) -> dict:
        return {"kind": "torch", "method": self.method, "heisenberg_max_qubits": self.heisenberg_max_qubits,
                "unitary_max_qubits": self.unitary_max_qubits, "chunk_bytes": self.chunk_bytes,
                "stream_max_batch": self.stream_max_batch, "gradient": self.gradient, "shots": self.shots,
                "seed": self.seed, "noise": None if self.noise is None else self.noise.to_config()}

    def memory_budget(self, device) -> int:
        """Bytes one group's evaluation may use on ``device`` (``chunk_bytes``, or half the free memory)."""
        return self.chunk_bytes if self.chunk_bytes is not None else free_memory(device) // 2

    def resolve_method(self, n_qubits: int) -> str:
        if self.method != "auto":
            return self.method
        if n_qubits <= self.heisenberg_max_qubits:
            return "heisenberg"
        if n_qubits <= self.unitary_max_qubits:
            return "unitary"
        return "gates"

    def run_recurrence(self, cell, xs, state):
        """A frozen float64 reservoir of a built-in cell on the CPU in the Heisenberg form runs its whole
        recurrence in one compiled kernel (``qrnn.backends.torch.stream``); anything else returns None."""
        return stream.run(self, cell, xs, state)

    def compile(self, vqc: VQC, weights: torch.Tensor):
        self.check_weights(vqc, weights)
        if self.shots is not None or self.noise is not None:
            from .noisy import _NoisyHeisenberg, _Sampled

            if self.noise is not None:
                self.noise.check_wires(vqc.n_qubits)
            if self.shots is not None:
                if weights.requires_grad and torch.is_grad_enabled():
                    raise ValueError("shot estimates have no gradient; trainable circuits need an exact "
                                     "TorchBackend() (shots=None)")
                return _Sampled(self, vqc, weights)
            return _NoisyHeisenberg(self, vqc, weights)
        if self.gradient != "autograd" and weights.requires_grad and torch.is_grad_enabled():
            why = unsupported(vqc)
            if weights.device.type != "cpu" or weights.dtype != torch.float64:
                why = f"weights on {weights.device.type!r} in {weights.dtype} (it runs on the CPU in float64)"
            if why is None:
                return _Adjoint(self, vqc, weights)
            if self.gradient == "adjoint":
                raise ValueError(f"gradient='adjoint' cannot run this circuit group: {why}; use gradient='auto' "
                                 "(which falls back to autograd) or 'autograd'")
        return _GROUPS[self.resolve_method(vqc.n_qubits)](self, vqc, weights)
