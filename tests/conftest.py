"""Shared fixtures: tiny real configs, a scratch runs folder, and the real Fashion-MNIST location."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("VAECLI_OFFLINE", "1")  # tests never download
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FASHION_MNIST = Path(os.environ.get("VAECLI_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
WAITS_ON_THE_CLUSTER = "tests/test_sweep_slurm.py"


def pytest_collection_modifyitems(config, items):
    """The Slurm tests first: they spend minutes waiting on the cluster (a requeued job's hold), and under
    `make test`'s two workers (one file each, in this order) the other worker's tests fill that wait."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] != WAITS_ON_THE_CLUSTER)


def vae(*args):
    """Run the real `vae` command line in-process (typer's CliRunner); arguments may be paths or numbers."""
    from typer.testing import CliRunner

    from vaecli.cli import app

    return CliRunner().invoke(app, [str(arg) for arg in args])


def vae_process(*args, environment: dict | None = None, **popen) -> subprocess.Popen:
    """The real `vae` as its own process (python -m vaecli.cli), output merged: for kills, signals and races."""
    return subprocess.Popen(
        [sys.executable, "-m", "vaecli.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(environment or {})},
        **popen,
    )


def ok(*args) -> str:
    """`vae *args` must succeed; returns its output."""
    result = vae(*args)
    assert result.exit_code == 0, result.output
    return result.output


def tiny_config(**sections) -> dict:
    """A real VAE config small enough to train an epoch in well under a second."""
    config = {
        "name": "tiny",
        "seed": 3,
        "data": {"source": "synthetic", "image_size": 16, "num_images": 640, "num_test_images": 64},
        "model": {
            "kind": "vae",
            "z_dim": 4,
            "encoder": {"filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2]},
            "decoder": {"filters": [16, 3], "kernel_sizes": [3, 3], "strides": [2, 2]},
        },
        "loss": {"reconstruction": "bce", "kl_factor": 1.0},
        # float32 on every CPU: tests compare numbers at float32 precision; the bfloat16 path is forced on where a
        # test exercises it (mixed_precision "on", or VAECLI_CPU_BFLOAT16=1 for "auto").
        "train": {
            "epochs": 3,
            "batch_size": 100,
            "learning_rate": 3e-3,
            "validation_split": 0.1,
            "mixed_precision": False,
        },
        "output": {"image_every": 1, "grid_images": 8},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    return config


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
