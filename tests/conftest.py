import os

import numpy as np
import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long runs, excluded from the default suite (-m slow)")
    config.addinivalue_line("markers", "gpu: needs a CUDA device")


def pytest_collection_modifyitems(config, items):
    # GPU tests skip without a GPU, but fail when one was demanded (QRNN_REQUIRE_GPU=1).
    if torch.cuda.is_available() or os.environ.get("QRNN_REQUIRE_GPU") == "1":
        return
    skip = pytest.mark.skip(reason="no CUDA device visible to torch (set QRNN_REQUIRE_GPU=1 to fail instead)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng(request):
    # Fresh inputs per test, reproducible from the test's name.
    return np.random.default_rng(abs(hash(request.node.nodeid)) % 2**32)


def random_inputs(rng, shape, scale=3.0):
    """Random inputs well outside [-1, 1] as well as inside it."""
    return rng.normal(size=shape) * scale
