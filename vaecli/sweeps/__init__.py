"""Grids of runs (`vae sweep`): in this process, several at once on this machine, or on Slurm.

    plan.py     the grid as data: points (index, run name, overrides), what to do with each
    serial.py   one point after another in this process (the default, and `--index I`)
    local.py    --jobs N / --devices: each point its own `vae train` process, N at a time
    devices.py  visible GPUs (no TensorFlow import), CPU thread shares, the device pool
    live.py     the live table / plain lines, read from the runs' own files
    slurm.py    --executor slurm: one array job through submitit; squeue
    hparams.py  runs/sweeps/NAME/: the sweep in TensorBoard's HParams dashboard
    status.py   --status, `vae sweep-status`: manifests + Slurm's queue
    record.py   runs/sweeps/NAME.json, rewritten atomically

The package is `sweeps`, not `sweep`: `vaecli.sweep` is the public function, and a submodule of
that name would replace it as an attribute of `vaecli` the moment it is imported.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vaecli.errors import ConfigError, RunError
from vaecli.results import Result
from vaecli.runs import RunPaths, sweep_record_path
from vaecli.runs.paths import sweep_lock_path
from vaecli.sweeps.plan import SweepPlan, SweepPoint, plan_lines, plan_sweep, select_point
from vaecli.sweeps.slurm import SlurmOptions

if TYPE_CHECKING:
    from rich.console import Console

EXECUTORS = {"local": "this machine: in this process, or --jobs/--devices processes", "slurm": "a Slurm array job"}

__all__ = ["SlurmOptions", "SweepPlan", "SweepPoint", "SweepResult", "SweepStatus", "plan_lines"]
__all__ += ["sweep", "sweep_plan", "sweep_status"]


@dataclass
class SweepResult(Result):
    plan: SweepPlan
    record: Path  # runs/sweeps/NAME.json (not written by --index)
    executor: str = "serial"  # serial, local (processes), slurm (submitted) or index

    @property
    def failed(self) -> list[str]:
        return [point.name for point in self.plan.points if point.outcome == "failed"]

    @property
    def run_folders(self) -> list[RunPaths]:
        """The grid's run folders that exist (for `vaecli.compare`)."""
        folders = [RunPaths(self.record.parent.parent / point.name) for point in self.plan.points]
        return [paths for paths in folders if paths.manifest.exists()]


def check_options(
    jobs: int | None, devices: str | None, index: int | None, executor: str, slurm: SlurmOptions | None
) -> list[str] | None:
    """Refuse impossible combinations before anything is planned or started; returns the devices list."""
    if executor not in EXECUTORS:
        raise ConfigError(f"executor {executor}: expected one of {', '.join(EXECUTORS)}", arguments=("executor",))
    if jobs is not None and jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}", arguments=("jobs",))
    if slurm is not None and executor != "slurm":
        given = [name for name, value in _slurm_options(slurm) if value is not None]
        verb = "applies" if len(given) == 1 else "apply"
        hint = " (on this machine devices gives each run a GPU)" if "gpus_per_run" in given else ""
        raise ConfigError(
            f"{', '.join(given) or 'Slurm options'} {verb} only with executor slurm{hint}",
            arguments=(*given, "executor", "devices"),
        )
    if index is not None and (jobs is not None or devices is not None or executor != "local"):
        raise ConfigError(
            "index trains one grid point in this process; give no jobs, devices or executor",
            arguments=("index", "jobs", "devices", "executor"),
        )
    if slurm is not None and slurm.requeues < 0:
        raise ConfigError(f"requeues must be 0 or more, got {slurm.requeues}", arguments=("requeues",))
    if executor == "slurm":
        if devices is not None:
            raise ConfigError(
                "devices is for this machine; on Slurm give gpus_per_run", arguments=("devices", "gpus_per_run")
            )
        from vaecli.sweeps.slurm import require_slurm

        _ = (slurm or SlurmOptions()).minutes  # a time sbatch would refuse: refused here, before anything
        require_slurm()
        return None
    from vaecli.sweeps.devices import parse_devices

    return parse_devices(devices)


def _slurm_options(slurm: SlurmOptions) -> list[tuple[str, object]]:
    """(name, value) of each Slurm option, None where it has its default."""
    return [
        ("partition", slurm.partition),
        ("gpus_per_run", slurm.gpus_per_run),
        ("cpus_per_run", slurm.cpus_per_run),
        ("time", slurm.time if slurm.time != SlurmOptions.time else None),
        ("requeues", slurm.requeues if slurm.requeues != SlurmOptions.requeues else None),
    ]


