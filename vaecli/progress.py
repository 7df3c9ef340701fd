"""What `vae train` shows while it runs: a Rich bar per epoch on a terminal, one line per epoch always."""

from __future__ import annotations

import time

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def format_losses(logs: dict, prefix: str = "") -> str:
    parts = []
    for key, label in (("loss", "loss"), ("reconstruction_loss", "reco"), ("kl_loss", "kl")):
        if f"{prefix}{key}" in logs:
            parts.append(f"{prefix}{label} {float(logs[prefix + key]):.4g}")
    return "  ".join(parts)


class ProgressDisplay(keras.callbacks.Callback):
    """A live bar (step, images/s, ETA, losses) on a terminal; a plain summary line per epoch.

    quiet: neither. The bar only appears when the console is a terminal, so logs stay clean.
    """

    def __init__(self, console: Console, epochs: int, steps_per_epoch: int, batch_size: int, quiet: bool = False):
        super().__init__()
        self.console, self.epochs, self.steps, self.batch_size = console, epochs, steps_per_epoch, batch_size
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.progress = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()
        if self.live:
            self.progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[speed]}"), TimeRemainingColumn(), TextColumn("{task.fields[losses]}"),
                console=self.console, transient=True)
            self.progress.start()
            self.task = self.progress.add_task("train", total=self.steps, epoch=f"{epoch + 1}/{self.epochs}",
                                               speed="", losses="")

    def on_train_batch_end(self, batch, logs=None):
        if self.progress is not None:
            seconds = max(time.perf_counter() - self.started, 1e-9)
            self.progress.update(self.task, completed=batch + 1, losses=format_losses(logs or {}),
                                 speed=f"{(batch + 1) * self.batch_size / seconds:,.0f} img/s")

    def _stop_bar(self):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_epoch_end(self, epoch, logs=None):
        self._stop_bar()
        if not self.quiet:
            seconds = time.perf_counter() - self.started
            validation = format_losses(logs, "val_")
            self.console.print(f"epoch {epoch + 1}/{self.epochs}  {format_losses(logs)}"
                               f"{'  |  ' + validation if validation else ''}  ({seconds:.1f} s)",
                               highlight=False, soft_wrap=True)

    def on_train_end(self, logs=None):
        self._stop_bar()
