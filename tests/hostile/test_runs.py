"""Hostile use of a trained run (issue 13): output paths, latent options, damaged and live run folders,
killed processes' leftovers, `vae doctor` and `vae clean`. One tiny run is trained once and copied."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import (
    SEGFAULT,
    assert_one_clean_line,
    copied,
    dead_pid,
    fill_disk,
    mounted_tmpfs,
    run_vae,
    temporary_name,
    tiny_config,
    vae,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished tiny run named 007 (a name YAML would have read as the number 7)."""
    base = tmp_path_factory.mktemp("trained")
    config = base / "tiny.yaml"
    config.write_text(json.dumps(tiny_config(train={"epochs": 2})))
    result = vae("train", config, "--name", "007", "--runs-dir", base / "runs", "-q")
    assert result.exit_code == 0, result.output
    return base / "runs" / "007"


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A copy of the trained run to damage, in its own runs folder."""
    return copied(trained, tmp_path)


@pytest.fixture
def points(tmp_path) -> Path:
    path = tmp_path / "points.npy"
    np.save(path, np.zeros((2, 4), np.float32))
    return path


def test_a_numeric_name_is_kept_as_written(trained):
    manifest = json.loads((trained / "manifest.json").read_text())
    assert trained.name == "007" and manifest["name"] == "007" and manifest["status"] == "COMPLETED"
    assert (trained.parent / "LATEST").read_text() == "007\n"
    assert not (trained / ".lock").exists()  # the lock goes with the process that held it


# ------------------------------------------------------------------------------------ output paths

COMMANDS = {
    "encode --out": lambda run, points, target: ("encode", run, "--out", target),
    "decode --out": lambda run, points, target: ("decode", run, points, "--out", target),
    "decode --array-out": lambda run, points, target: ("decode", run, points, "--array-out", target),
    "sample --out": lambda run, points, target: ("sample", "--run", run, "--boundary", "2", "--out", target),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("where", ["a-folder", "under-a-file"])
def test_output_paths_that_cannot_be_written(trained, points, tmp_path, command, where):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    target, fragment = {
        "a-folder": (tmp_path / "folder", "it is a folder; give a file name"),
        "under-a-file": (tmp_path / "file" / "out.h5", f"{tmp_path / 'file'} is a file, not a folder"),
    }[where]
    result = vae(*COMMANDS[command](trained, points, target))
    assert_one_clean_line(result.exit_code, result.output, fragment)
    assert command.split()[1] in result.output.split("error:")[1]  # names the option
    assert list((tmp_path / "folder").iterdir()) == []


def test_read_only_output_folder(trained, points, tmp_path):
    with mounted_tmpfs(tmp_path / "ro", size="1m", read_only=True) as read_only:
        for command, arguments in COMMANDS.items():
            result = vae(*arguments(trained, points, read_only / "out.h5"))
            assert_one_clean_line(result.exit_code, result.output, "Read-only file system")
            assert command.split()[1] in result.output


def test_encode_onto_a_full_disk_is_one_line_not_a_segfault(trained, tmp_path):
    with mounted_tmpfs(tmp_path / "full", size="1m") as full:
        fill_disk(full, leave=8192)
        code, output = run_vae("encode", trained, "--split", "all", "--out", full / "z_all.h5")
        assert code != SEGFAULT, output
        assert_one_clean_line(code, output, f"cannot write {full / 'z_all.h5'}: No space left on device (it needs")
        assert sorted(path.name for path in full.iterdir()) == ["filler"]  # no partial file


# --------------------------------------------------------------------------------- latent options


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        (["sample", "--boundary", "1e308"], "1e308 is beyond the range of float32"),
        (["sample", "--boundary", "2,1e39"], "1e39 (in '2,1e39') is beyond the range of float32"),
        (["sample", "--boundary", "0"], "0 is not a positive number"),
        (["sample", "--prior", "normal", "--scale", "1e38"], "overflow float32"),
        (["sample", "--boundary", "2", "--n", "1000000000"], "--n-samples: 1,000,000,000 images of 16x16x3 need about"),
        (["latent-stats", "--box", "-1"], "-1 is not a positive number"),
    ],
)
def test_latent_options_out_of_range_are_one_line(trained, arguments, fragment):
    result = vae(*arguments, "--runs-dir", trained.parent)
    assert_one_clean_line(result.exit_code, result.output, fragment)


@pytest.mark.parametrize(
    "arguments",
    [
        ["sample", "--boundary", "2", "--seed", "-1"],
        ["sample", "--boundary", "2", "--columns", "0"],
        ["encode", "--sample", "--seed", "-1"],
        ["latent-stats", "--seed", "4294967296"],
    ],
)
def test_option_values_out_of_range_are_refused_by_the_parser(trained, arguments):
    result = vae(*arguments, "--runs-dir", trained.parent)
    assert result.exit_code == 2 and "Invalid value" in result.output and "Traceback" not in result.output


def test_empty_latent_files_are_one_line(trained, tmp_path):
    (tmp_path / "empty.npy").write_bytes(b"")
    result = vae("decode", trained, tmp_path / "empty.npy")
    assert_one_clean_line(result.exit_code, result.output, "empty.npy: an empty or truncated NumPy file")
    assert "Aborted" not in result.output
    np.save(tmp_path / "none.npy", np.zeros((0, 4), np.float32))
    result = vae("decode", trained, tmp_path / "none.npy")
    assert_one_clean_line(result.exit_code, result.output, "none.npy:array holds no points (shape (0, 4))")


# ------------------------------------------------------------------------------ damaged run folders


def test_a_manifest_holding_a_list(run):
    (run / "manifest.json").write_text("[1, 2]\n")
    for arguments in (["encode", run], ["train", "--resume", run]):
        result = vae(*arguments)
        assert_one_clean_line(result.exit_code, result.output, "the run manifest must hold a JSON object, not a list")
    result = vae("doctor", run)
    assert result.exit_code == 1 and "must hold a JSON object" in result.output
    assert f"fix: vae train {run / 'config.yaml'} --name 007 --runs-dir {run.parent} --force" in result.output


def test_resume_rebuilds_a_deleted_final_model_from_the_last_checkpoint(run):
    metrics = (run / "metrics.jsonl").read_text()
    (run / "encoder.keras").unlink()
    result = vae("encode", run)
    assert_one_clean_line(result.exit_code, result.output, f"finish it with `vae train --resume {run}`")
    result = vae("doctor", run)
    assert result.exit_code == 1 and "the run is COMPLETED but encoder.keras is missing" in result.output
    result = vae("train", "--resume", run, "-q")
    assert result.exit_code == 0, result.output
    assert "COMPLETED: 2 epochs" in result.output and "nothing to do" not in result.output
    assert (run / "encoder.keras").is_file() and (run / "metrics.jsonl").read_text() == metrics
    assert vae("encode", run).exit_code == 0
    assert vae("doctor", run).exit_code == 0


def _leftovers(run: Path) -> tuple[list[Path], Path]:
    """What killed processes leave in a run folder (names as atomic_path makes them), and one live temporary."""
    gone = dead_pid()
    stale = [
        run / "checkpoints" / temporary_name("last.h5", gone),
        run / temporary_name("encoder.keras", gone),
        run / temporary_name("manifest.json", gone),
        run / "images" / temporary_name("samples_e0001.png", gone),
        run / "latent" / temporary_name("z_all.h5", gone),
    ]
    live = run / "latent" / temporary_name("z_test.h5", os.getpid())  # this process: still writing
    # Named like an older vaecli's temporary, but with no host or pid in its name nothing proves vaecli wrote it.
    unproven = run / ".manifest.json.x7y8z9w0.json"
    for path in [*stale, live, unproven]:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"\0" * 4096)
    return stale, live


def test_doctor_and_clean_find_and_remove_what_killed_processes_left(run):
    stale, live = _leftovers(run)
    (run / ".lock").write_text("pid 1 on elsewhere\n")  # a lock file nobody holds
    result = vae("doctor", run)
    assert result.exit_code == 1 and "5 temporary file(s) (20.5 kB) left by a killed process" in result.output
    assert f"fix: vae clean {run}" in result.output and "a stale lock file .lock" in result.output
    result = vae("clean", run, "--dry-run")
    assert result.exit_code == 0 and "Would remove 6 item(s)" in result.output and all(p.exists() for p in stale)
    result = vae("clean", run.parent)
    assert result.exit_code == 0 and "Removed 6 item(s)" in result.output, result.output
    assert not any(path.exists() for path in stale) and live.exists() and not (run / ".lock").exists()
    assert (run / ".manifest.json.x7y8z9w0.json").exists()  # unproven: kept
    assert vae("doctor", run).exit_code == 0


def test_resume_removes_the_killed_runs_temporaries(run):
    stale, live = _leftovers(run)
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "KILLED"}))
    result = vae("train", "--resume", run, "-q")
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in stale) and live.exists()


def test_writers_remove_their_own_stale_temporaries(run):
    stale = run / "latent" / temporary_name("z_test.h5", dead_pid())
    live = run / "latent" / temporary_name("z_test.h5", os.getpid())
    other_host = run / "latent" / temporary_name("z_test.h5", dead_pid(), host="abcdef")  # a day old only
    for path in (stale, live, other_host):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"\0")
    assert vae("encode", run).exit_code == 0
    assert not stale.exists() and live.exists() and other_host.exists()
    assert (run / "latent" / "z_test.h5").is_file()


def test_doctor_names_each_damage_and_its_fix(run, tmp_path):
    checks = []

    def damage(change, fragment, fix):
        copy = tmp_path / "damaged" / f"case{len(checks)}"
        shutil.copytree(run, copy)
        change(copy)
        result = vae("doctor", copy)
        fixes = [line.strip() for line in result.output.splitlines() if line.strip().startswith("fix:")]
        checks.append((result.exit_code, fragment in result.output, any(fix(copy) in line for line in fixes), result))

    def status(copy, value):
        manifest = json.loads((copy / "manifest.json").read_text())
        (copy / "manifest.json").write_text(json.dumps({**manifest, "status": value}))

    def past_checkpoint(copy):
        status(copy, "RUNNING")
        row = json.loads((copy / "metrics.jsonl").read_text().splitlines()[-1])
        with open(copy / "metrics.jsonl", "a") as handle:
            handle.write(json.dumps({**row, "epoch": 3}) + "\n")

    resume = "vae train --resume {}".format
    damage(lambda c: status(c, "RUNNING"), "status is RUNNING but no process is training it", resume)
    damage(past_checkpoint, "rows for epochs 3-3 past the last checkpoint (epoch 2)", resume)
    damage(lambda c: (c / "manifest.json").unlink(), "manifest.json is missing", lambda c: "vae train")
    damage(lambda c: (c / "config.yaml").unlink(), "config.yaml is missing", lambda c: f"rm -r {c}")
    damage(
        lambda c: (c / "decoder.keras").write_bytes(b"PK"),
        "decoder.keras is not a readable Keras",
        lambda c: f"rm {c / 'decoder.keras'} && vae train --resume {c}",
    )
    damage(
        lambda c: (c / "checkpoints" / "last.h5").write_bytes(b"x"),
        "last.h5 is damaged (checksum mismatch)",
        lambda c: f"vae train --resume {c} --from-checkpoint 1",
    )
    damage(
        lambda c: (c / "metrics.jsonl").write_text("{not json\n"), "line 1 is not a metrics row", lambda _: "--force"
    )
    for code, found, fixed, result in checks:
        assert code == 1 and found and fixed, result.output


def test_doctor_of_a_runs_folder(run):
    (run.parent / "LATEST").write_text("gone\n")
    (run.parent / f".007.claim-{'a' * 8}").mkdir()  # a start killed while claiming
    result = vae("doctor", "--runs-dir", run.parent)
    assert result.exit_code == 1 and f"{run}: OK (COMPLETED, 2 of 2 epochs)" in result.output
    assert "LATEST names 'gone', which is not a run folder" in result.output
    assert f"1 folder(s) or file(s) left by killed processes\n      fix: vae clean {run.parent}" in result.output
    assert vae("clean", "--runs-dir", run.parent).exit_code == 0
    assert not (run.parent / f".007.claim-{'a' * 8}").exists()
    result = vae("clean", run.parent / "nowhere")
    assert_one_clean_line(result.exit_code, result.output, "nowhere: no such folder")


def test_a_live_run_is_never_replaced_resumed_or_cleaned(run, tmp_path):
    from vaecli.runs.claims import RunLock

    stale, _ = _leftovers(run)
    lock = RunLock.acquire(run)  # as the process training it holds it
    try:
        config = tmp_path / "tiny.yaml"
        config.write_text(json.dumps(tiny_config()))
        for arguments in (
            ["train", config, "--name", "007", "--runs-dir", run.parent, "--force"],
            ["train", "--resume", run],
        ):
            result = vae(*arguments)
            assert_one_clean_line(
                result.exit_code, result.output, f"{run} is being trained right now (pid {os.getpid()}"
            )
        result = vae("clean", run.parent)
        assert f"skipped {run}: it is being trained right now" in result.output and all(p.exists() for p in stale)
        result = vae("doctor", run)
        assert result.exit_code == 0 and "being trained right now" in result.output
        assert (run / "config.yaml").is_file() and (run / "encoder.keras").is_file()
    finally:
        lock.release()
