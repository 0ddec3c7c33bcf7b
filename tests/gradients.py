"""Finite-difference checks of trained weights' gradients, shared by the tests of custom circuits and cells."""
import numpy as np


def check_weight_gradient(res, X, R, h=1e-6, atol=1e-7):
    """Backpropagate ``(res(X) * R).sum()`` into ``res.weights`` and compare with central finite
    differences of every weight; returns the gradient."""
    import torch

    (res(X) * R).sum().backward()
    grad = res.weights.grad.numpy().copy()
    w0 = res.weights.detach().clone()
    fd = np.zeros_like(grad)
    with torch.no_grad():
        for idx in np.ndindex(*grad.shape):
            for sign in (1, -1):
                res.weights.copy_(w0)
                res.weights[idx] += sign * h
                fd[idx] += sign * float((res(X) * R).sum()) / (2 * h)
        res.weights.copy_(w0)
    np.testing.assert_allclose(grad, fd, rtol=0, atol=atol)
    return grad
