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
        assert row["loss"] == pytest.approx(row["reconstruction_loss"] + row["kl_loss"], rel=1e-6)
    # Sampling noise differs between the layouts, so only the scale must agree.
    assert mirrored[-1]["val_loss"] == pytest.approx(single[-1]["val_loss"], rel=0.05)


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

    from vaecli.distribute import check_even_first_batches
    from vaecli.errors import ConfigError

    two = SimpleNamespace(num_replicas_in_sync=2, extended=SimpleNamespace(worker_devices=["a", "b"]))
    check_even_first_batches(two, 50, {"training": 587, "validation": 65})  # 50 and 50: fine
    check_even_first_batches(None, 51, {"training": 587, "validation": 27})  # one device: anything goes
    with pytest.raises(ConfigError, match="first training batch holds 51 images.*use a multiple of 2"):
        check_even_first_batches(two, 51, {"training": 587, "validation": 66})
    with pytest.raises(ConfigError, match="first validation batch holds 27 images.*no larger than the 27"):
        check_even_first_batches(two, 50, {"training": 587, "validation": 27})
