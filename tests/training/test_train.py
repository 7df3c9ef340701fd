"""End-to-end `vae train` on real (tiny) data: the run folder, the loss identity, NaN handling."""

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from tests.helpers import tiny_config
from vaecli.cli import app

runner = CliRunner()
pytestmark = pytest.mark.slow


def train(config_path, runs_dir, *extra):
    result = runner.invoke(app, ["train", str(config_path), "--runs-dir", str(runs_dir), *extra])
    return result


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One tiny synthetic VAE run, shared by the checks below."""
    import yaml

    folder = tmp_path_factory.mktemp("tiny")
    config_path = folder / "config.yaml"
    config_path.write_text(yaml.safe_dump(tiny_config(train={"epochs": 4})))
    result = train(config_path, folder / "runs")
    assert result.exit_code == 0, result.output
    return folder / "runs" / "tiny", result.output


def test_run_folder_is_complete(tiny_run):
    run, output = tiny_run
    for name in (
        "config.yaml",
        "manifest.json",
        "metrics.jsonl",
        "metrics.csv",
        "checkpoints/last.h5",
        "encoder.keras",
        "decoder.keras",
        "loss_curve.png",
        "images/reconstructions_e0004.png",
        "images/samples_e0001.png",
    ):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())
    assert (run.parent / "LATEST").read_text().strip() == "tiny"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "COMPLETED" and manifest["epochs_completed"] == 4
    assert manifest["effective_kl_factor"] == 1.0 and manifest["data"]["train"] == 576
    assert manifest["versions"]["tensorflow"] and manifest["ended"]
    assert "epoch 4/4" in output and "COMPLETED" in output
    with h5py.File(run / "checkpoints" / "last.h5") as checkpoint:
        assert checkpoint.attrs["epoch"] == 4 and len(checkpoint["optimizer"]) > 0


def test_logged_loss_is_reconstruction_plus_weighted_kl_and_it_learns(tiny_run):
    run, _ = tiny_run
    rows = metrics(run)
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4]
    for row in rows:  # 576 training images in batches of 100: the last batch is partial
        for prefix in ("", "val_"):
            total = row[f"{prefix}reconstruction_loss"] + 1.0 * row[f"{prefix}kl_loss"]
            assert row[f"{prefix}loss"] == pytest.approx(total, rel=1e-6)
            assert row[f"{prefix}loss"] == row[f"{prefix}reconstruction_loss"] + row[f"{prefix}kl_penalty"]
            assert row[f"{prefix}kl_weight"] == 1.0
    assert rows[-1]["val_loss"] < rows[0]["val_loss"] < 16 * 16 * 3 * np.log(2)  # beats predicting 0.5
    assert rows[-1]["kl_loss"] > 0
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,")


def test_final_models_load_and_reproduce_the_validation_loss_scale(tiny_run):
    import keras

    from vaecli.config import load_config
    from vaecli.data.splits import load_splits
    from vaecli.losses import reconstruction_loss

    run, _ = tiny_run
    from vaecli.models import decoder_logits_model

    encoder = keras.models.load_model(run / "encoder.keras")
    decoder = keras.models.load_model(run / "decoder.keras")
    images = load_splits(load_config(run / "config.yaml")).validation.images.astype("float32") / 255.0
    z_mean, z_log_var = encoder(images)
    outputs = np.asarray(decoder(z_mean))
    assert outputs.min() >= 0 and outputs.max() <= 1  # users get images
    reconstruction = float(np.mean(reconstruction_loss(images, decoder_logits_model(decoder)(z_mean))))
    # The mean-code reconstruction is at least as good as the sampled one logged for validation.
    assert reconstruction <= metrics(run)[-1]["val_reconstruction_loss"] * 1.02


def test_mean_reduction_and_mse_and_ae(write_config, tmp_path):
    config = tiny_config(
        name="ae_mse", model={"kind": "ae"}, loss={"reconstruction": "mse", "reduction": "mean"}, train={"epochs": 2}
    )
    result = train(write_config(config), tmp_path / "runs", "--quiet")
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "ae_mse"
    rows = metrics(run)
    assert all(row["kl_loss"] == 0.0 and row["loss"] == pytest.approx(row["reconstruction_loss"]) for row in rows)
    assert rows[-1]["reconstruction_loss"] < 0.1  # per-pixel mean squared error of images in [0, 1]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["kl_factor"] == 0.0 and manifest["reduction"] == "mean"
    assert "epoch 1/2" not in result.output  # --quiet


def test_vae_mean_reduction_records_effective_kl_factor(write_config, tmp_path):
    config = tiny_config(name="mean", loss={"reduction": "mean", "kl_factor": 0.01}, train={"epochs": 1})
    assert train(write_config(config), tmp_path / "runs", "-q").exit_code == 0
    manifest = json.loads((tmp_path / "runs" / "mean" / "manifest.json").read_text())
    assert manifest["effective_kl_factor"] == pytest.approx(0.01 * 16 * 16 * 3)


def test_schedules_change_the_learning_rate(write_config, tmp_path):
    config = tiny_config(name="cosine", train={"epochs": 3, "schedule": "cosine", "min_learning_rate": 1e-4})
    assert train(write_config(config), tmp_path / "runs", "-q").exit_code == 0
    rates = [row["learning_rate"] for row in metrics(tmp_path / "runs" / "cosine")]
    assert rates[0] > rates[1] > rates[2] == pytest.approx(1e-4, rel=1e-3)
    config = tiny_config(name="step", train={"epochs": 3, "schedule": "step", "decay_every": 1, "decay_factor": 0.5})
    assert train(write_config(config), tmp_path / "runs", "-q").exit_code == 0
    rates = [row["learning_rate"] for row in metrics(tmp_path / "runs" / "step")]
    assert rates == pytest.approx([3e-3 * 0.5, 3e-3 * 0.25, 3e-3 * 0.125], rel=1e-5)


def test_real_fashion_mnist_subset(write_config, tmp_path, fashion_mnist_folder):
    config = tiny_config(
        name="fmnist",
        data={"source": "fashion_mnist", "path": str(fashion_mnist_folder), "image_size": None, "limit": 3000},
        model={
            "z_dim": 8,
            "encoder": {"filters": [16, 32], "kernel_sizes": [3, 3], "strides": [2, 2]},
            "decoder": {"filters": [32, 1], "kernel_sizes": [3, 3], "strides": [2, 2]},
        },
        train={"epochs": 3, "batch_size": 64},
    )
    result = train(write_config(config), tmp_path / "runs")
    assert result.exit_code == 0, result.output
    rows = metrics(tmp_path / "runs" / "fmnist")
    manifest = json.loads((tmp_path / "runs" / "fmnist" / "manifest.json").read_text())
    assert manifest["data"]["image_shape"] == [28, 28, 1] and manifest["data"]["test"] == 10000
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    # Predicting 0.5 everywhere costs 784 ln 2 = 543 nats; a model that learned does far better.
    assert rows[-1]["val_reconstruction_loss"] < 350


def test_nan_stops_at_once_and_keeps_the_last_good_checkpoint(write_config, tmp_path, monkeypatch):
    """A learning rate that explodes in epoch 2 (a real schedule, real training) must not touch epoch 1's state."""
    import keras

    from vaecli.models import factory as training

    original = training.learning_rate_schedule

    class Explode(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, steps_per_epoch):
            self.steps_per_epoch = steps_per_epoch

        def __call__(self, step):
            return keras.ops.where(step < self.steps_per_epoch, 3e-3, 1e30)

    monkeypatch.setattr(training, "learning_rate_schedule", lambda config, steps: Explode(steps))
    config = tiny_config(name="nan", train={"epochs": 3})
    path = write_config(config)
    run = tmp_path / "runs" / "nan"
    result = train(path, tmp_path / "runs")
    monkeypatch.setattr(training, "learning_rate_schedule", original)
    assert result.exit_code == 1, result.output
    assert "NaN or Inf at epoch 2, step" in result.output and "learning_rate" in result.output
    assert "Traceback" not in result.output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "FAILED" and manifest["epochs_completed"] == 1
    with h5py.File(run / "checkpoints" / "last.h5") as checkpoint:
        assert checkpoint.attrs["epoch"] == 1
        assert all(np.isfinite(checkpoint["model"][key][()]).all() for key in checkpoint["model"])
    assert [row["epoch"] for row in metrics(run)] == [1]
    assert not (run / "images" / "samples_e0002.png").exists() and not (run / "decoder.keras").exists()


