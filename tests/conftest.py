"""Fixtures and the collection order; everything else the tests share is in tests/helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.helpers import FASHION_MNIST

os.environ.setdefault("VAECLI_OFFLINE", "1")  # tests never download
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

WAITS_ON_THE_CLUSTER = "tests/sweeps/test_slurm.py"


def pytest_collection_modifyitems(config, items):
    """The Slurm tests first: they spend minutes waiting on the cluster (a requeued job's hold), and under
    `make test`'s two workers (one file each, in this order) the other worker's tests fill that wait."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] != WAITS_ON_THE_CLUSTER)


@pytest.fixture
def write_config(tmp_path):
    def write(config: dict, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    return write


@pytest.fixture
def fashion_mnist_folder() -> Path:
    """The real data set from Debian's dataset-fashion-mnist; in CI its absence is a failure."""
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        message = f"Fashion-MNIST not found in {FASHION_MNIST} (apt-get install dataset-fashion-mnist)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return FASHION_MNIST
