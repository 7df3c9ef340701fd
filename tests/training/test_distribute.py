"""train.distribute: a MirroredStrategy run over two logical CPU devices, and a MultiWorkerMirroredStrategy
run over two worker processes on this machine, match a single-device run.

The devices must be configured before TensorFlow starts, so every run happens in a fresh
subprocess (the test process's TensorFlow is already running with one CPU device).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import tiny_config

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
from vaecli.training.loop import run_training as train

config = yaml.safe_load(Path(sys.argv[1]).read_text())
for distribute in sys.argv[3:]:
    resolved = validate({**config, "name": distribute, "train": {**config["train"], "distribute": distribute}})
    train(resolved, RunPaths(Path(sys.argv[2]) / distribute), quiet=True)
"""


def run_both(tmp_path, config: dict) -> tuple[list[dict], list[dict], dict]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), str(tmp_path / "runs"), "none", "mirrored"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    def rows(name):
        return [json.loads(line) for line in (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()]

    manifest = json.loads((tmp_path / "runs" / "mirrored" / "manifest.json").read_text())
    return rows("none"), rows("mirrored"), manifest


LOSS_KEYS = ("loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss", "val_kl_loss")


def test_mirrored_on_two_devices_matches_one_device(tmp_path):
    # An AE (no sampling noise) on 587 training images in batches of 50: the last batch of 37
    # splits unevenly (19 + 18), which a per-replica mean (rather than a global one) would get wrong.
    config = tiny_config(
        model={"kind": "ae"}, data={"num_images": 652}, train={"epochs": 3, "batch_size": 50, "mixed_precision": False}
    )
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
        assert row["loss"] == row["reconstruction_loss"] + row["kl_penalty"]
        assert row["loss"] == pytest.approx(row["reconstruction_loss"] + row["kl_loss"], rel=1e-6)
    # Sampling noise differs between the layouts (each replica draws its own), so the losses agree
    # statistically: the last epoch's within 2%.
    for key in ("loss", "reconstruction_loss", "val_loss", "val_reconstruction_loss"):
        assert mirrored[-1][key] == pytest.approx(single[-1][key], rel=0.02), key


REPLICA_NOISE = """
import json

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from vaecli.models import Sampling

strategy = tf.distribute.MirroredStrategy(devices=[d.name for d in tf.config.list_logical_devices("CPU")])
with strategy.scope():
    sampling = Sampling(seed=5, dtype="float32")
zeros = tf.zeros((3, 6))

@tf.function
def step():
    return strategy.run(lambda: sampling([zeros, zeros]))

for _ in range(2):
    per_replica = [np.asarray(value) for value in strategy.experimental_local_results(step())]
    print("EPS", json.dumps(np.stack(per_replica).tolist()))
"""


def test_each_replica_draws_its_own_sampling_noise(tmp_path):
    # The seed generator is mirrored: without the replica id folded into the drawn seed, replica 1
    # would draw exactly replica 0's epsilon at every step.
    result = subprocess.run([sys.executable, "-c", REPLICA_NOISE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    steps = [np.array(json.loads(line[4:])) for line in result.stdout.splitlines() if line.startswith("EPS ")]
    assert len(steps) == 2 and steps[0].shape == (2, 3, 6)
    for epsilon in steps:
        assert np.abs(epsilon[0] - epsilon[1]).min() > 0  # the replicas differ everywhere
    assert np.abs(steps[0] - steps[1]).min() > 0  # and each step draws anew
    assert abs(np.concatenate([step.ravel() for step in steps]).std() - 1) < 0.35  # N(0, 1) draws


RESUME = """
import sys
from pathlib import Path

import tensorflow as tf
import yaml

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from vaecli.training.callbacks import EpochRecorder
from vaecli.config import validate
from vaecli.errors import TrainingInterrupted
from vaecli.runs import RunPaths
from vaecli.training.loop import run_training as train

config = validate(yaml.safe_load(Path(sys.argv[1]).read_text()))
runs = Path(sys.argv[2])
train(config, RunPaths(runs / "a"), quiet=True)
original = EpochRecorder.on_epoch_end

def stop_after_first_epoch(self, epoch, logs=None):
    original(self, epoch, logs)
    if epoch == 0:
        raise KeyboardInterrupt

EpochRecorder.on_epoch_end = stop_after_first_epoch
try:
    train(config, RunPaths(runs / "b"), quiet=True)
except TrainingInterrupted:
    print("INTERRUPTED")
EpochRecorder.on_epoch_end = original
train(config, RunPaths(runs / "b"), resume=True, quiet=True)
"""


def test_kill_and_resume_under_mirrored_stays_exact(tmp_path):
    from tests.helpers import comparable, weights

    config = tiny_config(
        train={"epochs": 3, "mixed_precision": False, "distribute": "mirrored"},
        loss={"kl_schedule": "warmup", "warmup_epochs": 1.5},  # resumed in the middle of the warm-up
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-c", RESUME, str(path), str(tmp_path / "runs")], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "INTERRUPTED" in result.stdout
    resumed, uninterrupted = tmp_path / "runs" / "b", tmp_path / "runs" / "a"
    assert json.loads((resumed / "manifest.json").read_text())["distribute"]["replicas"] == 2
    assert comparable(resumed) == comparable(uninterrupted)
    assert [row["kl_weight"] for row in comparable(resumed)] == pytest.approx([5 / 9, 1.0, 1.0])  # 6 steps/epoch
    for one, two in zip(weights(resumed), weights(uninterrupted)):
        np.testing.assert_array_equal(one, two)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for open_socket in sockets:
        open_socket.bind(("localhost", 0))
    ports = [open_socket.getsockname()[1] for open_socket in sockets]
    for open_socket in sockets:
        open_socket.close()
    return ports


def test_multi_worker_on_two_processes_matches_one_device(tmp_path, write_config):
    # Two workers of one replica each, as two machines would run them: $TF_CONFIG names the cluster
    # and the task; each writes its own run folder.
    config = tiny_config(
        model={"kind": "ae"}, data={"num_images": 652}, train={"epochs": 2, "batch_size": 50, "mixed_precision": False}
    )
    path = write_config(config)
    vae = str(Path(sys.executable).parent / "vae")
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    workers = [
        subprocess.Popen(
            [
                vae,
                "train",
                str(path),
                "--set",
                "train.distribute=multi_worker",
                "--quiet",
                "--runs-dir",
                str(tmp_path / f"worker{index}"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={
                **os.environ,
                "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            },
        )
        for index in range(2)
    ]
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    assert all("Traceback" not in output and "Warning" not in output for output in outputs), outputs
    single = subprocess.run(
        [vae, "train", str(path), "--quiet", "--runs-dir", str(tmp_path / "single")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert single.returncode == 0, single.stdout + single.stderr

    def rows(folder):
        return [json.loads(line) for line in (tmp_path / folder / "tiny" / "metrics.jsonl").read_text().splitlines()]

    manifest = json.loads((tmp_path / "worker0" / "tiny" / "manifest.json").read_text())
    assert manifest["distribute"]["strategy"] == "CollectiveAllReduceStrategy"  # MultiWorkerMirroredStrategy's class
    assert manifest["distribute"]["replicas"] == 2
    for worker in ("worker0", "worker1"):
        for one, two in zip(rows("single"), rows(worker), strict=True):
            for key in LOSS_KEYS:
                assert two[key] == pytest.approx(one[key], rel=1e-4, abs=1e-6), (worker, one["epoch"], key)


def test_a_first_batch_that_does_not_split_over_the_replicas_is_a_clear_error():
    # Keras averages the first batch over the replicas to build the model: 51 images on 2 replicas
    # fail deep inside TensorFlow (AddN / collective shape mismatch), so vae refuses them up front.
    from types import SimpleNamespace

    from vaecli.errors import ConfigError
    from vaecli.training.distribute import check_even_first_batches

    two = SimpleNamespace(num_replicas_in_sync=2, extended=SimpleNamespace(worker_devices=["a", "b"]))
    check_even_first_batches(two, 50, {"training": 587, "validation": 65})  # 50 and 50: fine
    check_even_first_batches(None, 51, {"training": 587, "validation": 27})  # one device: anything goes
    with pytest.raises(ConfigError, match="first training batch holds 51 images.*use a multiple of 2"):
        check_even_first_batches(two, 51, {"training": 587, "validation": 66})
    with pytest.raises(ConfigError, match="first validation batch holds 27 images.*no larger than the 27"):
        check_even_first_batches(two, 50, {"training": 587, "validation": 27})