def test_mixed_precision_on_cpu_trains_and_is_recorded(write_config, tmp_path):
    config = tiny_config(name="bf16", train={"epochs": 2, "mixed_precision": "on", "jit_compile": "off"})
    result = train(write_config(config), tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "bf16"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["precision_policy"] == "mixed_bfloat16" and manifest["jit_compile"] is False
    rows = metrics(run)
    assert rows[-1]["val_loss"] < rows[0]["val_loss"] and np.isfinite(rows[-1]["loss"])
    import keras

    decoder = keras.models.load_model(run / "decoder.keras")
    assert decoder(np.zeros((1, 4), "float32")).dtype == "float32"


@pytest.mark.parametrize("cpu_bfloat16, policy", [("1", "mixed_bfloat16"), ("0", "float32")])
def test_auto_precision_follows_the_cpu_and_training_leaves_no_global_state(
    write_config, tmp_path, monkeypatch, cpu_bfloat16, policy
):
    """`mixed_precision: auto` computes in bfloat16 on CPUs that have it (forced here, emulated by TensorFlow where
    the CPU lacks it); afterwards the process has float32 and its own randomness back (a notebook's next model)."""
    import random

    import keras

    import vaecli

    monkeypatch.setenv("VAECLI_CPU_BFLOAT16", cpu_bfloat16)
    config = tiny_config(name="auto", train={"epochs": 1, "mixed_precision": "auto", "jit_compile": "off"})
    random.seed(5), np.random.seed(5)
    expected = random.random(), np.random.rand()
    random.seed(5), np.random.seed(5)
    run = vaecli.train(write_config(config), runs_dir=tmp_path / "runs", quiet=True)
    assert run.manifest.precision_policy == policy
    assert (random.random(), np.random.rand()) == expected  # the caller's random streams are untouched
    assert keras.mixed_precision.global_policy().name == "float32"
    layer = keras.layers.Dense(2)
    assert layer(np.ones((1, 3), "float32")).dtype == "float32" and layer.compute_dtype == "float32"


@pytest.mark.parametrize(
    "loss, expected_weights",
    [
        # 6 steps per epoch; kl_weight is the factor of each epoch's last step (5, 11, 17, 23).
        ({"kl_schedule": "warmup", "warmup_epochs": 2.5}, [5 / 15, 11 / 15, 1.0, 1.0]),
        ({"kl_schedule": "cyclical", "cycles": 2, "cycle_ratio": 0.5}, [5 / 6, 1.0, 5 / 6, 1.0]),
        ({"free_bits": 0.5}, [1.0] * 4),
        ({"capacity": {"max_nats": 8, "epochs": 2, "gamma": 50}}, [50.0] * 4),
    ],
    ids=["warmup", "cyclical", "free_bits", "capacity"],
)
def test_the_kl_term_over_time_is_logged_with_the_loss_identity(write_config, tmp_path, loss, expected_weights):
    """A real short run per objective: loss == reconstruction_loss + kl_penalty in every logged row (files
    and TensorBoard), kl_weight is the factor of each epoch's last step, the manifest records it all."""
    config = tiny_config(name="kl", loss=loss, train={"epochs": 4})
    assert train(write_config(config), tmp_path / "runs", "-q").exit_code == 0
    run = tmp_path / "runs" / "kl"
    rows = metrics(run)
    for row in rows:
        for prefix in ("", "val_"):
            assert row[f"{prefix}loss"] == row[f"{prefix}reconstruction_loss"] + row[f"{prefix}kl_penalty"]
        assert row["val_kl_weight"] == row["kl_weight"]
    assert [row["kl_weight"] for row in rows] == pytest.approx(expected_weights)
    if "free_bits" in loss:  # 4 dimensions, each counted as at least 0.5 nats
        assert all(row["kl_penalty"] >= 4 * 0.5 - 1e-6 and row["kl_penalty"] >= row["kl_loss"] - 1e-5 for row in rows)
    if "capacity" in loss:  # C rises over 2 epochs of 6 steps to 8 nats; penalty = 50 |KL - C| on each batch
        assert [row["kl_capacity"] for row in rows] == pytest.approx([8 * 5 / 12, 8 * 11 / 12, 8.0, 8.0])
        assert rows[-1]["val_kl_penalty"] == pytest.approx(50 * abs(rows[-1]["val_kl_loss"] - 8.0), rel=0.3)
    with open(run / "metrics.csv") as handle:
        header = handle.readline().strip().split(",")
    assert {"kl_weight", "kl_penalty", "val_kl_penalty"} <= set(header)
    manifest = json.loads((run / "manifest.json").read_text())
    recorded = manifest["kl_schedule"]
    assert recorded["steps_per_epoch"] == 6 and recorded["epochs"] == 4 and recorded["description"]
    scalars = tensorboard_scalars(run)
    assert scalars["train/kl_weight"] == pytest.approx(expected_weights)
    assert scalars["validation/kl_penalty"] == pytest.approx([row["val_kl_penalty"] for row in rows])


def tensorboard_scalars(run) -> dict[str, list[float]]:
    """tag -> values per epoch, read back from the run's event files."""
    import tensorflow as tf

    values: dict[str, list[float]] = {}
    for path in sorted((run / "tensorboard").glob("events.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    values.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    return values


def test_a_successful_run_prints_no_tensorflow_log_lines(write_config, tmp_path):
    """With TF_CPP_MIN_LOG_LEVEL=2 (a common setting) TensorFlow's C++ errors reach stderr. Two used to:
    `failed call to cuInit` from importing Keras before vaecli's quiet import, and, with oneDNN (the
    default on AVX-512 CPUs, forced on here), grappler's `remapper failed ... LeakyReluGrad`."""
    import os
    import re
    import subprocess
    import sys

    path = write_config(tiny_config(train={"epochs": 1}))
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "vaecli.cli", "train", str(path), "--runs-dir", str(tmp_path / "runs"), "-q"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    noise = [line for line in lines if re.match(r"[IWEF]\d{4} ", line) or "remapper" in line or "absl" in line]
    assert noise == [] and "COMPLETED" in result.stdout
