"""Keras callbacks of `vae train`: the NaN guard, the per-epoch recorder, and the progress display."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import keras
import numpy as np

from vaecli import images as image_io
from vaecli.figures import loss_curve
from vaecli.progress import epoch_bar
from vaecli.runs import RunPaths, update_manifest, write_metrics
from vaecli.runs.checkpoints import save_checkpoint
from vaecli.runs.integrity import config_hash
from vaecli.training.failures import NonFiniteLoss, StopRequest

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from vaecli.config import ExperimentConfig

LOSS_KEYS = ("loss", "reconstruction_loss", "kl_loss")


class NonFiniteGuard(keras.callbacks.Callback):
    """Stop at the first NaN/Inf loss, before the epoch end writes anything.

    Raising (rather than setting stop_training) skips on_epoch_end, so no checkpoint, metrics
    row or image newer than the last good epoch is written. Keras reports after each fused
    execution of `steps_per_execution` steps, so the step is known to within that stride.
    """

    def __init__(self, steps_per_execution: int = 1):
        super().__init__()
        self.steps_per_execution = steps_per_execution

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if StopRequest.requested:  # a Ctrl-C or SIGTERM whose KeyboardInterrupt was swallowed (StopRequest)
            raise KeyboardInterrupt
        if logs and not all(math.isfinite(float(logs[key])) for key in LOSS_KEYS if key in logs):
            last = batch + 1
            first = max(1, last - self.steps_per_execution + 1)
            where = f"step {last}" if first == last else f"steps {first}-{last}"
            raise NonFiniteLoss(self.epoch, where, {key: float(value) for key, value in logs.items()})


class EpochRecorder(keras.callbacks.Callback):
    """After each epoch: metrics rows, TensorBoard, image grids, checkpoint, manifest.

    The checkpoint is written last, so a kill at any point leaves a checkpoint no newer than
    the metrics; resume drops metric rows past the checkpoint's epoch.
    """

    def __init__(
        self,
        paths: RunPaths,
        config: ExperimentConfig,
        rows: list[dict],
        grid_images: np.ndarray,
        sample_z: np.ndarray,
        images_per_epoch: int,
        grid_inputs: np.ndarray | None = None,
    ):
        super().__init__()
        self.paths, self.config, self.rows = paths, config, rows
        self.grid_images, self.sample_z = grid_images, sample_z
        self.grid_inputs = grid_inputs  # corrupted inputs (denoise, recolor): grids get a third row
        self.images_per_epoch = images_per_epoch
        self.config_hash = config_hash(paths)  # each checkpoint's record names the config it belongs to
        import tensorflow as tf

        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(paths.tensorboard))

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        assert logs is not None  # Keras passes every epoch's logs (a dict, never None)
        epoch_number = epoch + 1
        if not all(math.isfinite(float(value)) for value in logs.values()):
            raise NonFiniteLoss(epoch_number, "validation", {key: float(value) for key, value in logs.items()})
        seconds = time.perf_counter() - self.started
        row = {
            "epoch": epoch_number,
            **exact_identity({key: float(value) for key, value in logs.items()}),
            "learning_rate": float(self.model.optimizer.learning_rate.numpy()),
            "seconds": round(seconds, 3),
            "images_per_second": round(self.images_per_epoch / seconds, 1),
        }
        self.rows.append(row)
        last_epoch = epoch_number == self.config.train.epochs
        with self.writer.as_default(step=epoch_number):
            for key, value in row.items():
                if key != "epoch":
                    split = "validation" if key.startswith("val_") else "train"
                    self.tf.summary.scalar(f"{split}/{key.removeprefix('val_')}", value)
            if epoch_number % self.config.output.image_every == 0 or last_epoch:
                self._write_images(epoch_number)
        self.writer.flush()
        write_metrics(self.paths, self.rows)
        if epoch_number % self.config.output.checkpoint_every == 0 or last_epoch:
            save_checkpoint(self.paths, self.model, epoch_number, self.config_hash)
            update_manifest(self.paths, epochs_completed=epoch_number)

    def _write_images(self, epoch_number: int) -> None:
        model = self.model
        images = self.grid_images.astype("float32") / 255.0
        inputs = images if self.grid_inputs is None else self.grid_inputs.astype("float32") / 255.0
        z_mean, _ = model.encode(inputs)
        reconstructions = keras.ops.convert_to_numpy(model.decoder(z_mean))
        samples = keras.ops.convert_to_numpy(model.decoder(self.sample_z))
        columns = min(8, len(images))
        size = images.shape[1]
        # Rows of clean images and outputs; with a corrupting task, clean / corrupted input / output.
        row_groups = [images, reconstructions] if self.grid_inputs is None else [images, inputs, reconstructions]
        reconstruction_grid = image_io.enlarge_small(
            image_io.make_grid(image_io.interleave_row_groups(row_groups, columns), columns), size
        )
        sample_grid = image_io.enlarge_small(image_io.make_grid(samples, columns), size)
        image_io.save_png(self.paths.reconstruction_grid(epoch_number), reconstruction_grid)
        image_io.save_png(self.paths.sample_grid(epoch_number), sample_grid)
        self.tf.summary.image("reconstructions", reconstruction_grid[None], max_outputs=1)
        self.tf.summary.image("samples", sample_grid[None], max_outputs=1)
        loss_curve(self.paths.loss_curve, self.rows)


def exact_identity(logs: dict[str, float]) -> dict[str, float]:
    """loss = reconstruction_loss + kl_penalty in the float64 the files hold, train and validation.

    The model adds the two float32 means; written as float64, that sum can differ from the float64
    sum of the written parts by a float32 rounding (1e-7 relative). Recomputing it here makes the
    identity hold bit for bit in metrics.jsonl/csv.
    """
    for prefix in ("", "val_"):
        if f"{prefix}kl_penalty" in logs and f"{prefix}reconstruction_loss" in logs:
            logs[f"{prefix}loss"] = logs[f"{prefix}reconstruction_loss"] + logs[f"{prefix}kl_penalty"]
    return logs


def format_losses(logs: dict[str, float], prefix: str = "") -> str:
    parts = []
    for key, label in (("loss", "loss"), ("reconstruction_loss", "reco"), ("kl_loss", "kl"), ("kl_weight", "w")):
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
        self.progress: Progress | None = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.started = time.perf_counter()
        if self.live:
            self.progress = epoch_bar(self.console, self.steps, f"{epoch + 1}/{self.epochs}")
            self.task = self.progress.task_ids[0]

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if self.progress is not None:
            seconds = max(time.perf_counter() - self.started, 1e-9)
            self.progress.update(
                self.task,
                completed=batch + 1,
                losses=format_losses(logs or {}),
                speed=f"{(batch + 1) * self.batch_size / seconds:,.0f} img/s",
            )

    def _stop_bar(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        assert logs is not None  # Keras passes every epoch's logs (a dict, never None)
        self._stop_bar()
        if not self.quiet:
            seconds = time.perf_counter() - self.started
            validation = format_losses(logs, "val_")
            self.console.print(
                f"epoch {epoch + 1}/{self.epochs}  {format_losses(logs)}"
                f"{'  |  ' + validation if validation else ''}  ({seconds:.1f} s)",
                highlight=False,
                soft_wrap=True,
            )

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        self._stop_bar()
