import contextlib
import os
import zlib

import numpy as np
import pytest
import torch

from qrnn.registry import MODELS, register_model
from tests.test_user_cell import NAME as _GATED_UNIT, GatedUnit

#: Cells written in the tests, registered as a user registers theirs. They are in
#: qrnn.registry.MODELS while the test files are collected (this file is imported first), so
#: every test parametrised over MODELS.names(tag=...) covers them; then they are removed
#: (pytest_collection_finish) and registered again only for the tests whose parameters name
#: them, so that what the rest of the run lists (the package's doctests, the study's
#: model names) is the package's own registry.
TEST_MODELS = {_GATED_UNIT: GatedUnit}


@contextlib.contextmanager
def models_registered(names):
    """The test cells ``names`` registered (those not already) for the duration of the block."""
    added = [n for n in names if n not in MODELS]
    for n in added:
        register_model(TEST_MODELS[n], name=n)
    try:
        yield
    finally:
        for n in added:
            if n in MODELS:
                MODELS.unregister(n)


for _name, _cls in TEST_MODELS.items():
    register_model(_cls, name=_name)


def pytest_collection_finish(session):
    for name in TEST_MODELS:
        if name in MODELS:
            MODELS.unregister(name)


@pytest.fixture(autouse=True)
def _test_models_registered_where_named(request):
    spec = getattr(request.node, "callspec", None)
    named = [v for v in (spec.params.values() if spec else ()) if isinstance(v, str) and v in TEST_MODELS]
    with models_registered(named):
        yield


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


def seed_of(nodeid: str) -> int:
    """The seed of a test's ``rng``: CRC-32 of its id, the same in every process and on every machine.

    (Python's ``hash`` of a string is salted per process, which made failures
    impossible to reproduce from a log.)
    """
    return zlib.crc32(nodeid.encode())


@pytest.fixture
def rng(request):
    # Fresh inputs per test, reproducible from the test's id alone.
    seed = seed_of(request.node.nodeid)
    request.node.rng_seed = seed
    return np.random.default_rng(seed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    seed = getattr(item, "rng_seed", None)
    if report.failed and seed is not None:
        report.sections.append(("rng", f"this test's inputs came from numpy.random.default_rng({seed}) "
                                       f"(zlib.crc32 of {item.nodeid!r})"))
    return report


def random_inputs(rng, shape, scale=3.0):
    """Random inputs well outside [-1, 1] as well as inside it."""
    return rng.normal(size=shape) * scale
