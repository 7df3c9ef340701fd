"""train.distribute: a MirroredStrategy run over two logical CPU devices matches a single-device run.

The logical devices must be configured before TensorFlow starts, so both runs happen in a fresh
subprocess (the test process's TensorFlow is already running with one CPU device).
"""

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import tiny_config

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
from pathlib import Path

import tensorflow as tf
import yaml

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from vaecli.config import validate
from vaecli.runs import RunPaths
from vaecli.training import train

config = yaml.safe_load(Path(sys.argv[1]).read_text())
for distribute in sys.argv[3:]:
    resolved = validate({**config, "name": distribute, "train": {**config["train"], "distribute": distribute}})
    train(resolved, RunPaths(Path(sys.argv[2]) / distribute), quiet=True)
"""


def run_both(tmp_path, config: dict) -> tuple[list[dict], list[dict], dict]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(path), str(tmp_path / "runs"), "none", "mirrored"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr

    def rows(name):
        return [json.loads(line) for line in (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()]

    manifest = json.loads((tmp_path / "runs" / "mirrored" / "manifest.json").read_text())
    return rows("none"), rows("mirrored"), manifest


LOSS_KEYS = ("loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss", "val_kl_loss")


def test_mirrored_on_two_devices_matches_one_device(tmp_path):
    # An AE (no sampling noise) on 587 training images in batches of 50: the last batch of 37
    # splits unevenly (19 + 18), which a per-replica mean (rather than a global one) would get wrong.
    config = tiny_config(model={"kind": "ae"}, data={"num_images": 652},
                         train={"epochs": 3, "batch_size": 50, "mixed_precision": False})
    single, mirrored, manifest = run_both(tmp_path, config)
    assert manifest["distribute"]["replicas"] == 2 and manifest["distribute"]["strategy"] == "MirroredStrategy"
    assert manifest["data"]["train"] == 587
    for one, two in zip(single, mirrored):
        for key in LOSS_KEYS:
            assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-6), (one["epoch"], key)
    assert mirrored[-1]["val_loss"] < mirrored[0]["val_loss"]


def test_a_mirrored_vae_trains_with_the_loss_identity(tmp_path):
    config = tiny_config(train={"epochs": 2, "mixed_precision": False})
    single, mirrored, _ = run_both(tmp_path, config)
    for row in mirrored:
        assert row["loss"] == pytest.approx(row["reconstruction_loss"] + row["kl_loss"], rel=1e-6)
    # Sampling noise differs between the layouts, so only the scale must agree.
    assert mirrored[-1]["val_loss"] == pytest.approx(single[-1]["val_loss"], rel=0.05)
