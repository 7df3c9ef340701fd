"""The training loop: train(config, paths) -> Manifest: data, model, fit() with callbacks, resume, failure states."""

from __future__ import annotations

import platform
import signal
import subprocess
import sys
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
from rich.console import Console

from vaecli import __version__
from vaecli.atomic import atomic_path, timestamp
from vaecli.data.sources import image_shape as data_image_shape
from vaecli.errors import RunError, TrainingFailed, TrainingInterrupted
from vaecli.models.factory import build_autoencoder, kl_factor_of
from vaecli.runs import (
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_KILLED,
    STATUS_RUNNING,
    Manifest,
    RunPaths,
    create_run,
    read_manifest,
    read_metrics,
    update_manifest,
    write_metrics,
)


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return result.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _new_manifest(config, splits, acceleration, shape, distribution: dict, cache=None) -> Manifest:
    import keras
    import tensorflow as tf

    from vaecli.data.pipeline import steps_per_epoch
    from vaecli.losses import KLObjective, effective_kl_factor

    kl_factor = kl_factor_of(config)
    kl_objective = KLObjective.from_config(config, steps_per_epoch(len(splits.train), config.train.batch_size))
    return Manifest.model_validate(
        {
            "status": STATUS_RUNNING,
            "name": config.name,
            "command": " ".join(["vae", *sys.argv[1:]]),
            "started": timestamp(),
            "ended": None,
            "epochs_completed": 0,
            "epochs": config.train.epochs,
            "seed": config.seed,
            "train_seed": config.train_seed,
            "kl_factor": kl_factor,
            "reduction": config.loss.reduction,
            "effective_kl_factor": effective_kl_factor(kl_factor, config.loss.reduction, int(np.prod(shape))),
            "reconstruction": config.loss.reconstruction,
            "kl_schedule": kl_objective.to_manifest(),
            "data": {
                "source": config.data.source,
                "fingerprint": splits.fingerprint,
                "image_shape": list(shape),
                "train": len(splits.train),
                "validation": len(splits.validation),
                "test": len(splits.test),
                **({"cache": str(cache.path), "skipped_files": cache.num_skipped} if cache is not None else {}),
            },
            "task": config.task.model_dump(mode="json"),
            "distribute": distribution,
            "device": acceleration.device,
            "jit_compile": acceleration.jit_compile,
            "precision_policy": acceleration.precision_policy,
            "deterministic": config.train.deterministic,
            "versions": {
                "vaecli": __version__,
                "python": platform.python_version(),
                "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "numpy": np.__version__,
            },
            "git_commit": _git_commit(),
            "error": None,
        }
    )


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a scheduler stopping the job) ends training like Ctrl-C: KILLED, checkpoint intact."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _save_final_models(paths: RunPaths, model) -> None:
    for network, target in ((model.encoder, paths.encoder), (model.decoder, paths.decoder)):
        with atomic_path(target, suffix=".keras") as temporary:
            network.save(temporary)


@contextmanager
def _failure_states(paths: RunPaths, config, display):
    """Map every way training can stop early to a manifest status and one clear message."""
    from vaecli.callbacks import NonFiniteLoss
    from vaecli.checkpoints import checkpoint_epoch

    def mark(status: str, error: str) -> None:
        display.on_train_end()
        with suppress(OSError):  # the disk may be full; the message raised below still reaches the user
            update_manifest(paths, status=status, ended=timestamp(), error=error)

    try:
        with _sigterm_as_interrupt():
            yield
    except NonFiniteLoss as failure:
        mark(STATUS_FAILED, f"non-finite loss at epoch {failure.epoch}, {failure.where}: {failure.logs}")
        raise TrainingFailed(
            f"Training stopped: the loss became NaN or Inf at epoch {failure.epoch}, {failure.where}.",
            f"Try a lower train.learning_rate (now {config.train.learning_rate:g}) or loss.kl_factor "
            f"(now {config.loss.kl_factor:g}). The last good checkpoint (epoch {checkpoint_epoch(paths.checkpoint)}) "
            f"is kept in {paths.checkpoint}.",
        ) from None
    except KeyboardInterrupt:
        mark(STATUS_KILLED, "interrupted")
        saved = checkpoint_epoch(paths.checkpoint)
        raise TrainingInterrupted(
            f"Interrupted; the run is marked KILLED with {saved} completed epoch(s) saved.",
            f"Continue with: vae train --resume {paths.root}",
        ) from None
    except OSError as error:  # a full disk, a folder removed under us
        message = f"cannot write {error.filename or paths.root}: {error.strerror or error}"
        mark(STATUS_FAILED, message)
        raise RunError(message, f"The last complete checkpoint is kept in {paths.checkpoint}.") from None
    except BaseException as error:
        mark(STATUS_FAILED, f"{type(error).__name__}: {error}")
        raise


