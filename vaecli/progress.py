"""Every progress display of vaecli: Rich bars on a terminal, plain lines (or nothing) elsewhere.

    progress_bar      a bar for long work over N items (encoding, decoding, IWAE)
    counting_bar      a bar that appears once a job reports its first count (an image cache build)
    epoch_bar         the bar of one training epoch (vaecli.training.callbacks.ProgressDisplay drives it)

Bars only appear when the console is a terminal, so logs and notebooks stay clean.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from rich.console import Console

PROGRESS_THRESHOLD = 2048  # items; below this the work takes about a second and a bar only flickers


@contextmanager
def progress_bar(console: Console | None, total: int, description: str) -> Iterator[Callable[[int], None] | None]:
    """A transient bar for long work; yields advance(count), or None when no bar is shown."""
    if console is None or not console.is_terminal or total < PROGRESS_THRESHOLD:
        yield None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda count: progress.advance(task, count)


@contextmanager
def counting_bar(
    console: Console | None, description: str, unit: str, quiet: bool = False
) -> Iterator[Callable[[int, int], None] | None]:
    """Yields report(done, total), which starts a bar with a rate column at the first report; None off a terminal."""
    if console is None or quiet or not console.is_terminal:
        yield None
        return
    progress = Progress(
        TextColumn(f"[bold]{description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )
    state: dict[str, TaskID] = {}

    def report(done: int, total: int) -> None:
        if "task" not in state:
            progress.start()
            state["task"] = progress.add_task(description, total=total, rate="")
        elapsed = progress.tasks[0].elapsed or 1e-9
        progress.update(state["task"], completed=done, rate=f"{done / elapsed:,.0f} {unit}/s")

    try:
        yield report
    finally:
        progress.stop()


def epoch_bar(console: Console, steps: int, epoch_text: str) -> Progress:
    """A started, transient bar for one training epoch: step, images/s, ETA and live losses."""
    progress = Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[speed]}"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[losses]}"),
        console=console,
        transient=True,
    )
    progress.start()
    progress.add_task("train", total=steps, epoch=epoch_text, speed="", losses="")
    return progress
