"""`vae sweep ... --status` and `vae sweep-status NAME`: each run's state from its manifest and Slurm's queue.

COMPLETED, KILLED, FAILED, RUNNING   what the run's manifest says
PENDING, RUNNING, ...                a Slurm job of the run is in the queue (squeue's state)
LOST                                 a Slurm job ran it, left the queue, and the run is not finished
                                     (killed without a chance to say so): submit again to resume it
not started                          no run folder yet
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vaecli.runs import STATUS_COMPLETED, STATUS_RUNNING, RunPaths
from vaecli.sweeps.live import RunView, read_view

if TYPE_CHECKING:
    from rich.table import Table


@dataclass
class StatusRow:
    index: int
    name: str
    state: str
    view: RunView
    slurm_job_id: str | None = None
    queue_state: str | None = None  # squeue's, when the job is queued


def run_state(view: RunView, slurm_job_id: str | None, queue: dict[str, str] | None) -> tuple[str, str | None]:
    """(state, queue state) of one run; see the module's table. queue None: squeue did not answer."""
    queued = queue.get(slurm_job_id) if slurm_job_id and queue else None
    if view.status == STATUS_COMPLETED:
        return STATUS_COMPLETED, queued
    if queued:
        return queued, queued
    if slurm_job_id and queue is not None and view.status in (None, STATUS_RUNNING):
        return "LOST", None
    return view.status or "not started", None


def status_rows(runs: list[dict], runs_dir: Path, queue: dict[str, str] | None) -> list[StatusRow]:
    """runs: the record's entries (index, name, slurm_job_id) or the plan's, in grid order."""
    rows = []
    for number, run in enumerate(runs):
        view = read_view(RunPaths(Path(runs_dir) / run["name"]))
        job = run.get("slurm_job_id")
        state, queued = run_state(view, job, queue)
        rows.append(StatusRow(run.get("index", number), run["name"], state, view, job, queued))
    return rows


def count_line(rows: list[StatusRow]) -> str:
    """'2 COMPLETED, 1 RUNNING, 1 PENDING' in the order states first appear."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.state] = counts.get(row.state, 0) + 1
    return ", ".join(f"{count} {state}" for state, count in counts.items())


def status_table(name: str, rows: list[StatusRow]) -> Table:
    from rich.markup import escape

    from vaecli.sweeps.live import format_duration, styled
    from vaecli.tables import format_number, make_table

    slurm = any(row.slurm_job_id for row in rows)  # the job column only for a Slurm sweep
    columns = ("#", "run", "state", "epoch", "loss", "val_loss", "ETA", *(["slurm job"] if slurm else []))
    cells = []
    for row in rows:
        cells.append(
            [
                str(row.index),
                escape(row.name),
                styled(row.state),
                row.view.epoch_text,
                format_number(row.view.loss, missing="-"),
                format_number(row.view.val_loss, missing="-"),
                format_duration(row.view.eta_seconds),
                *([escape(row.slurm_job_id or "-")] if slurm else []),
            ]
        )
    right = ("#", "epoch", "loss", "val_loss", "ETA")
    return make_table(f"sweep {escape(name)}", columns, cells, right=right, fold=True)  # fold: whole run names