def _open_run(
    config, paths: RunPaths, resume: bool, splits, acceleration, shape, distribution: dict, cache=None
) -> None:
    """Create the run folder, or check that a resumed run still sees the same data."""
    if not resume:
        create_run(paths, config.to_yaml(), _new_manifest(config, splits, acceleration, shape, distribution, cache))
        return
    recorded = read_manifest(paths).fingerprint
    if recorded != splits.fingerprint:
        raise RunError(
            f"{paths.root}: the data set changed since this run started (fingerprint {recorded} -> "
            f"{splits.fingerprint}); start a new run instead"
        )


def _grid_inputs(config, grid_images: np.ndarray) -> np.ndarray | None:
    """The corrupted inputs the grids show for denoise / recolor (one fixed corruption); None otherwise."""
    from vaecli.data.tasks import GRID_EPOCH, batch_seed, corrupt, has_corruption

    if not has_corruption(config.task):
        return None
    return corrupt(grid_images, config.task, batch_seed(config.train_seed, GRID_EPOCH, 0)).numpy()


def _fit(model, config, splits, steps: int, first_epoch: int, callbacks: list) -> None:
    from vaecli.data.pipeline import ordered_batches, training_batches

    batch_size, seed = config.train.batch_size, config.train_seed
    train_batches = training_batches(
        splits.train.images, batch_size, seed, first_epoch, config.train.epochs, config.task
    )
    validation_batches = (
        ordered_batches(splits.validation.images, batch_size, config.task, seed) if len(splits.validation) else None
    )
    if config.train.distribute == "multi_worker":
        from vaecli.distribute import collective_safe

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


def train(config, paths: RunPaths, resume: bool = False, console: Console | None = None, quiet: bool = False) -> dict:
    """Train config into the run folder `paths` (new, or resumed from its last checkpoint)."""
    from vaecli.data.prepare import prepare_data
    from vaecli.distribute import check_even_first_batches, describe, make_strategy, strategy_scope

    console = console or Console()
    # MultiWorkerMirroredStrategy must exist before TensorFlow runs any op (the cache build runs many);
    # the others do not mind.
    strategy = make_strategy(config.train.distribute) if config.train.distribute == "multi_worker" else None
    cache = prepare_data(config.data, console, quiet)  # an image folder's cache, built if missing
    from vaecli.runtime import configure_runtime, import_tensorflow

    import_tensorflow()
    from vaecli.callbacks import EpochRecorder, NonFiniteGuard, ProgressDisplay
    from vaecli.checkpoints import checkpoint_epoch, load_checkpoint
    from vaecli.data.pipeline import steps_per_epoch
    from vaecli.data.sources import load_image_folder
    from vaecli.data.splits import load_splits

    acceleration = configure_runtime(config)
    if strategy is None:
        strategy = make_strategy(config.train.distribute)
    # before the run folder exists: a data error leaves nothing behind; the cache found above is not looked up again
    splits = load_splits(config, load_image_folder(config.data, cache) if cache else None)
    check_even_first_batches(
        strategy, config.train.batch_size, {"training": len(splits.train), "validation": len(splits.validation)}
    )
    shape = data_image_shape(config.data)
    _open_run(config, paths, resume, splits, acceleration, shape, describe(strategy), cache)

    steps = steps_per_epoch(len(splits.train), config.train.batch_size)
    display = ProgressDisplay(console, config.train.epochs, steps, config.train.batch_size, quiet)
    with _failure_states(paths, config, display), strategy_scope(strategy):
        model = build_autoencoder(config, shape, steps, acceleration.jit_compile)
        resumable = resume and checkpoint_epoch(paths.checkpoint) > 0
        first_epoch = load_checkpoint(paths.checkpoint, model) if resumable else 0
        rows = [row for row in read_metrics(paths) if row["epoch"] <= first_epoch]
        write_metrics(paths, rows)  # drops rows of epochs that ran past the last checkpoint
        update_manifest(paths, status=STATUS_RUNNING, epochs_completed=first_epoch, error=None, ended=None)

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
            _fit(
                model,
                config,
                splits,
                steps,
                first_epoch,
                [NonFiniteGuard(model.steps_per_execution), display, recorder],
            )
        _save_final_models(paths, model)
    return update_manifest(paths, status=STATUS_COMPLETED, ended=timestamp(), final_metrics=rows[-1] if rows else None)
