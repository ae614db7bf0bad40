"""Shared pytest setup: import the project from the repo root, run on CPU, seed."""
import logging
import os
import random
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import paddle  # noqa: E402

paddle.set_device("cpu")

# one exported mini and one digits set for every deploy test file (session scope)
from deploy_helpers import digits, exported  # noqa: E402,F401


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true",
                     help="also run tests marked slow (e.g. the 20 SIGKILL trials)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    paddle.seed(0)
    yield


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """24 training and 9 validation images of 3 classes (engine tests; a module may override)."""
    from engine_helpers import make_splits

    root = str(tmp_path_factory.mktemp("data"))
    return make_splits(root, 24, 9)


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def ppcls_warnings():
    """Warnings and errors logged on PaddleClas's "ppcls" logger. Its init_logger() turns propagation
    off, so caplog misses them: listen on the logger itself."""
    records = _Records()
    logging.getLogger("ppcls").addHandler(records)
    yield records.messages
    logging.getLogger("ppcls").removeHandler(records)
