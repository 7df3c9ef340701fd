"""Checked run files: a damaged checkpoint or final model, or run files that disagree, are refused by resume and
reported by `vae doctor`, each with the command that recovers what can be recovered."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest

from tests.helpers import copied, tiny_config, vae

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> Path:
    """A run of 4 epochs stopped (KILLED) after epoch 2: last.h5 holds epoch 2, previous.h5 epoch 1."""
    from vaecli.config import validate
    from vaecli.errors import TrainingInterrupted
    from vaecli.runs import RunPaths
    from vaecli.training.callbacks import EpochRecorder
    from vaecli.training.loop import run_training

    base = tmp_path_factory.mktemp("integrity")
    config = validate(tiny_config(train={"epochs": 4}))
    original = EpochRecorder.on_epoch_end

    def stop_after_second_epoch(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(EpochRecorder, "on_epoch_end", stop_after_second_epoch)
        with pytest.raises(TrainingInterrupted):
            run_training(config, RunPaths(base / "runs" / "tiny"), quiet=True)
    return base / "runs" / "tiny"


@pytest.fixture
def run(killed_run, tmp_path) -> Path:
    return copied(killed_run, tmp_path)


def flip_bit(path: Path, offset: int, bit: int = 0) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def epochs_logged(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_killed_run_keeps_two_verified_checkpoints(run):
    from vaecli.runs import RunPaths
    from vaecli.runs.checkpoints import checkpoint_epoch, verify_checkpoint

    paths = RunPaths(run)
    assert verify_checkpoint(paths, paths.checkpoint).epoch == checkpoint_epoch(paths.checkpoint) == 2
    assert verify_checkpoint(paths, paths.previous_checkpoint).epoch == checkpoint_epoch(paths.previous_checkpoint) == 1
    records = json.loads(paths.checksums.read_text())["records"]
    assert sorted(record["epoch"] for record in records) == [1, 2]
    assert {record["step"] for record in records} == {6, 12}  # 576 training images, batch 100: 6 steps an epoch
    result = vae("doctor", run)
    assert "damaged" not in result.output and "KILLED" in result.output


@pytest.mark.parametrize("where", [0, 0.001, 0.25, 0.5, 0.75, -1])
def test_a_flipped_bit_anywhere_in_last_h5_is_refused_by_resume_and_doctor(run, where):
    checkpoint = run / "checkpoints" / "last.h5"
    size = checkpoint.stat().st_size
    flip_bit(checkpoint, int(where * size) if where != -1 else size - 1)
    manifest_before, metrics_before = (run / "manifest.json").read_text(), (run / "metrics.jsonl").read_text()

    result = vae("train", "--resume", run, "-q")
    assert result.exit_code == 2, result.output
    assert f"{checkpoint} is damaged (checksum mismatch)" in result.output
    assert f"The previous checkpoint from epoch 1 is intact: vae train --resume {run} --from-checkpoint 1" in (
        " ".join(result.output.split())
    )
    assert (run / "manifest.json").read_text() == manifest_before  # nothing changed
    assert (run / "metrics.jsonl").read_text() == metrics_before

    doctor = vae("doctor", run)
    assert doctor.exit_code != 0 and "last.h5 is damaged (checksum mismatch)" in doctor.output


def test_the_recovery_command_continues_from_the_previous_checkpoint(run):
    flip_bit(run / "checkpoints" / "last.h5", 5000, bit=3)
    result = vae("train", "--resume", run, "--from-checkpoint", "1", "-q")
    assert result.exit_code == 0, result.output
    assert epochs_logged(run) == [1, 2, 3, 4]  # epoch 2 trained again, logged once
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "COMPLETED" and manifest["epochs_completed"] == 4
    doctor = vae("doctor", run)
    assert doctor.exit_code == 0, doctor.output


def test_an_edited_epoch_attribute_is_a_damaged_checkpoint(run):
    with h5py.File(run / "checkpoints" / "last.h5", "r+") as handle:
        handle.attrs["epoch"] = 99
    result = vae("train", "--resume", run, "-q")
    assert result.exit_code == 2 and "last.h5 is damaged (checksum mismatch)" in result.output
    assert json.loads((run / "manifest.json").read_text())["status"] == "KILLED"


def test_deleted_metrics_are_refused_with_the_reason(run):
    (run / "metrics.jsonl").unlink()
    result = vae("train", "--resume", run, "-q")
    assert result.exit_code == 2, result.output
    assert "holds no rows but the checkpoint is at epoch 2: the rows of epochs 1-2 are missing" in " ".join(
        result.output.split()
    )
    doctor = vae("doctor", run)
    assert doctor.exit_code != 0 and "rows of epochs 1-2 are missing" in " ".join(doctor.output.split())


def test_a_manifest_ahead_of_the_checkpoint_is_refused(run):
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "epochs_completed": 3}))
    result = vae("train", "--resume", run, "-q")
    assert result.exit_code == 2 and "says 3 epochs completed but the checkpoint is at epoch 2" in result.output
    assert f"vae train --resume {run} --from-checkpoint 2" in " ".join(result.output.split())


def test_a_checkpoint_of_another_config_is_refused(run, tmp_path):
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("learning_rate: 0.003", "learning_rate: 0.002"))
    result = vae("train", "--resume", run, "-q")
    assert result.exit_code == 2 and "was written for another config.yaml" in result.output


def test_a_flipped_bit_in_a_final_model_is_refused_and_resume_rebuilds_it(run):
    import numpy as np

    import vaecli

    assert vae("train", "--resume", run, "-q").exit_code == 0
    images = vaecli.load_run(run).split("test", limit=8).images
    expected = vaecli.load_run(run).encode(images)
    encoder = run / "encoder.keras"
    flip_bit(encoder, encoder.stat().st_size // 2)

    with pytest.raises(vaecli.RunError, match="encoder.keras is damaged"):
        vaecli.load_run(run).encode(images)
    result = vae("encode", run, "--limit", "8", "--out", run.parent / "z.h5")
    assert result.exit_code == 2 and "encoder.keras is damaged (checksum mismatch)" in result.output
    assert not (run.parent / "z.h5").exists()
    doctor = vae("doctor", run)
    assert doctor.exit_code != 0 and "encoder.keras is damaged" in doctor.output

    assert vae("train", "--resume", run, "-q").exit_code == 0  # rebuilt from the final checkpoint
    np.testing.assert_array_equal(vaecli.load_run(run).encode(images), expected)
    assert vae("doctor", run).exit_code == 0
