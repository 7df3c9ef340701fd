"""runs/sweeps/NAME.json: what a sweep did with each grid point, rewritten atomically after every change.

    {"name", "config", "set", "seeds", "executor": "serial" | "local" | "slurm", "jobs", "devices",
     "slurm": {"partition", "gpus_per_run", "cpus_per_run", "time", "logs", "submissions": [...]},
     "updated", "runs": [{"index", "name", "values", "overrides", "outcome", "error", "seconds",
                          "evaluation", "device", "threads", "exit_code", "log", "slurm_job_id"}]}

A reader sees the old file or the new one, never half of one (vaecli.io.atomic).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vaecli.errors import RunError
from vaecli.io.atomic import timestamp, write_json_atomic
from vaecli.runs import sweep_record_path
from vaecli.sweeps.plan import SweepPlan, SweepPoint

RUN_FIELDS = (
    "index",
    "name",
    "values",
    "overrides",
    "outcome",
    "error",
    "seconds",
    "evaluation",
    "device",
    "threads",
    "exit_code",
    "log",
    "slurm_job_id",
)


def sweep_folder(runs_dir: str | Path, name: str) -> Path:
    """runs/sweeps/NAME/: the sweep's own files (logs/ of its processes and Slurm jobs)."""
    return Path(runs_dir) / "sweeps" / name


def write_record(plan: SweepPlan, runs_dir: Path, executor: str = "serial", **details: Any) -> Path:
    """Rewrite runs/sweeps/NAME.json from the plan's points; details (jobs, devices, slurm) go in as given."""
    record = {
        "name": plan.name,
        "config": str(plan.config_path),
        "set": plan.settings,
        "seeds": plan.seeds,
        "executor": executor,
        **details,
        "updated": timestamp(),
        "runs": [{key: getattr(point, key) for key in RUN_FIELDS} for point in plan.points],
    }
    return write_json_atomic(sweep_record_path(runs_dir, plan.name), record)


def read_record(runs_dir: str | Path, name: str) -> dict:
    """The record of sweep NAME; RunError when there is none or it cannot be read."""
    path = sweep_record_path(runs_dir, name)
    if not path.is_file():
        raise RunError(f"no sweep record {path}; run `vae sweep CONFIG --set ... --name {name}` first")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: cannot read the sweep record ({error})") from None
    if not isinstance(record, dict) or not isinstance(record.get("runs"), list):
        raise RunError(f"{path}: not a sweep record (no list of runs)")
    for number, run in enumerate(record["runs"]):
        if not isinstance(run, dict) or not isinstance(run.get("name"), str) or not isinstance(run.get("index"), int):
            raise RunError(f"{path}: run entry {number} is not a sweep record entry (it needs a name and an index)")
    return record


def previous_runs(runs_dir: str | Path, name: str) -> dict[str, dict]:
    """Run name -> its entry in an earlier record of this sweep ({} when there is none)."""
    try:
        return {run["name"]: run for run in read_record(runs_dir, name)["runs"] if isinstance(run, dict)}
    except RunError:
        return {}


def carry_over(point: SweepPoint, earlier: dict | None) -> None:
    """Keep what an earlier record knew of a point this sweep does not touch again (its Slurm job, its log)."""
    if not earlier:
        return
    for key in ("slurm_job_id", "log", "device", "threads"):
        if getattr(point, key) is None and earlier.get(key) is not None:
            setattr(point, key, earlier[key])
