"""How training stops early: each way (NaN, Ctrl-C or SIGTERM, a full disk, out of memory) becomes a manifest
status and one clear message that says what was kept."""

from __future__ import annotations

import signal
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from vaecli.errors import RunError, TrainingFailed, TrainingInterrupted, first_line
from vaecli.io.atomic import output_error, timestamp
from vaecli.runs import STATUS_FAILED, STATUS_KILLED, RunPaths, read_manifest, update_manifest

if TYPE_CHECKING:
    from vaecli.config import ExperimentConfig
    from vaecli.training.callbacks import ProgressDisplay


class StopRequest:
    """Set by a Ctrl-C or SIGTERM during training. Python raises the KeyboardInterrupt in whatever code runs at that
    instant, and one raised inside a garbage collector's weakref callback is printed and swallowed ("Exception
    ignored in ..."): training would carry on to COMPLETED. The flag survives that; the per-batch callback
    (NonFiniteGuard) raises it again at the next batch."""

    requested = False


class NonFiniteLoss(Exception):
    def __init__(self, epoch: int, where: str, logs: dict):
        super().__init__(f"non-finite loss at epoch {epoch}, {where}")
        self.epoch, self.where, self.logs = epoch, where, logs


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Ctrl-C, and SIGTERM (a scheduler stopping the job), end training: KILLED, checkpoint intact."""

    def handler(signum: int, frame: Any) -> None:
        StopRequest.requested = True
        raise KeyboardInterrupt

    try:
        previous = {number: signal.signal(number, handler) for number in (signal.SIGTERM, signal.SIGINT)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for number, earlier in previous.items():
            signal.signal(number, earlier)


def kept_checkpoint(paths: RunPaths, kind: str = "complete") -> str:
    """What the user still has: the last complete (or good) checkpoint, or the fact that none was written."""
    from vaecli.runs.checkpoints import saved_epoch

    saved = saved_epoch(paths)
    if not saved:
        return "No checkpoint was written yet; the run starts from epoch 0 when resumed."
    return f"The last {kind} checkpoint (epoch {saved}) is kept in {paths.checkpoint}."


@contextmanager
def failure_states(paths: RunPaths, config: ExperimentConfig, display: ProgressDisplay) -> Iterator[None]:
    """Map every way training can stop early to a manifest status and one clear message."""
    from vaecli.runs.checkpoints import saved_epoch

    def mark(status: str, error: str) -> None:
        display.on_train_end()
        with suppress(OSError, RunError):  # the disk may be full; the message raised below still reaches the user
            # A stop between an epoch's checkpoint and its manifest update would leave the manifest one epoch
            # behind what is saved: the final status records what the checkpoint holds.
            saved = max(saved_epoch(paths), read_manifest(paths).epochs_completed or 0)
            update_manifest(paths, status=status, ended=timestamp(), error=error, epochs_completed=saved)

    try:
        with sigterm_as_interrupt():
            yield
    except NonFiniteLoss as failure:
        mark(STATUS_FAILED, f"non-finite loss at epoch {failure.epoch}, {failure.where}: {failure.logs}")
        raise TrainingFailed(
            f"Training stopped: the loss became NaN or Inf at epoch {failure.epoch}, {failure.where}.",
            f"Try a lower train.learning_rate (now {config.train.learning_rate:g}) or loss.kl_factor "
            f"(now {config.loss.kl_factor:g}). {kept_checkpoint(paths, 'good')}",
        ) from None
    except KeyboardInterrupt:
        mark(STATUS_KILLED, "interrupted")
        saved = saved_epoch(paths)
        raise TrainingInterrupted(
            f"Interrupted; the run is marked KILLED with {saved} completed epoch(s) saved.",
            f"Continue with `vae train --resume {paths.root}`",
        ) from None
    except OSError as error:  # a full disk, a folder removed under us (OutputError is one too)
        problem = output_error(Path(error.filename or paths.root), error)
        mark(STATUS_FAILED, problem.lines[0])
        raise RunError(problem.lines[0], kept_checkpoint(paths)) from None
    except Exception as error:
        if type(error).__name__ != "ResourceExhaustedError":  # TensorFlow's out-of-memory
            mark(STATUS_FAILED, f"{type(error).__name__}: {error}")
            raise
        mark(STATUS_FAILED, "out of memory")
        raise TrainingFailed(
            f"Training stopped: the device ran out of memory ({first_line(error, 160)}).",
            f"Use a smaller train.batch_size (now {config.train.batch_size}) or fewer filters. "
            f"{kept_checkpoint(paths)}",
        ) from None
    except BaseException as error:
        mark(STATUS_FAILED, f"{type(error).__name__}: {error}")
        raise
