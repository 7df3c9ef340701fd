"""Failures the user's machine causes: a full disk mid-run ends in one line, the last checkpoint intact."""

import errno
import json

import h5py
import pytest
from typer.testing import CliRunner

from tests.helpers import tiny_config
from vaecli.cli import app

pytestmark = pytest.mark.slow


def test_full_disk_while_checkpointing_fails_cleanly(write_config, tmp_path, monkeypatch):
    from vaecli.training import callbacks

    original = callbacks.save_checkpoint

    def disk_full_at_epoch_2(paths, model, epoch, config_hash):
        if epoch == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(paths.checkpoint))
        original(paths, model, epoch, config_hash)

    monkeypatch.setattr(callbacks, "save_checkpoint", disk_full_at_epoch_2)
    result = CliRunner().invoke(
        app, ["train", str(write_config(tiny_config(name="full"))), "--runs-dir", str(tmp_path / "runs")]
    )
    run = tmp_path / "runs" / "full"
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"cannot write {run / 'checkpoints' / 'last.h5'}: No space left on device" in result.output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "FAILED" and "No space left" in manifest["error"]
    with h5py.File(run / "checkpoints" / "last.h5") as checkpoint:
        assert checkpoint.attrs["epoch"] == 1
    assert not [path for path in run.rglob(".*") if path.is_file()]  # no temporary files left behind
    assert not (run / "decoder.keras").exists()