def sweep_plan(
    config: str | Path, settings: list[str], *, seeds: int | None = None, name: str | None = None
) -> SweepPlan:
    """The grid `vae sweep` would train, without training: points with index, run name, overrides, config.

    Example:
        >>> plan = vaecli.sweep_plan("configs/quickstart.yaml", ["loss.kl_factor=1e-3,1"])
        >>> [(point.index, point.name) for point in plan.points]
        [(0, 'quickstart_kl_factor=0.001'), (1, 'quickstart_kl_factor=1')]
    """
    return plan_sweep(Path(config), settings, seeds, name)


def sweep(
    config: str | Path,
    settings: list[str],
    *,
    seeds: int | None = None,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    evaluate: bool = False,
    retry_failed: bool = False,
    quiet: bool = True,
    console: Console | None = None,
    jobs: int | None = None,
    devices: str | None = None,
    index: int | None = None,
    executor: str = "local",
    slurm: SlurmOptions | None = None,
) -> SweepResult:
    """Train the grid of runs over the --set values (`vae sweep`), skipping finished runs.

    settings are `KEY=V1,V2,...` strings, one grid axis each. Without jobs or devices the runs
    train one after another in this process; jobs=N trains N at once, each in its own `vae train`
    process (devices="0,1" or "auto": one GPU each); index=I trains grid point I only (for an
    outside scheduler); executor="slurm" submits the grid as one array job (slurm: its resources).
    Every option is checked, and every config validated, before anything starts (ConfigError).

    Example:
        >>> result = vaecli.sweep("configs/quickstart.yaml", ["loss.kl_factor=1e-3,1", "train.epochs=2"], jobs=2)
        >>> [point.outcome for point in result.plan.points], result.failed
        (['trained', 'trained'], [])
    """
    from rich.console import Console

    console = console or Console()
    device_list = check_options(jobs, devices, index, executor, slurm)
    plan = plan_sweep(Path(config), settings, seeds, name)
    runs_dir = Path(runs_dir)
    if index is not None:  # tasks of one array job run side by side; each run's own lock keeps them apart
        _refuse_running(runs_dir, plan.name)
        return _train_index(select_point(plan, index), runs_dir, evaluate, retry_failed, console, quiet)
    if executor == "slurm":
        _refuse_running(runs_dir, plan.name)
        return _submit(plan, runs_dir, slurm or SlurmOptions(), jobs, retry_failed, console)
    with _sweep_lock(runs_dir, plan.name):
        console.print(f"Sweep {plan.name}: {len(plan.points)} runs in {runs_dir}", highlight=False)
        if jobs is None and device_list is None:
            from vaecli.sweeps.serial import run_serial

            run_serial(plan, runs_dir, evaluate, retry_failed, console, quiet)
            return _finish(SweepResult(plan, sweep_record_path(runs_dir, plan.name), "serial"))
        return _run_parallel(plan, runs_dir, jobs, device_list, evaluate, retry_failed, console)


def _running_error(name: str, holder: str) -> RunError:
    return RunError(
        f"sweep {name} is running right now ({holder}); wait for it, follow it with `vae sweep-status {name}`, "
        "or give this sweep another --name"
    )


def _refuse_running(runs_dir: Path, name: str) -> None:
    from vaecli.runs.claims import file_holder

    holder = file_holder(sweep_lock_path(runs_dir, name))
    if holder:
        raise _running_error(name, holder)


