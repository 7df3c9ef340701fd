"""Prepare a data source ahead of training: build an image folder's cache with a progress bar.

`vae data prepare CONFIG` and `vae train` both come here; other sources need no preparation.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def _build_progress(console, quiet: bool):
    """Yields progress(done, total) that shows a Rich bar on a terminal once a build starts."""
    if console is None or quiet or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("[bold]decoding images"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console, transient=True)
    state = {}

    def advance(done: int, total: int) -> None:
        if "task" not in state:
            progress.start()
            state["task"] = progress.add_task("decode", total=total, rate="")
        elapsed = progress.tasks[0].elapsed or 1e-9
        progress.update(state["task"], completed=done, rate=f"{done / elapsed:,.0f} files/s")

    try:
        yield advance
    finally:
        progress.stop()


def prepare_data(data_config, console=None, quiet: bool = False, threads: int | None = None):
    """Build (or find) the cache of an image folder; prints its one-line summary. None for other sources."""
    if data_config.source != "image_folder":
        return None
    from vaecli.data.cache import find_or_build

    with _build_progress(console, quiet) as progress:
        info = find_or_build(data_config, progress, threads)
    if console is not None and not quiet:
        console.print(info.summary(data_config.path), highlight=False, soft_wrap=True)
    return info
