"""What a sweep shows while it runs: a live Rich table on a terminal, plain lines elsewhere.

Everything shown is read from the runs' own files (manifest.json, metrics.jsonl), the same files
`vae sweep-status` reads, so the table says what the run folders say. The table is redrawn by
the scheduler's loop (auto_refresh off): no display thread runs beside the child processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from vaecli.errors import RunError
from vaecli.runs import RunPaths, read_manifest, read_metrics
from vaecli.sweeps.plan import SweepPlan
from vaecli.tables import format_number

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

STATUS_STYLE = {"COMPLETED": "green", "RUNNING": "cyan", "KILLED": "yellow", "FAILED": "red", "LOST": "red"}


@dataclass
class RunView:
    """One run's progress as its folder tells it (None where the folder does not say)."""

    status: str | None = None  # the manifest's status; None before the run folder exists
    epochs_completed: int = 0
    epochs: int | None = None
    loss: float | None = None
    val_loss: float | None = None
    images_per_second: float | None = None
    seconds_per_epoch: float | None = None  # mean over the epochs in metrics.jsonl

    @property
    def eta_seconds(self) -> float | None:
        if self.status != "RUNNING" or self.epochs is None or self.seconds_per_epoch is None:
            return None
        return max(0, self.epochs - self.epochs_completed) * self.seconds_per_epoch

    @property
    def epoch_text(self) -> str:
        return f"{self.epochs_completed}/{self.epochs}" if self.epochs else "-"


def read_view(paths: RunPaths) -> RunView:
    """The run folder's state; an absent or half-created folder reads as not started."""
    try:
        manifest = read_manifest(paths) if paths.manifest.exists() else None
        rows = read_metrics(paths)
    except (RunError, ValueError, OSError):  # a file replaced as we read it: next refresh reads it whole
        return RunView()
    if manifest is None:
        return RunView()
    last = rows[-1] if rows else {}
    seconds = [row["seconds"] for row in rows if isinstance(row.get("seconds"), (int, float))]
    return RunView(
        status=manifest.status,
        epochs_completed=max(manifest.epochs_completed, int(last.get("epoch", 0))),
        epochs=manifest.epochs,
        loss=last.get("loss"),
        val_loss=last.get("val_loss"),
        images_per_second=last.get("images_per_second"),
        seconds_per_epoch=sum(seconds) / len(seconds) if seconds else None,
    )


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def styled(status: str) -> str:
    style = STATUS_STYLE.get(status.split(" ")[0])
    return f"[{style}]{escape(status)}[/{style}]" if style else escape(status)


class SweepDisplay:
    """The live table (terminal) or one line per event and per finished epoch (logs, CI, pipes).

    states maps a run name to what the scheduler knows that the folder does not: 'pending',
    'starting', 'skipped', or None once the folder speaks for itself.
    """

    def __init__(self, plan: SweepPlan, runs_dir: Path, console: Console, states: dict[str, str | None], where: dict):
        self.plan, self.runs_dir, self.console = plan, Path(runs_dir), console
        self.states, self.where = states, where  # where: run name -> 'GPU 1' / '1 thread'
        self.live: Live | None = None
        self.epochs_said: dict[str, int] = {}

    def __enter__(self) -> SweepDisplay:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self.table(), console=self.console, auto_refresh=False, transient=False)
            self.live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.live is not None:
            self.live.update(self.table(), refresh=True)
            self.live.stop()

    def say(self, text: str) -> None:
        """A line above the table (terminal) or in the log."""
        self.console.print(text, highlight=False)

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.table(), refresh=True)
            return
        for point in self.plan.points:  # plain lines: one per epoch a run has finished since the last look
            view = read_view(RunPaths(self.runs_dir / point.name))
            if self.states.get(point.name) is None and view.epochs_completed > self.epochs_said.get(point.name, 0):
                self.epochs_said[point.name] = view.epochs_completed
                self.say(f"{escape(point.name)}: epoch {view.epoch_text}, {_losses(view)}")

    def table(self) -> Table:
        from vaecli.tables import make_table

        columns = ("run", "status", "on", "epoch", "loss", "val_loss", "img/s", "ETA")
        return make_table(f"sweep {escape(self.plan.name)}", columns, self._rows(), right=columns[3:], fold=True)

    def _rows(self):
        for point in self.plan.points:
            view = read_view(RunPaths(self.runs_dir / point.name))
            state = self.states.get(point.name)
            status = state or view.status or "starting"
            yield (
                escape(point.name),
                styled(status),
                self.where.get(point.name, ""),
                view.epoch_text,
                format_number(view.loss, missing="-"),
                format_number(view.val_loss, missing="-"),
                format_number(view.images_per_second, missing="-"),
                format_duration(view.eta_seconds) if state is None else "-",
            )


def _losses(view: RunView) -> str:
    parts = [f"loss {format_number(view.loss)}"]
    if view.val_loss is not None:
        parts.append(f"val_loss {format_number(view.val_loss)}")
    if view.images_per_second is not None:
        parts.append(f"{format_number(view.images_per_second)} img/s")
    return ", ".join(parts)