@contextmanager
def _sweep_lock(runs_dir: Path, name: str) -> Iterator[None]:
    """Hold sweep NAME's lock while it runs: a second sweep of that name is refused, never crosses it."""
    from vaecli.runs.claims import RunLock, file_holder

    path = sweep_lock_path(runs_dir, name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = RunLock.acquire_file(path)
    except OSError as error:
        raise RunError(f"cannot lock sweep {name} ({path}: {error.strerror or error})") from None
    if lock is None:
        raise _running_error(name, file_holder(path) or "another process")
    with lock:
        yield


def _run_parallel(
    plan: SweepPlan,
    runs_dir: Path,
    jobs: int | None,
    device_list: list[str] | None,
    evaluate: bool,
    retry_failed: bool,
    console: Console,
) -> SweepResult:
    from vaecli.sweeps.local import run_parallel
    from vaecli.sweeps.record import write_record

    if device_list == []:
        console.print("--devices auto: no GPU is visible; the runs share this machine's CPU", highlight=False)
    devices = device_list or []
    jobs = jobs or max(1, len(devices))  # one run per GPU unless told otherwise
    details = {"jobs": jobs, "devices": devices or None}
    run_parallel(plan, runs_dir, jobs, devices, retry_failed, console, details)
    if evaluate:  # one after another here, once every run has finished training
        from vaecli.sweeps.serial import evaluate_point

        for point in plan.points:
            evaluate_point(point, runs_dir, console)
        write_record(plan, runs_dir, "local", **details)
    return _finish(SweepResult(plan, sweep_record_path(runs_dir, plan.name), "local"))


def _train_index(
    plan: SweepPlan, runs_dir: Path, evaluate: bool, retry_failed: bool, console: Console, quiet: bool
) -> SweepResult:
    """--index I: one point, in this process. No record: parallel array tasks would overwrite each other's."""
    from vaecli.sweeps.serial import run_serial

    point = plan.points[0]
    console.print(f"Sweep {plan.name}, grid point {point.index}: {point.name}", highlight=False)
    run_serial(plan, runs_dir, evaluate, retry_failed, console, quiet, record=False)
    result = SweepResult(plan, sweep_record_path(runs_dir, plan.name), "index")
    result.summary = f"Grid point {point.index}: {point.name} {point.outcome}" + (
        f": {point.error}" if point.error else ""
    )
    return result


def _submit(
    plan: SweepPlan, runs_dir: Path, options: SlurmOptions, jobs: int | None, retry_failed: bool, console: Console
) -> SweepResult:
    from rich.markup import escape

    from vaecli.sweeps.slurm import submit

    record = submit(plan, runs_dir, options, jobs, retry_failed, lambda text: console.print(escape(text)))
    submitted = [point for point in plan.points if point.outcome == "submitted"]
    result = SweepResult(plan, record, "slurm", files=[record])
    result.summary = (
        f"Sweep record: {record}; {len(submitted)} run(s) submitted; `vae sweep-status {plan.name}` follows them"
    )
    return result


def _finish(result: SweepResult) -> SweepResult:
    from vaecli.sweeps.hparams import write_hparams

    failed = result.failed
    result.files = [result.record] if result.record.exists() else []
    try:
        result.files.append(write_hparams(result.plan, result.record.parent.parent))
    except OSError as error:  # only a view: the runs and the record are written
        result.warnings.append(f"the TensorBoard HParams view was not written ({error.strerror or error})")
    result.summary = f"Sweep record: {result.record}" + (
        f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""
    )
    return result


@dataclass
class SweepStatus(Result):
    name: str
    rows: list = field(default_factory=list)  # vaecli.sweeps.status.StatusRow, in grid order


def sweep_status(
    name: str | None = None,
    *,
    config: str | Path | None = None,
    settings: list[str] | None = None,
    seeds: int | None = None,
    runs_dir: str | Path = "runs",
) -> SweepStatus:
    """Each run's state (`vae sweep-status NAME`, `vae sweep CONFIG --set ... --status`), from the runs'
    manifests and, for a Slurm sweep, `squeue` (this user's queue).

    Give the sweep's name (its record runs/sweeps/NAME.json lists the runs) or its config and settings.

    Example:
        >>> status = vaecli.sweep_status("quickstart")
        >>> [(row.name, row.state) for row in status.rows]
        [('quickstart_kl_factor=0.001', 'COMPLETED'), ('quickstart_kl_factor=1', 'PENDING')]
    """
    from vaecli.sweeps.record import previous_runs, read_record
    from vaecli.sweeps.slurm import queued_jobs
    from vaecli.sweeps.status import count_line, status_rows

    if config is not None:
        plan = plan_sweep(Path(config), settings or [], seeds, name)
        earlier = previous_runs(runs_dir, plan.name)
        name = plan.name
        runs = [
            {"index": p.index, "name": p.name, "slurm_job_id": earlier.get(p.name, {}).get("slurm_job_id")}
            for p in plan.points
        ]
    elif name is not None:
        runs = read_record(runs_dir, name)["runs"]
    else:
        raise ConfigError("give the sweep's name, or its config and settings")
    warnings: list[str] = []
    queue: dict[str, str] | None = {}
    if any(run.get("slurm_job_id") for run in runs):
        try:
            queue = queued_jobs()
        except ConfigError as error:
            warnings.append(f"{error.lines[0]}; states are the manifests' alone")
            queue = None
    rows = status_rows(runs, Path(runs_dir), queue)
    return SweepStatus(name, rows, summary=f"Sweep {name}: {count_line(rows)}", warnings=warnings)
