"""Kill and resume in real subprocesses: SIGKILL + --resume equals an uninterrupted run; Ctrl-C is clean."""

import json
import signal

import numpy as np
import pytest

from tests.helpers import (
    checkpoint_epoch,
    comparable,
    finish,
    killed_after_first_checkpoint,
    ok,
    tiny_config,
    wait_for_checkpoint,
    weights,
)
from tests.helpers import vae_process as vae

pytestmark = pytest.mark.slow


# A KL warm-up over 3.5 of the 5 epochs: the kill lands in the middle of it, and the factor in force
# (a function of the optimizer's step count, which the checkpoint holds) resumes exactly.
CONFIG = tiny_config(
    data={"num_images": 4000},
    loss={"kl_schedule": "warmup", "warmup_epochs": 3.5},
    train={"epochs": 5, "batch_size": 50},
    output={"image_every": 2},
)


def test_sigkill_then_resume_matches_an_uninterrupted_run(write_config, tmp_path):
    path = write_config(CONFIG)
    reference = vae("train", path, "--runs-dir", tmp_path / "a", "-q")
    code, output = finish(reference)
    assert code == 0, output

    run = tmp_path / "b" / "tiny"
    killed_after_first_checkpoint(path, run)
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "RUNNING" and manifest["epochs_completed"] < 3.5  # killed mid-warm-up
    assert not (run / "decoder.keras").exists()

    code, output = finish(vae("train", "--resume", run, "-q"))
    assert code == 0, output
    assert json.loads((run / "manifest.json").read_text())["status"] == "COMPLETED"
    assert comparable(run) == comparable(tmp_path / "a" / "tiny")
    # 72 steps per epoch, 252 of warm-up: each row logs the factor of its epoch's last step.
    assert [row["kl_weight"] for row in comparable(run)] == pytest.approx([71 / 252, 143 / 252, 215 / 252, 1, 1])
    for resumed, uninterrupted in zip(weights(run), weights(tmp_path / "a" / "tiny")):
        np.testing.assert_array_equal(resumed, uninterrupted)

    assert "already COMPLETED" in ok("train", "--resume", run)  # in this process: no TensorFlow start-up to wait for


def test_ctrl_c_marks_the_run_killed_and_keeps_the_checkpoint(write_config, tmp_path):
    run = tmp_path / "runs" / "tiny"
    process = vae("train", write_config(CONFIG), "--runs-dir", tmp_path / "runs")
    wait_for_checkpoint(process, run)
    process.send_signal(signal.SIGINT)
    code, output = finish(process)
    assert code == 130, output
    assert "Interrupted" in output and f"vae train --resume {run}" in output and "Traceback" not in output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "KILLED"
    kept = checkpoint_epoch(run)
    assert 1 <= kept == manifest["epochs_completed"] or manifest["epochs_completed"] >= kept >= 1
    assert not list((run / "checkpoints").glob(".*"))  # no half-written temporary left behind
    ok("train", "--resume", run, "-q")
    assert [row["epoch"] for row in comparable(run)] == [1, 2, 3, 4, 5]


def test_an_interrupted_image_folder_run_resumes_exactly(tmp_path, monkeypatch):
    """The streamed cache pipeline and a denoise task keep resume exact: order and noise depend on (seed, epoch)."""
    from tests.helpers import write_jpeg_folder
    from vaecli.config import validate
    from vaecli.errors import TrainingInterrupted
    from vaecli.runs import RunPaths
    from vaecli.training.callbacks import EpochRecorder
    from vaecli.training.loop import run_training as train

    write_jpeg_folder(tmp_path / "photos", 150, size=(30, 30))
    config = validate(
        tiny_config(
            train={"epochs": 3, "batch_size": 32},
            task={"kind": "denoise", "noise_std": 0.1, "drop_fraction": 0.1},
            data={
                "source": "image_folder",
                "path": str(tmp_path / "photos"),
                "image_size": 16,
                "cache_dir": str(tmp_path / "cache"),
            },
        )
    )
    train(config, RunPaths(tmp_path / "a" / "tiny"), quiet=True)

    original = EpochRecorder.on_epoch_end

    def stop_after_first_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(EpochRecorder, "on_epoch_end", stop_after_first_epoch)
    interrupted = RunPaths(tmp_path / "b" / "tiny")
    with pytest.raises(TrainingInterrupted):
        train(config, interrupted, quiet=True)
    monkeypatch.setattr(EpochRecorder, "on_epoch_end", original)
    assert checkpoint_epoch(interrupted.root) == 1
    train(config, interrupted, resume=True, quiet=True)
    assert comparable(interrupted.root) == comparable(tmp_path / "a" / "tiny")
    for resumed, uninterrupted in zip(weights(interrupted.root), weights(tmp_path / "a" / "tiny")):
        np.testing.assert_array_equal(resumed, uninterrupted)
