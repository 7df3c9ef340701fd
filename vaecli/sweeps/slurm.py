"""`vae sweep --executor slurm`: the grid as one Slurm array job, submitted through submitit.

Array task I runs grid point I in its job (`vae sweep --index I`'s code path), so a run trained
on the cluster is the run `vae sweep --index I` trains anywhere. Logs go to
runs/sweeps/NAME/logs/, job ids to the sweep record. States come from the runs' manifests and
`squeue`, never from `sacct` (a cluster without slurmdbd has no accounting; submitit would
report UNKNOWN). Submitting again submits only the points that are neither COMPLETED nor queued.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from vaecli.errors import ConfigError, TrainingInterrupted
from vaecli.io.atomic import timestamp
from vaecli.runtime.tensorflow import THREADS_VARIABLE
from vaecli.sweeps.plan import NOT_TRAINED, SweepPlan, SweepPoint, decide, describe_action
from vaecli.sweeps.record import carry_over, previous_runs, read_record, sweep_folder, write_record

SQUEUE_TIMEOUT = 30  # seconds
SLURM_TIME = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


@dataclass(frozen=True)
class SlurmOptions:
    """The resources of each array task (one grid point)."""

    partition: str | None = None  # Slurm's default partition when None
    gpus_per_run: int | None = None
    cpus_per_run: int | None = None  # also the run's TensorFlow threads
    time: str = "4:00:00"  # per run, in any of sbatch's --time formats
    requeues: int = 3  # times a run stopped at its time limit goes back into the queue to resume

    @property
    def minutes(self) -> int:
        return time_minutes(self.time)

    def describe(self) -> dict:
        return asdict(self)


def time_minutes(text: str) -> int:
    """sbatch's --time formats (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) -> whole minutes, rounded up."""
    match = SLURM_TIME.match(text.strip())
    if not match:
        raise ConfigError(
            f"time {text}: expected a Slurm time such as 4:00:00 (H:M:S), 90 (minutes) or 1-12 (D-H)",
            arguments=("time",),
        )
    days, *parts = match.groups()
    numbers = [int(part) for part in parts if part is not None]
    if days is not None:  # D-H, D-H:M, D-H:M:S
        hours, minutes, seconds = (numbers + [0, 0])[:3]
        total = int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
    elif len(numbers) == 1:  # M
        total = numbers[0] * 60
    elif len(numbers) == 2:  # M:S
        total = numbers[0] * 60 + numbers[1]
    else:  # H:M:S
        total = numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
    if total < 60:
        raise ConfigError(f"time {text}: give each run at least a minute", arguments=("time",))
    return -(-total // 60)


def require_slurm() -> None:
    """ConfigError unless this machine can submit: sbatch, srun and squeue on PATH, submitit importable."""
    missing = [tool for tool in ("sbatch", "srun", "squeue") if shutil.which(tool) is None]
    if missing:
        raise ConfigError(
            f"executor slurm needs Slurm's {', '.join(missing)} on PATH; run the sweep on a login node of the cluster",
            arguments=("executor",),
        )
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise ConfigError(
            "executor slurm needs submitit: pip install 'vaecli[slurm]' (or pip install submitit)",
            arguments=("executor",),
        ) from None


@dataclass(frozen=True)
class GridSpec:
    """What an array task needs to rebuild the plan on the compute node (absolute paths: jobs may start elsewhere)."""

    config: str
    settings: tuple[str, ...]
    seeds: int | None
    name: str
    runs_dir: str
    retry_failed: bool
    requeues: int = SlurmOptions.requeues


def train_grid_point(spec: GridSpec, index: int) -> str:
    """The body of array task `index`, run by submitit in the job: train grid point `index` in this process."""
    from vaecli.sweeps import sweep

    # Slurm sends SIGUSR2 90 s before the time limit (submitit's --signal): the run stops then,
    # marked KILLED with its checkpoint, rather than be killed mid-epoch, and the task goes back
    # into the queue (at most spec.requeues times), where it starts again and resumes the run.
    signal.signal(signal.SIGUSR2, _stop_at_time_limit)
    if os.environ.get("SLURM_CPUS_PER_TASK"):
        os.environ.setdefault(THREADS_VARIABLE, os.environ["SLURM_CPUS_PER_TASK"])
    try:
        result = sweep(
            spec.config,
            list(spec.settings),
            seeds=spec.seeds,
            name=spec.name,
            runs_dir=spec.runs_dir,
            index=index,
            retry_failed=spec.retry_failed,
            quiet=False,
        )
    except TrainingInterrupted:
        if _time_limit_reached and requeue_this_task(spec.requeues):
            raise SystemExit(0) from None  # as submitit does after a requeue: no result, the next start gives one
        raise
    point = result.plan.points[0]
    if point.outcome == "failed":
        raise RuntimeError(f"{point.name} failed: {point.error}")
    return f"{point.name}: {point.outcome}"


_time_limit_reached = False


def _stop_at_time_limit(signum, frame):
    global _time_limit_reached
    _time_limit_reached = True
    raise KeyboardInterrupt


def requeue_this_task(limit: int) -> bool:
    """Put this job (array task) back into Slurm's queue, unless it has been requeued `limit` times already."""
    restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    if restarts >= limit:
        print(f"Not requeued: requeued {restarts} times already (--requeues {limit}); submit the sweep again to resume")
        return False
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    job = f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", "?")
    print(f"Time limit near: requeueing job {job} ({restarts + 1} of at most {limit}); it resumes the run", flush=True)
    try:
        subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        said = (getattr(error, "stderr", None) or str(error)).strip()
        print(f"Not requeued: scontrol requeue {job} failed ({said}); submit the sweep again to resume")
        return False
    return True


def queued_jobs() -> dict[str, str]:
    """This user's Slurm jobs, one entry per array task: job id (ARRAY_INDEX) -> state (PENDING, RUNNING ...).

    ConfigError when squeue cannot answer (no controller): a status without the queue would be a guess.
    """
    try:
        result = subprocess.run(
            ["squeue", "--noheader", "--array", "--user", getpass.getuser(), "--format", "%i|%T"],
            capture_output=True,
            text=True,
            timeout=SQUEUE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise ConfigError(f"squeue failed: {error}") from None
    if result.returncode != 0:
        said = (result.stderr or result.stdout).strip().splitlines()
        raise ConfigError(f"squeue failed: {said[-1] if said else f'exit code {result.returncode}'}")
    jobs = {}
    for line in result.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id:
            jobs[job_id] = state
    return jobs


def triage(plan: SweepPlan, runs_dir: Path, retry_failed: bool, say: Callable[[str], None]) -> list[SweepPoint]:
    """The points to submit: neither COMPLETED, nor queued (their earlier job still in squeue), nor failed earlier."""
    earlier = previous_runs(runs_dir, plan.name)
    queue = queued_jobs()
    todo = []
    for point in plan.points:
        carry_over(point, earlier.get(point.name))
        action = decide(point, runs_dir, retry_failed)
        if point.slurm_job_id in queue and action != "skip":
            point.outcome = "queued"
            said = f"queued as job {point.slurm_job_id} ({queue[point.slurm_job_id]})"
        elif action in NOT_TRAINED:
            point.outcome = NOT_TRAINED[action]
            said = describe_action(action)
        else:
            todo.append(point)
            said = "submitting" + (" (resumes from its last checkpoint)" if action == "resume" else "")
        say(f"{point.index}  {point.name}: {said}")
    return todo


def submit(
    plan: SweepPlan,
    runs_dir: Path,
    options: SlurmOptions,
    jobs: int | None,
    retry_failed: bool,
    say: Callable[[str], None],
) -> Path:
    """Submit every point that is neither COMPLETED nor queued as one array job; returns the record file."""
    import submitit

    runs_dir = Path(runs_dir).resolve()
    todo = triage(plan, runs_dir, retry_failed, say)
    logs = sweep_folder(runs_dir, plan.name) / "logs"
    submissions = _earlier_submissions(runs_dir, plan.name)
    if todo:
        executor = submitit.AutoExecutor(folder=logs, cluster="slurm")
        executor.update_parameters(**_parameters(plan, options, jobs or len(todo)))
        config = str(Path(plan.config_path).resolve())
        spec = GridSpec(
            config, tuple(plan.settings), plan.seeds, plan.name, str(runs_dir), retry_failed, options.requeues
        )
        try:
            submitted = executor.map_array(train_grid_point, [spec] * len(todo), [point.index for point in todo])
        except Exception as error:  # sbatch refused (an unknown partition, too many GPUs): its own words
            raise ConfigError(f"sbatch refused the array job: {_first_line(error)}") from None
        for point, job in zip(todo, submitted):
            point.slurm_job_id, point.outcome, point.log = job.job_id, "submitted", str(job.paths.stdout)
        array_id = submitted[0].job_id.split("_")[0]
        submissions.append({"array_job_id": array_id, "submitted": timestamp(), "indices": [p.index for p in todo]})
        say(f"Submitted array job {array_id}: {len(todo)} run(s); logs in {logs}")
    else:
        say("Nothing to submit: every point is COMPLETED, queued or failed earlier (--retry-failed resubmits those).")
    details = {"jobs": jobs, "slurm": {**options.describe(), "logs": str(logs), "submissions": submissions}}
    return write_record(plan, runs_dir, "slurm", **details)


def _parameters(plan: SweepPlan, options: SlurmOptions, parallelism: int) -> dict:
    parameters = {
        "name": f"vae-{plan.name}",
        "timeout_min": options.minutes,
        "slurm_array_parallelism": parallelism,  # at most this many runs at once (--jobs)
        "stderr_to_stdout": True,  # one log per run
        "slurm_additional_parameters": {"requeue": True},  # a task may requeue itself (clusters with JobRequeue=0)
    }
    if options.partition:
        parameters["slurm_partition"] = options.partition
    if options.gpus_per_run:
        parameters["gpus_per_node"] = options.gpus_per_run
    if options.cpus_per_run:
        parameters["cpus_per_task"] = options.cpus_per_run
    return parameters


def _earlier_submissions(runs_dir: Path, name: str) -> list:
    try:
        slurm = read_record(runs_dir, name).get("slurm") or {}
    except Exception:  # no record yet, or a local one
        return []
    return list(slurm.get("submissions") or [])


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "stderr", None) or error).strip()
    lines = [line for line in text.splitlines() if "error" in line.lower()] or text.splitlines() or [repr(error)]
    return lines[0][:300]
