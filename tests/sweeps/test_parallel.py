"""`vae sweep --jobs/--devices/--plan/--index`: real `vae train` processes, real signals, the real process table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.helpers import comparable, manifest, ok, tiny_config, vae, vae_process, wait_until


def sweep_process(*args, environment: dict | None = None) -> subprocess.Popen:
    """`vae sweep ...` as its own process (not a terminal: the display prints plain lines)."""
    return vae_process("sweep", *args, environment=environment)


STOPPABLE = ("--set", "loss.kl_factor=0.5,1", "--jobs", 2)  # two 6-epoch runs at once: long enough to stop


def start_stoppable_sweep(write_config, runs: Path, name: str) -> tuple[Path, list[str], subprocess.Popen]:
    """(config, run names, the sweep's process) of STOPPABLE started in runs, as its own process."""
    config = write_config(tiny_config(name=name, data={"num_images": 3000}, train={"epochs": 6, "batch_size": 50}))
    names = [f"{name}_kl_factor=0.5", f"{name}_kl_factor=1"]
    return config, names, sweep_process(config, *STOPPABLE, "--runs-dir", runs)


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Every live process whose command line holds text (from /proc: the real process table)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in command and state != "Z":  # a zombie has exited; only its parent's bookkeeping is left
            found.append((int(entry.name), command))
    return found


def parse_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()


# ------------------------------------------------------------------------------------------ --jobs


@pytest.mark.slow
def test_jobs_2_trains_two_points_at_once_with_the_metrics_of_a_serial_sweep(write_config, tmp_path):
    config = write_config(tiny_config(name="grid", data={"num_images": 400}, train={"epochs": 3}))
    runs = tmp_path / "parallel"
    names = ["grid_kl_factor=0.5", "grid_kl_factor=1"]
    process = sweep_process(config, "--set", "loss.kl_factor=0.5,1", "--jobs", 2, "--runs-dir", runs)
    # Seen from outside while it runs: both runs RUNNING at the same moment.
    wait_until(
        lambda: all(manifest(runs / name).get("status") == "RUNNING" for name in names),
        240,
        process,
        "both runs to be RUNNING at once",
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    # Off a terminal the live table is plain lines: starts, epochs, ends.
    assert f"{names[0]}: epoch 3/3" in output or f"{names[0]} trained" in output
    assert f"{names[1]} trained in" in output and "Sweep record:" in output

    manifests = [manifest(runs / name) for name in names]
    assert [m["status"] for m in manifests] == ["COMPLETED", "COMPLETED"]
    intervals = [(parse_time(m["started"]), parse_time(m["ended"])) for m in manifests]
    assert intervals[0][0] <= intervals[1][1] and intervals[1][0] <= intervals[0][1]  # the RUNNING spans overlap
    share = max(1, len(os.sched_getaffinity(0)) // 2)  # each of the 2 runs gets half the cores
    assert [m["threads"]["intra_op"] for m in manifests] == [share, share]
    record = json.loads((runs / "sweeps" / "grid.json").read_text())
    assert record["executor"] == "local" and record["jobs"] == 2
    assert [(run["index"], run["outcome"], run["exit_code"], run["threads"]) for run in record["runs"]] == [
        (0, "trained", 0, share),
        (1, "trained", 0, share),
    ]
    assert all(Path(run["log"]).is_file() for run in record["runs"])

    # The same grid, one run after another in one process with every core: the same numbers, up to the
    # last float32 bits: TensorFlow's CPU reductions split their work by thread count, and 1 thread vs 2
    # moves those bits (measured here: ~1e-7 relative; more over longer training, see the README).
    ok("sweep", config, "--set", "loss.kl_factor=0.5,1", "--runs-dir", tmp_path / "serial")
    # With the same threads as each parallel run (VAECLI_THREADS), a serial sweep matches it bit for bit.
    environment = {"VAECLI_THREADS": str(share)}
    same = sweep_process(
        config, "--set", "loss.kl_factor=0.5,1", "--runs-dir", tmp_path / "same", environment=environment
    )
    output, _ = same.communicate(timeout=300)
    assert same.returncode == 0, output
    for name in names:
        parallel, serial = comparable(runs / name), comparable(tmp_path / "serial" / name)
        assert [row["epoch"] for row in parallel] == [row["epoch"] for row in serial] == [1, 2, 3]
        assert parallel[0].keys() == serial[0].keys()
        for row_parallel, row_serial in zip(parallel, serial):
            np.testing.assert_allclose(
                [row_parallel[key] for key in row_serial], list(row_serial.values()), rtol=1e-4, atol=0
            )
        assert comparable(tmp_path / "same" / name) == parallel
        assert manifest(tmp_path / "same" / name)["threads"]["intra_op"] == share


def environment_of(pid: int) -> dict[str, str]:
    try:
        pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return {}
    return dict(pair.decode(errors="replace").partition("=")[::2] for pair in pairs if b"=" in pair)


@pytest.mark.slow
def test_devices_pin_each_run_to_its_own_gpu_and_hand_a_freed_one_on(write_config, tmp_path, monkeypatch):
    """No GPU here: TensorFlow ignores the ids, but each child's real environment shows the pinning."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # the sweep sees two GPUs
    config = write_config(tiny_config(name="gpus", data={"num_images": 300}, train={"epochs": 2}))
    runs = tmp_path / "runs"
    process = sweep_process(config, "--set", "loss.kl_factor=0.5,1,2", "--devices", "0,1", "--runs-dir", runs)
    seen: dict[str, str] = {}  # run name -> its CUDA_VISIBLE_DEVICES
    while process.poll() is None:
        running = {}
        for pid, command in processes_mentioning(str(runs)):
            environment = environment_of(pid)
            if " train " in command and environment:  # (empty: the process ended after it was listed)
                name = command.split("--name ")[1].split()[0]
                running[name] = environment.get("CUDA_VISIBLE_DEVICES")
                assert "VAECLI_THREADS" not in environment  # GPUs: no CPU thread share
        assert len(running) <= 2 and len(set(running.values())) == len(running), running  # never two on one GPU
        seen.update(running)
        time.sleep(0.05)
    output = process.stdout.read()
    assert process.returncode == 0, output
    record = json.loads((runs / "sweeps" / "gpus.json").read_text())
    assert record["jobs"] == 2 and record["devices"] == ["0", "1"]  # --jobs defaults to the number of GPUs
    devices = {run["name"]: run["device"] for run in record["runs"]}
    assert devices["gpus_kl_factor=0.5"] == "0" and devices["gpus_kl_factor=1"] == "1"
    assert devices["gpus_kl_factor=2"] in ("0", "1")  # the third waited for a freed GPU
    assert seen == devices  # each child really ran with the GPU the record names
    assert "GPU 0" in output and "GPU 1" in output


@pytest.mark.slow
def test_sigint_stops_every_run_killed_leaves_no_process_and_a_rerun_finishes(write_config, tmp_path):
    runs = tmp_path / "runs"
    config, names, process = start_stoppable_sweep(write_config, runs, "stop")
    wait_until(
        lambda: all(manifest(runs / name).get("epochs_completed", 0) >= 1 for name in names),
        300,
        process,
        "a checkpoint of both runs",
    )
    children = processes_mentioning(str(runs))
    assert len([command for _, command in children if " train " in command]) == 2, children
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 130, output
    assert "Interrupted: 2 run(s) stopped and marked KILLED" in output and "Traceback" not in output
    for name in names:
        stopped = manifest(runs / name)
        assert stopped["status"] == "KILLED", stopped
        assert 1 <= stopped["epochs_completed"] < 6
        assert not list((runs / name / "checkpoints").glob(".*"))  # no half-written checkpoint
    assert processes_mentioning(str(runs)) == []  # every child (and its group) is gone
    record = json.loads((runs / "sweeps" / "stop.json").read_text())
    assert [run["outcome"] for run in record["runs"]] == ["interrupted", "interrupted"]

    # The same command carries on: both resumed from their checkpoints, to the end.
    process = sweep_process(config, *STOPPABLE, "--runs-dir", runs)
    output, _ = process.communicate(timeout=400)
    assert process.returncode == 0, output
    assert "resuming from its last checkpoint" in output
    for name in names:
        assert manifest(runs / name)["status"] == "COMPLETED"
        assert [row["epoch"] for row in comparable(runs / name)] == [1, 2, 3, 4, 5, 6]
    record = json.loads((runs / "sweeps" / "stop.json").read_text())
    assert [run["outcome"] for run in record["runs"]] == ["resumed", "resumed"]
    assert processes_mentioning(str(runs)) == []


@pytest.mark.slow
def test_a_sweep_killed_outright_takes_its_runs_with_it(write_config, tmp_path):
    """SIGKILL gives the sweep no chance to clean up: its children still stop (PR_SET_PDEATHSIG), marked KILLED."""
    runs = tmp_path / "runs"
    _, names, process = start_stoppable_sweep(write_config, runs, "orphan")
    # Both have begun training (the data fingerprint is in the manifest once the data is loaded).
    begun = lambda name: manifest(runs / name).get("data", {}).get("fingerprint")  # noqa: E731
    wait_until(lambda: all(begun(name) for name in names), 240, process, "both training")
    process.kill()
    process.wait()
    wait_until(lambda: processes_mentioning(str(runs)) == [], 120, what="the orphaned runs to stop")
    assert [manifest(runs / name)["status"] for name in names] == ["KILLED", "KILLED"]


# ------------------------------------------------------------------------------------- --plan, --index


@pytest.mark.slow
def test_plan_and_index_round_trip_every_point(write_config, tmp_path):
    import vaecli

    config = write_config(tiny_config(name="grid", data={"num_images": 200}, train={"epochs": 1}))
    runs = tmp_path / "runs"
    axes = ["--set", "loss.kl_factor=0.5,1", "--set", "model.z_dim=2,4", "--set", "train.batch_size=50"]
    lines = ok("sweep", config, *axes, "--plan").splitlines()
    assert [line.split("\t") for line in lines] == [
        ["0", "grid_kl_factor=0.5_z_dim=2", "loss.kl_factor=0.5 model.z_dim=2"],
        ["1", "grid_kl_factor=0.5_z_dim=4", "loss.kl_factor=0.5 model.z_dim=4"],
        ["2", "grid_kl_factor=1_z_dim=2", "loss.kl_factor=1 model.z_dim=2"],
        ["3", "grid_kl_factor=1_z_dim=4", "loss.kl_factor=1 model.z_dim=4"],
    ]
    assert not runs.exists()  # --plan trains nothing
    plan = vaecli.sweep_plan(config, ["loss.kl_factor=0.5,1", "model.z_dim=2,4", "train.batch_size=50"])
    assert [f"{point.index}\t{point.name}" for point in plan.points] == [line.rsplit("\t", 1)[0] for line in lines]

    for line in reversed(lines):  # any order: a scheduler starts array tasks as it likes
        index, name, overrides = line.split("\t")
        output = ok("sweep", config, *axes, "--index", index, "--runs-dir", runs)
        assert f"grid point {index}: {name}" in output
        trained = yaml.safe_load((runs / name / "config.yaml").read_text())
        for override in overrides.split():
            key, value = override.split("=")
            section, field = key.split(".")
            assert trained[section][field] == yaml.safe_load(value)
        assert trained["train"]["batch_size"] == 50 and trained["name"] == name
        assert manifest(runs / name)["status"] == "COMPLETED"
    assert sorted(path.name for path in runs.iterdir() if (path / "manifest.json").exists()) == sorted(
        line.split("\t")[1] for line in lines
    )
    assert not (runs / "sweeps" / "grid.json").exists()  # --index writes no record (array tasks would race)
    output = ok("sweep", config, *axes, "--index", "2", "--runs-dir", runs)
    assert "COMPLETED, skipped" in output  # a finished point is not trained again
    status = ok("sweep", config, *axes, "--status", "--runs-dir", runs)
    assert "Sweep grid: 4 COMPLETED" in status


# ---------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("extra", "environment", "message"),
    [
        (["--jobs", "0"], {}, "--jobs must be at least 1, got 0"),
        (["--devices", "5"], {"CUDA_VISIBLE_DEVICES": "0,1"}, "GPU 5 is not visible; this machine shows 2 GPUs (0, 1)"),
        (["--devices", "0,0"], {"CUDA_VISIBLE_DEVICES": "0,1"}, "GPU 0 given twice"),
        (["--devices", "zero"], {}, "expected 'auto' or GPU ids"),
        (["--index", "2"], {}, "--index 2 is out of range: this grid has 2 points (0 to 1)"),
        (["--index", "-1"], {}, "--index -1 is out of range"),
        (["--gpus-per-run", "1"], {}, "--gpus-per-run applies only with --executor slurm"),
        (["--requeues", "5"], {}, "--requeues applies only with --executor slurm"),
        (["--time", "1:00:00", "--partition", "gpu"], {}, "--partition, --time apply only with --executor slurm"),
        (["--executor", "kubernetes"], {}, "--executor kubernetes: expected one of local, slurm"),
        (["--executor", "slurm", "--devices", "0"], {"PATH": "SLURM"}, "--devices is for this machine"),
        (["--executor", "slurm", "--time", "soon"], {"PATH": "SLURM"}, "--time soon: expected a Slurm time"),
        (["--index", "0", "--jobs", "2"], {}, "--index trains one grid point in this process"),
        (["--plan", "--status"], {}, "give --plan or --status, not both"),
    ],
)
def test_bad_options_are_one_line_and_exit_2_before_anything_starts(
    write_config, tmp_path, monkeypatch, fake_slurm, extra, environment, message
):
    for key, value in environment.items():
        monkeypatch.setenv(key, str(fake_slurm) if value == "SLURM" else value)
    config = write_config(tiny_config(name="grid"))
    result = vae("sweep", config, "--set", "loss.kl_factor=0.5,1", "--runs-dir", tmp_path / "runs", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output  # one line, no traceback
    assert not (tmp_path / "runs").exists()


@pytest.fixture
def fake_slurm(tmp_path) -> Path:
    """A PATH holding stand-ins for sbatch, srun and squeue that only say they ran (no cluster needed)."""
    folder = tmp_path / "slurm-bin"
    folder.mkdir()
    for tool in ("sbatch", "srun", "squeue"):
        (folder / tool).write_text(f"#!/bin/sh\necho {tool} must not run in this test >&2\nexit 1\n")
        (folder / tool).chmod(0o755)
    return folder


def test_slurm_without_sbatch_or_without_submitit_is_refused(write_config, tmp_path, monkeypatch, fake_slurm):
    config = write_config(tiny_config(name="grid"))
    arguments = ("sweep", config, "--set", "loss.kl_factor=0.5,1", "--runs-dir", tmp_path / "runs")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    result = vae(*arguments, "--executor", "slurm")
    assert result.exit_code == 2 and "--executor slurm needs Slurm's sbatch, srun, squeue on PATH" in result.output

    monkeypatch.setenv("PATH", str(fake_slurm))
    monkeypatch.setitem(sys.modules, "submitit", None)  # as if it were not installed
    result = vae(*arguments, "--executor", "slurm")
    assert result.exit_code == 2 and "pip install 'vaecli[slurm]'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------------ pieces


def test_a_freed_gpu_goes_to_the_next_run_and_runs_spread_over_gpus():
    from vaecli.sweeps.devices import DevicePool, parse_devices, thread_share

    pool = DevicePool(["0", "1", "3"])
    assert [pool.take(), pool.take()] == ["0", "1"]
    pool.give_back("0")
    assert [pool.take(), pool.take()] == ["0", "3"]  # the freed GPU first, then the idle one
    assert pool.take() == "0"  # more runs than GPUs: they share, least busy first
    assert DevicePool([]).take() is None
    assert parse_devices("auto", ["0", "1"]) == ["0", "1"] and parse_devices("1, 0", ["0", "1"]) == ["1", "0"]
    assert parse_devices("auto", []) == [] and parse_devices(None, []) is None
    assert [thread_share(jobs, cores=16) for jobs in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]


def test_visible_gpus_follow_cuda_visible_devices(monkeypatch):
    from vaecli.sweeps.devices import visible_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


@pytest.mark.parametrize(
    ("text", "minutes"), [("4:00:00", 240), ("90", 90), ("1:30", 2), ("1-12", 2160), ("2-0:30", 2910), ("0:1:1", 2)]
)
def test_slurm_time_in_minutes(text, minutes):
    from vaecli.sweeps.slurm import time_minutes

    assert time_minutes(text) == minutes


def test_the_public_sweep_stays_the_function_after_its_package_is_imported():
    import vaecli
    import vaecli.cli.sweep  # noqa: F401
    import vaecli.sweeps.local  # noqa: F401

    assert callable(vaecli.sweep) and vaecli.sweep.__module__ == "vaecli.sweeps"
    assert callable(vaecli.sweep) and callable(vaecli.sweep_plan) and callable(vaecli.sweep_status)


# ----------------------------------------------------------------------------------- one sweep per name


@pytest.mark.slow
def test_a_second_sweep_of_the_same_name_is_refused_and_never_touches_the_live_runs(write_config, tmp_path):
    config = write_config(tiny_config(name="sw", data={"num_images": 3000}, train={"epochs": 4, "batch_size": 50}))
    runs = tmp_path / "runs"
    names = ["sw_kl_factor=0.5", "sw_kl_factor=1"]
    grid = ("--set", "loss.kl_factor=0.5,1", "--runs-dir", runs)
    first = sweep_process(config, *grid, "--jobs", 2)
    begun = lambda name: manifest(runs / name).get("data", {}).get("fingerprint")  # noqa: E731
    wait_until(lambda: all(begun(name) for name in names), 240, first, "both training")
    for extra in (["--jobs", 2], [], ["--index", 0]):
        second = vae("sweep", config, *grid, *extra)
        assert second.exit_code == 2, second.output
        assert "sweep sw is running right now (pid" in second.output and "another --name" in second.output
    # Another sweep that reaches the same runs (here: a serial one under another name, given the same run
    # names by a second config) leaves them alone.
    from vaecli.sweeps.plan import decide, plan_sweep

    plan = plan_sweep(Path(config), ["loss.kl_factor=0.5,1"], None, None)
    assert [decide(point, runs, False) for point in plan.points] == ["live", "live"]
    output, _ = first.communicate(timeout=400)
    assert first.returncode == 0, output
    assert [manifest(runs / name)["status"] for name in names] == ["COMPLETED", "COMPLETED"]
    assert not (runs / "sweeps" / ".sw.lock").exists()
    assert vae("sweep", config, *grid).exit_code == 0  # the name is free again: every point skipped
