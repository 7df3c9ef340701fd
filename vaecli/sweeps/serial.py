"""One grid point after another, in this process: the default `vae sweep`, and `vae sweep --index I`.

Finished (COMPLETED) runs are skipped, interrupted ones (RUNNING, KILLED) resumed, a failed
one (a NaN loss: TrainingFailed) recorded and the sweep continued; Ctrl-C stops the sweep
with the current run marked KILLED, so running the same command again carries on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from vaecli.errors import TrainingInterrupted, VaeError
from vaecli.runs import RunPaths, final_losses
from vaecli.sweeps.plan import NOT_TRAINED, SweepPlan, SweepPoint, decide, describe_action
from vaecli.sweeps.record import write_record

if TYPE_CHECKING:
    from rich.console import Console


def _run_point(point: SweepPoint, action: str, runs_dir: Path, console: Console, quiet: bool) -> None:
    from vaecli.runs import prepare_new_run
    from vaecli.training.loop import run_training

    paths = RunPaths(runs_dir / point.name) if action == "resume" else prepare_new_run(runs_dir, point.name, False)
    started = time.perf_counter()
    try:
        point.losses = final_losses(
            run_training(point.config, paths, resume=action == "resume", console=console, quiet=quiet)
        )
        point.outcome = "resumed" if action == "resume" else "trained"
    except TrainingInterrupted:
        point.outcome = "interrupted"
        raise
    except VaeError as error:  # the run failed (NaN, data, disk): record it, try the next
        point.outcome, point.error = "failed", " ".join(error.lines)
    finally:
        point.seconds = round(time.perf_counter() - started, 1)
        free_models()


def free_models() -> None:
    """Drop the finished run's graphs so a long sweep's memory does not grow."""
    import keras

    keras.backend.clear_session()


def evaluate_point(point: SweepPoint, runs_dir: Path, console: Console) -> None:
    """`vae evaluate` on a run this sweep finished (or skipped as finished), unless it has been evaluated."""
    from vaecli.api import load_run

    evaluation = RunPaths(runs_dir / point.name).evaluation
    if point.outcome not in ("trained", "resumed", "skipped") or evaluation.exists():
        point.evaluation = "present" if evaluation.exists() else None
        return
    try:
        result = load_run(runs_dir / point.name).evaluate(console=console)
        point.evaluation = "written"
        console.print(result.summary, highlight=False)
    except VaeError as error:
        point.evaluation = "failed: " + " ".join(error.lines)
    finally:
        free_models()


def run_serial(
    plan: SweepPlan,
    runs_dir: Path,
    evaluate: bool,
    retry_failed: bool,
    console: Console,
    quiet: bool = True,
    record: bool = True,
) -> None:
    """Run every point in order, rewriting the record after each (unless record=False: `--index`).

    TrainingInterrupted propagates (exit 130).
    """
    from vaecli.runtime.tensorflow import import_tensorflow

    # Each run builds fresh tf.functions in this one process; TF's "retracing" warning about that
    # is expected here and says nothing about the runs.
    import_tensorflow().get_logger().setLevel("ERROR")
    runs_dir = Path(runs_dir)
    actions = [decide(point, runs_dir, retry_failed) for point in plan.points]  # refuse conflicts up front
    try:
        for number, (point, action) in enumerate(zip(plan.points, actions), start=1):
            console.print(f"[{number}/{len(plan.points)}] {point.name}: {describe_action(action)}", highlight=False)
            if action in NOT_TRAINED:
                point.outcome = NOT_TRAINED[action]
            else:
                _run_point(point, action, runs_dir, console, quiet)
                console.print(outcome_line(point), highlight=False)
            if evaluate:
                evaluate_point(point, runs_dir, console)
            if record:
                write_record(plan, runs_dir)
    finally:  # also after Ctrl-C: the record says how far the sweep got
        if record:
            write_record(plan, runs_dir)


def outcome_line(point: SweepPoint) -> str:
    if point.error:
        return f"  [red]failed[/red] after {point.seconds:.0f} s: {point.error}"
    return f"  {point.outcome} in {point.seconds:.0f} s" + (f": {point.losses}" if point.losses else "")
