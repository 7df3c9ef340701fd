"""The training loop: run_training(config, paths) -> Manifest: data, model, fit(), callbacks, resume, failures."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.console import Console

from vaecli.data.sources import image_shape as data_image_shape
from vaecli.io.atomic import atomic_path, timestamp
from vaecli.runs import (
    STATUS_COMPLETED,
    STATUS_RUNNING,
    Manifest,
    RunPaths,
    claim_run,
    read_manifest,
    read_metrics,
    stale_temporaries,
    update_manifest,
    write_metrics,
)
from vaecli.training.failures import failure_states, sigterm_as_interrupt
from vaecli.training.records import first_manifest, record_start

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from vaecli.config import ExperimentConfig
    from vaecli.data.splits import DataSplits
    from vaecli.models.autoencoder import AutoEncoder
    from vaecli.runs.claims import RunLock
    from vaecli.runs.integrity import ResumePoint
    from vaecli.runtime.tensorflow import Acceleration
    from vaecli.training.callbacks import ProgressDisplay


def _save_final_models(paths: RunPaths, model: AutoEncoder) -> dict[str, str]:
    """Write encoder.keras and decoder.keras; returns their sha256 for the manifest (verified on every load)."""
    from vaecli.runs.checkpoints import file_sha256

    checksums = {}
    for network, target in ((model.encoder, paths.encoder), (model.decoder, paths.decoder)):
        with atomic_path(target, suffix=".keras") as temporary:
            network.save(temporary)
            checksums[target.name] = file_sha256(temporary)
    return checksums


@dataclass
class _Claim:
    """The run folder held by this process; begun once its data is loaded and recorded."""

    lock: RunLock
    begun: bool = False


@contextmanager
def _claimed(config: ExperimentConfig, paths: RunPaths, resume: bool) -> Iterator[_Claim]:
    """Own the run folder for the whole of training: claim a new one atomically (before any data is
    loaded), or lock an existing one for resume. A new run that fails before it begins (its data
    cannot be loaded, Ctrl-C during the cache build) is removed: nothing is left behind."""
    from vaecli.runs.claims import lock_existing_run

    if resume:
        lock = lock_existing_run(paths.root)
        for path in stale_temporaries(paths):  # half-written files of the killed process (we hold the lock)
            path.unlink(missing_ok=True)
    else:
        lock = claim_run(paths, config.to_yaml(), first_manifest(config))
    claim = _Claim(lock)
    try:
        yield claim
    except BaseException:
        if not resume and not claim.begun:
            shutil.rmtree(paths.root, ignore_errors=True)
        raise
    finally:
        lock.release()


def _grid_inputs(config: ExperimentConfig, grid_images: np.ndarray) -> np.ndarray | None:
    """The corrupted inputs the grids show for denoise / recolor (one fixed corruption); None otherwise."""
    from vaecli.data.tasks import GRID_EPOCH, batch_seed, corrupt, has_corruption

    if not has_corruption(config.task):
        return None
    return corrupt(grid_images, config.task, batch_seed(config.train_seed, GRID_EPOCH, 0)).numpy()


def _fit(
    model: AutoEncoder,
    config: ExperimentConfig,
    splits: DataSplits,
    steps: int,
    first_epoch: int,
    callbacks: list[keras.callbacks.Callback],
) -> None:
    from vaecli.data.pipeline import ordered_batches, training_batches

    batch_size, seed = config.train.batch_size, config.train_seed
    train_batches = training_batches(
        splits.train.images, batch_size, seed, first_epoch, config.train.epochs, config.task
    )
    validation_batches = (
        ordered_batches(splits.validation.images, batch_size, config.task, seed) if len(splits.validation) else None
    )
    if config.train.distribute == "multi_worker":
        from vaecli.training.distribute import collective_safe

        train_batches = collective_safe(train_batches)
        validation_batches = validation_batches and collective_safe(validation_batches)
    model.fit(
        train_batches,
        epochs=config.train.epochs,
        initial_epoch=first_epoch,
        steps_per_epoch=steps,
        validation_data=validation_batches,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )


def run_training(
    config: ExperimentConfig,
    paths: RunPaths,
    resume: bool = False,
    console: Console | None = None,
    quiet: bool = False,
    from_checkpoint: int | None = None,
) -> Manifest:
    """Train config into the run folder `paths` (new, or resumed from its last intact checkpoint) and return the
    final manifest.

    The folder is claimed (new) or locked (resume) before any data is loaded, and held until
    training ends: a second start, --force or --resume of a live run is refused (vaecli.runs.claims).
    A resume first checks the checkpoint's checksum and that checkpoint, metrics.jsonl and manifest agree
    (vaecli.runs.integrity); from_checkpoint names the epoch of an intact earlier checkpoint to continue from.
    """
    from vaecli.training.resources import check_model_fits

    console = console or Console()
    check_model_fits(config)  # an absurd model is refused before anything is written
    # SIGTERM (a scheduler, a sweep stopping its runs) during set-up is Ctrl-C too: a new run not yet
    # begun is removed, a resumed one left as it was; once training runs, failure_states marks it KILLED.
    with sigterm_as_interrupt(), _claimed(config, paths, resume) as claim:
        start = _resume_point(config, paths, from_checkpoint) if resume else None
        return _train_claimed(config, paths, start, console, quiet, claim)


def _resume_point(config: ExperimentConfig, paths: RunPaths, from_checkpoint: int | None) -> ResumePoint | None:
    """The verified checkpoint a resume continues from (None: epoch 0), before any data is loaded."""
    from vaecli.runs.integrity import check_agreement, resume_point

    manifest = read_manifest(paths)
    start = resume_point(paths, manifest, from_checkpoint)
    if start is not None and manifest.checked_files:
        check_agreement(
            paths, manifest, read_metrics(paths), start.epoch, config.train.epochs, chosen=from_checkpoint is not None
        )
    return start


def _train_claimed(
    config: ExperimentConfig, paths: RunPaths, start: ResumePoint | None, console: Console, quiet: bool, claim: _Claim
) -> Manifest:
    from vaecli.data.prepare import prepare_data
    from vaecli.training.distribute import check_even_first_batches, describe, make_strategy

    # MultiWorkerMirroredStrategy must exist before TensorFlow runs any op (the cache build runs many);
    # the others do not mind.
    strategy = make_strategy(config.train.distribute) if config.train.distribute == "multi_worker" else None
    cache = prepare_data(config.data, console, quiet)  # an image folder's cache, built if missing
    from vaecli.runtime.tensorflow import configured_runtime, import_tensorflow

    import_tensorflow()
    # Everything training imports is loaded before the run begins: between record_start (the run is RUNNING) and
    # failure_states there must be no seconds-long import during which a SIGTERM would leave the run RUNNING.
    import vaecli.models.factory  # noqa: F401
    from vaecli.data.pipeline import steps_per_epoch
    from vaecli.training.callbacks import ProgressDisplay
    from vaecli.training.failures import StopRequest

    StopRequest.requested = False  # a stop of an earlier run in this process is not this run's
    from vaecli.data.sources import load_image_folder
    from vaecli.data.splits import load_splits

    # Precision, seeds and grappler options are process-wide: configured_runtime puts them back on return.
    with configured_runtime(config) as acceleration:
        if strategy is None:
            strategy = make_strategy(config.train.distribute)
        splits = load_splits(config, load_image_folder(config.data, cache) if cache else None)
        check_even_first_batches(
            strategy, config.train.batch_size, {"training": len(splits.train), "validation": len(splits.validation)}
        )
        shape = data_image_shape(config.data)
        steps = steps_per_epoch(len(splits.train), config.train.batch_size)
        display = ProgressDisplay(console, config.train.epochs, steps, config.train.batch_size, quiet)
        record_start(config, paths, start is not None, splits, acceleration, shape, describe(strategy), cache, console)
        # From here the run is RUNNING: every way it stops must be recorded, so nothing runs before failure_states.
        with failure_states(paths, config, display):
            claim.begun = True
            return _train_epochs(config, paths, start, splits, acceleration, strategy, shape, steps, display)


def _restore(paths: RunPaths, model: AutoEncoder, start: ResumePoint | None) -> int:
    """Load the resume point into model; continuing from previous.h5 makes it last.h5 again. Returns its epoch."""
    from vaecli.io.atomic import write_bytes_atomic
    from vaecli.runs.checkpoints import load_checkpoint

    if start is None:
        return 0
    load_checkpoint(start.file, model)
    if start.file != paths.checkpoint:
        write_bytes_atomic(paths.checkpoint, start.file.read_bytes())
    return start.epoch


def _train_epochs(
    config: ExperimentConfig,
    paths: RunPaths,
    start: ResumePoint | None,
    splits: DataSplits,
    acceleration: Acceleration,
    strategy: tf.distribute.Strategy | None,
    shape: tuple[int, int, int],
    steps: int,
    display: ProgressDisplay,
) -> Manifest:
    from vaecli.models.factory import build_autoencoder
    from vaecli.runtime.tensorflow import thread_settings
    from vaecli.training.callbacks import EpochRecorder, NonFiniteGuard
    from vaecli.training.distribute import strategy_scope

    with strategy_scope(strategy):
        model = build_autoencoder(config, shape, steps, acceleration.jit_compile)
        first_epoch = _restore(paths, model, start)
        rows = [row for row in read_metrics(paths) if row["epoch"] <= first_epoch]
        write_metrics(paths, rows)  # drops rows of epochs that ran past the last checkpoint
        # threads: TensorFlow's thread pools of this process (a resumed run may get others than it started with)
        update_manifest(
            paths,
            status=STATUS_RUNNING,
            epochs_completed=first_epoch,
            error=None,
            ended=None,
            threads=thread_settings(),
        )
        grid_split = splits.validation if len(splits.validation) else splits.test
        grid_images = np.asarray(grid_split.images[: config.output.grid_images])
        sample_z = (
            np.random.default_rng(config.train_seed)
            .standard_normal((config.output.grid_images, config.model.z_dim))
            .astype("float32")
        )
        recorder = EpochRecorder(
            paths, config, rows, grid_images, sample_z, len(splits.train), grid_inputs=_grid_inputs(config, grid_images)
        )
        if first_epoch < config.train.epochs:
            callbacks = [NonFiniteGuard(model.steps_per_execution), display, recorder]
            _fit(model, config, splits, steps, first_epoch, callbacks)
        final_models = _save_final_models(paths, model)
    return update_manifest(
        paths,
        status=STATUS_COMPLETED,
        ended=timestamp(),
        final_metrics=rows[-1] if rows else None,
        final_models=final_models,
    )
