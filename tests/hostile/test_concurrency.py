"""Concurrent starts and kills (issue 13), with real processes: two starts of one name, a live run that
--force, --resume and `vae clean` must leave alone, and a start killed while it claims its folder."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import assert_one_clean_line, tiny_config, vae, wait_until
from tests.helpers import vae_process as start

pytestmark = pytest.mark.slow


def test_two_starts_of_one_name_one_trains_the_other_refuses(write_config, tmp_path):
    # An image folder takes both a few seconds to load: before, both had checked the name by then, and the
    # second to finish loading died of FileExistsError (5 of 5 tries).
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(2500):
        Image.fromarray(np.full((40, 40, 3), index % 256, np.uint8)).save(photos / f"{index:03d}.png")
    data = {"source": "image_folder", "path": str(photos), "image_size": 16, "cache_dir": str(tmp_path / "cache")}
    config = write_config(tiny_config(data=data, train={"epochs": 1}))
    runs = tmp_path / "runs"
    processes = [start("train", config, "--name", "same", "--runs-dir", runs) for _ in range(2)]
    outcomes = sorted((process.wait(timeout=300), process.stdout.read()) for process in processes)
    (won, won_output), (lost, lost_output) = outcomes
    assert won == 0, won_output
    assert "Traceback" not in lost_output and "FileExistsError" not in lost_output, lost_output
    refusals = ("was created by another `vae train` a moment ago", "already exists")
    assert_one_clean_line(lost, lost_output, next((text for text in refusals if text in lost_output), refusals[0]))
    assert "Cached" not in lost_output  # refused before it loaded any data
    manifest = json.loads((runs / "same" / "manifest.json").read_text())
    assert manifest["status"] == "COMPLETED" and sorted(path.name for path in runs.iterdir()) == ["LATEST", "same"]


def test_a_live_run_is_refused_then_recovered_once_killed(write_config, tmp_path):
    from vaecli.runs.claims import holder

    runs, long = tmp_path / "runs", tiny_config(data={"num_images": 4000}, train={"epochs": 200, "batch_size": 50})
    process = start("train", write_config(long, "long.yaml"), "--runs-dir", runs, "-q")
    run = runs / "tiny"
    try:
        wait_until(lambda: (run / "checkpoints" / "last.h5").exists(), 240, process, "its first checkpoint")
        assert holder(run) == (run / ".lock").read_text().strip() and f"pid {process.pid} on" in holder(run)
        short = write_config(tiny_config(train={"epochs": 1}), "short.yaml")
        for arguments in (["train", short, "--runs-dir", runs, "--force"], ["train", "--resume", run]):
            result = vae(*arguments)
            assert_one_clean_line(
                result.exit_code, result.output, f"{run} is being trained right now (pid {process.pid}"
            )
        result = vae("train", short, "--runs-dir", runs)
        assert_one_clean_line(result.exit_code, result.output, f"{run} already exists")
        assert "being trained right now" in vae("doctor", run).output
        assert f"skipped {run}" in vae("clean", runs).output and (run / "config.yaml").exists()
    finally:
        process.kill()
        process.wait()
    result = vae("doctor", run)
    assert result.exit_code == 1 and "status is RUNNING but no process is training it (killed)" in result.output
    assert f"fix: vae train --resume {run}" in result.output and "a stale lock file .lock" in result.output
    result = vae("train", short, "--runs-dir", runs, "--force", "-q")  # replaced once nobody trains it
    assert result.exit_code == 0, result.output
    assert json.loads((run / "manifest.json").read_text())["epochs"] == 1


def stop_when(process, runs: Path, names) -> list[str]:
    """SIGSTOP the process the moment the runs folder holds an entry matching names; what was there."""
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        try:
            entries = [entry.name for entry in os.scandir(runs)]
        except FileNotFoundError:
            entries = []
        if any(names(entry) for entry in entries):
            os.kill(process.pid, signal.SIGSTOP)
            return entries
    pytest.fail(f"no run folder appeared:\n{process.stdout.read() if process.poll() is not None else ''}")


@pytest.mark.parametrize("moment", ["claiming", "claimed"])
def test_a_start_killed_while_claiming_its_folder_leaves_a_usable_state(write_config, tmp_path, moment):
    # SIGSTOP at the first sight of the folder, then SIGKILL: the folder is left exactly as a kill at that
    # instant leaves it. Before, `runs/tiny` could hold no manifest: --resume and --force both refused it.
    config = write_config(tiny_config(train={"epochs": 1}))
    runs = tmp_path / "runs"
    process = start("train", config, "--runs-dir", runs, "-q")
    wanted = (lambda name: name.startswith(".tiny.claim-") or name == "tiny") if moment == "claiming" else None
    stop_when(process, runs, wanted or (lambda name: name == "tiny"))
    process.kill()
    process.wait()
    run = runs / "tiny"
    if run.exists():  # claimed: a whole run folder, RUNNING, that resume finishes
        assert (run / "config.yaml").is_file() and (run / "manifest.json").is_file()
        result = vae("train", "--resume", run, "-q")
    else:  # still claiming: only a hidden folder, which clean removes; the name is free
        assert vae("clean", runs).exit_code == 0 and not [path for path in runs.iterdir() if ".claim-" in path.name]
        result = vae("train", config, "--runs-dir", runs, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "manifest.json").read_text())["status"] == "COMPLETED"
    assert vae("doctor", run).exit_code == 0
