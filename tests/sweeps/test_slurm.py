"""`vae sweep --executor slurm` on a real one-node Slurm cluster, started by scripts/slurm_cluster.sh.

The cluster needs root and Debian's slurm-wlm and munge (.ci/run installs them). Under CI a
cluster that cannot start fails the test; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, manifest, ok, tiny_config, vae

CLUSTER = ROOT / "scripts" / "slurm_cluster.sh"


def unavailable(message: str):
    if os.environ.get("CI"):
        pytest.fail(f"the Slurm test cluster is required under CI: {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def slurm_partition():
    """A running one-node cluster; its partition's name. Stopped afterwards when this fixture started it."""
    if os.geteuid() != 0:
        unavailable("starting the Slurm test cluster needs root (scripts/slurm_cluster.sh start)")
    if shutil.which("slurmctld") is None or shutil.which("munged") is None:
        unavailable("slurm-wlm and munge are not installed (apt-get install slurm-wlm munge)")
    try:
        import submitit  # noqa: F401
    except ImportError:
        unavailable("submitit is not installed (pip install -e '.[slurm]')")
    was_up = subprocess.run([CLUSTER, "status"], capture_output=True, timeout=60).returncode == 0
    started = subprocess.run([CLUSTER, "start"], capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        unavailable(f"scripts/slurm_cluster.sh start failed: {started.stderr.strip() or started.stdout.strip()}")
    yield subprocess.run(["hostname", "-s"], capture_output=True, text=True, check=True).stdout.strip()
    if not was_up:  # leave no daemon of ours behind
        subprocess.run([CLUSTER, "stop"], capture_output=True, timeout=120)


def wait_for_completed(runs: Path, names: list[str], timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(manifest(runs / name).get("status") == "COMPLETED" for name in names):
            return
        time.sleep(1)
    queue = subprocess.run(["squeue"], capture_output=True, text=True).stdout
    logs = "\n".join(path.read_text()[-1500:] for path in sorted(runs.glob("sweeps/*/logs/*.out")))
    pytest.fail(
        f"runs not COMPLETED in {timeout} s: {[manifest(runs / n).get('status') for n in names]}\n{queue}\n{logs}"
    )


def queued_states(job: str) -> str:
    return subprocess.run(
        ["squeue", "--noheader", "--job", job, "--format", "%T"], capture_output=True, text=True
    ).stdout


def wait_for_queue_to_drain(job_ids: list[str], timeout: float = 120) -> None:
    """A job whose run is COMPLETED stays in the queue a moment longer (submitit saves its result, srun exits)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        listed = subprocess.run(["squeue", "--noheader", "--array", "--format", "%i"], capture_output=True, text=True)
        if not set(job_ids) & set(listed.stdout.split()):
            return
        time.sleep(0.5)
    pytest.fail(f"jobs {job_ids} still in the queue after {timeout} s")


@pytest.mark.slow
def test_a_two_point_sweep_runs_as_one_slurm_array_and_resubmits_only_what_is_left(
    slurm_partition, write_config, tmp_path
):
    config = write_config(tiny_config(name="onslurm", data={"num_images": 300}, train={"epochs": 2}))
    runs = tmp_path / "runs"
    names = ["onslurm_kl_factor=0.5", "onslurm_kl_factor=1"]
    grid = (config, "--set", "loss.kl_factor=0.5,1", "--runs-dir", runs)
    slurm = ("--executor", "slurm", "--partition", slurm_partition, "--time", "0:15:00", "--cpus-per-run", "1")

    refused = vae("sweep", *grid, "--executor", "slurm", "--partition", "no-such-partition")
    assert refused.exit_code == 2 and "sbatch refused the array job" in refused.output, refused.output
    assert "invalid partition" in refused.output and not (runs / "sweeps" / "onslurm.json").exists()

    output = ok("sweep", *grid, *slurm)
    assert "Submitted array job" in output
    record = json.loads((runs / "sweeps" / "onslurm.json").read_text())
    job_ids = [run["slurm_job_id"] for run in record["runs"]]
    array_id = record["slurm"]["submissions"][0]["array_job_id"]
    assert job_ids == [f"{array_id}_0", f"{array_id}_1"]  # one array job, task I = grid point I
    assert record["executor"] == "slurm" and record["slurm"]["partition"] == slurm_partition

    # Submitting again while the array is queued or running submits nothing.
    output = ok("sweep", *grid, *slurm)
    assert "Nothing to submit" in output or "queued as job" in output
    assert len(json.loads((runs / "sweeps" / "onslurm.json").read_text())["slurm"]["submissions"]) == 1

    wait_for_completed(runs, names)
    for name in names:
        assert manifest(runs / name)["threads"]["intra_op"] == 1  # --cpus-per-run 1: one TensorFlow thread
    logs = sorted((runs / "sweeps" / "onslurm" / "logs").glob("*_log.out"))
    assert [path.name for path in logs] == [f"{job}_0_log.out" for job in job_ids]
    assert f"grid point 1: {names[1]}" in logs[1].read_text()
    status = ok("sweep-status", "onslurm", "--runs-dir", runs)
    assert "Sweep onslurm: 2 COMPLETED" in status and job_ids[0] in status

    # A run that needs more work (marked KILLED, as at a time limit) is the only one submitted again.
    wait_for_queue_to_drain(job_ids)
    killed = manifest(runs / names[1])
    (runs / names[1] / "manifest.json").write_text(json.dumps({**killed, "status": "KILLED"}))
    (runs / names[1] / "decoder.keras").unlink()
    output = ok("sweep", *grid, *slurm)
    record = json.loads((runs / "sweeps" / "onslurm.json").read_text())
    assert [submission["indices"] for submission in record["slurm"]["submissions"]] == [[0, 1], [1]]
    second = record["slurm"]["submissions"][1]["array_job_id"]
    # (submitit submits a single point as a plain job: its id has no _INDEX)
    assert [run["slurm_job_id"] for run in record["runs"]] == [job_ids[0], second]
    wait_for_completed(runs, names)
    assert (runs / names[1] / "decoder.keras").is_file()
    assert "1 run(s) submitted" in output and re.search(r"Nothing to submit", ok("sweep", *grid, *slurm))


@pytest.mark.slow
def test_a_run_stopped_at_its_time_limit_is_requeued_and_resumes(slurm_partition, write_config, tmp_path):
    config = write_config(
        tiny_config(name="requeue", data={"num_images": 300}, train={"epochs": 100}, output={"image_every": 100})
    )
    runs = tmp_path / "runs"
    run = runs / "requeue_kl_factor=1"
    ok("sweep", config, "--set", "loss.kl_factor=1", "--runs-dir", runs, "--executor", "slurm", "--cpus-per-run", "1")
    job = json.loads((runs / "sweeps" / "requeue.json").read_text())["runs"][0]["slurm_job_id"]

    deadline = time.time() + 300
    while manifest(run).get("epochs_completed", 0) < 3:  # a checkpoint to resume from
        assert time.time() < deadline, f"no progress: {manifest(run)}"
        time.sleep(0.2)
    # What Slurm sends 90 s before --time (submitit's --signal USR2@90), sent now.
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
    deadline = time.time() + 120
    while manifest(run).get("status") != "KILLED":
        assert time.time() < deadline, f"USR2 did not stop the run: {manifest(run)}"
        time.sleep(0.1)
    assert 3 <= manifest(run)["epochs_completed"] < 100

    # The task requeued itself: its job is back in the queue. Slurm holds a requeued job for about
    # two minutes before it may start again (an earlier start is refused: its credential is revoked).
    deadline = time.time() + 60
    while "PENDING" not in queued_states(job):
        assert time.time() < deadline, f"job {job} not requeued: {queued_states(job)}"
        time.sleep(0.2)
    wait_for_completed(runs, [run.name])  # started again, resumed
    assert manifest(run)["epochs_completed"] == 100
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 101))  # each epoch once: resumed, not started over
    log = next((runs / "sweeps" / "requeue" / "logs").glob("*_log.out")).read_text()
    assert f"requeueing job {job} (1 of at most 3)" in log, log[-3000:]


def test_a_task_requeued_as_often_as_allowed_stays_out_of_the_queue(monkeypatch, capsys):
    from vaecli.sweeps.slurm import requeue_this_task

    monkeypatch.setenv("SLURM_RESTART_COUNT", "3")
    monkeypatch.setenv("PATH", "/nonexistent")  # scontrol must not be called
    assert requeue_this_task(3) is False
    assert "requeued 3 times already (--requeues 3); submit the sweep again" in capsys.readouterr().out


def test_a_task_that_cannot_requeue_says_why_and_ends(monkeypatch, capsys):
    from vaecli.sweeps.slurm import requeue_this_task

    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    monkeypatch.setenv("SLURM_JOB_ID", "7")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no scontrol
    assert requeue_this_task(3) is False
    assert "Not requeued: scontrol requeue 7 failed" in capsys.readouterr().out
