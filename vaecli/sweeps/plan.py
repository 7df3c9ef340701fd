"""`vae sweep`: a grid of runs over --set values, each named after its values.

Finished (COMPLETED) runs are skipped, interrupted ones (RUNNING, KILLED) resumed, a failed
one (a NaN loss: TrainingFailed) recorded and the sweep continued; Ctrl-C stops the sweep
with the current run marked KILLED, so running the same command again carries on. The
outcome of every run is written to RUNS_DIR/sweeps/NAME.json after each run.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from vaecli.atomic import timestamp, write_json_atomic
from vaecli.config import load_config, parse_scalar
from vaecli.errors import ConfigError, RunError, TrainingInterrupted, VaeError
from vaecli.results import Result
from vaecli.runs import STATUS_FAILED, RunPaths, final_losses, is_completed, read_manifest, sweep_record_path

UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._=+-]+")


@dataclass
class SweepPoint:
    name: str
    overrides: list[str]  # KEY=VALUE for this grid point
    values: dict  # key -> value, for the record
    config: object = None  # the validated ExperimentConfig
    outcome: str = "pending"  # trained, resumed, skipped, failed, failed earlier, interrupted
    error: str | None = None
    seconds: float | None = None
    evaluation: str | None = None  # written, present, failed: ...
    losses: str = ""  # the final losses of a run trained here, for the outcome line


@dataclass
class SweepPlan:
    name: str
    points: list[SweepPoint] = field(default_factory=list)


def split_values(text: str) -> list[str]:
    """'1e-6,1e-4' -> ['1e-6', '1e-4']; commas inside [...] stay (a list value such as [32,64])."""
    values, depth, current = [], 0, ""
    for character in text:
        depth += {"[": 1, "]": -1}.get(character, 0)
        if character == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += character
    values.append(current.strip())
    return [value for value in values if value]


def parse_axes(settings: list[str]) -> list[tuple[str, list[str]]]:
    """--set KEY=V1,V2 strings -> [(KEY, [V1, V2])]; every axis needs at least one value."""
    axes = []
    for setting in settings:
        key, separator, values = setting.partition("=")
        if not separator or not key.strip() or not split_values(values):
            raise ConfigError(f"--set {setting}: expected KEY=V1,V2,..., e.g. --set loss.kl_factor=1e-6,1e-4")
        axes.append((key.strip(), split_values(values)))
    return axes


def value_text(value: str) -> str:
    """A value as it appears in a run name: YAML-read then printed (1e-6 -> 1e-06), unsafe characters -> '-'."""
    return UNSAFE_NAME_CHARACTERS.sub("-", str(parse_scalar(value))).strip("-") or "empty"


def plan_sweep(config_path: Path, settings: list[str], seeds: int | None, name: str | None) -> SweepPlan:
    """Every grid point with its name and validated config; ConfigError before anything runs.

    A --set with several values is an axis of the grid; one with a single value is fixed for
    every run and left out of the names (unless nothing else varies).
    """
    parsed = parse_axes(settings)
    axes = [(key, values) for key, values in parsed if len(values) > 1]
    fixed = [f"{key}={values[0]}" for key, values in parsed if len(values) == 1]
    if not axes and seeds is None:
        axes, fixed = parsed, []
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, got {seeds}")
        # train.seed, not the top-level seed: every run keeps the same train/validation split.
        axes.append(("train.seed", [str(seed) for seed in range(seeds)]))
    if not axes:
        raise ConfigError("give at least one --set KEY=V1,V2,... (or --seeds N) to sweep over")
    base = load_config(config_path, fixed)
    plan = SweepPlan(name or base.name)
    for combination in itertools.product(*(values for _, values in axes)):
        pairs = list(zip((key for key, _ in axes), combination))
        label = "_".join(
            f"{'seed' if key == 'train.seed' else key.split('.')[-1]}={value_text(value)}" for key, value in pairs
        )
        run_name = f"{plan.name}_{label}"
        overrides = [f"{key}={value}" for key, value in pairs]
        point = SweepPoint(run_name, overrides, {key: parse_scalar(value) for key, value in pairs})
        point.config = load_config(config_path, fixed + overrides + [f"name={run_name}"])
        plan.points.append(point)
    names = [point.name for point in plan.points]
    if len(set(names)) != len(names):
        raise ConfigError("two grid points get the same run name; give values that differ as text")
    return plan


def decide(point: SweepPoint, runs_dir: Path, retry_failed: bool) -> str:
    """What to do with one grid point: train, resume, skip or 'failed earlier'."""
    paths = RunPaths(runs_dir / point.name)
    if not paths.root.exists():
        return "train"
    if not paths.manifest.exists():
        raise RunError(f"{paths.root} exists but is not a run folder; move it away or pick another --name")
    # Compare resolved configs, not file text: a folder written before a new config key existed
    # reads back with that key's default, which is what it trained with.
    recorded = load_config(paths.config).to_dict() if paths.config.exists() else None
    if recorded is not None and recorded != point.config.to_dict():
        raise RunError(f"{paths.root} holds a run with a different config; remove it or give the sweep another --name")
    if is_completed(paths):
        return "skip"
    if read_manifest(paths).status == STATUS_FAILED and not retry_failed:
        return "failed earlier"
    return "resume"


def write_record(plan: SweepPlan, runs_dir: Path, config_path: Path, settings: list[str]) -> Path:
    target = sweep_record_path(runs_dir, plan.name)
    record = {
        "name": plan.name,
        "config": str(config_path),
        "set": settings,
        "updated": timestamp(),
        "runs": [
            {
                "name": point.name,
                "values": point.values,
                "outcome": point.outcome,
                "error": point.error,
                "seconds": point.seconds,
                "evaluation": point.evaluation,
            }
            for point in plan.points
        ],
    }
    return write_json_atomic(target, record)


def _run_point(point: SweepPoint, action: str, runs_dir: Path, console, quiet: bool) -> None:
    from vaecli.runs import prepare_new_run
    from vaecli.training import train

    paths = RunPaths(runs_dir / point.name) if action == "resume" else prepare_new_run(runs_dir, point.name, False)
    started = time.perf_counter()
    try:
        point.losses = final_losses(train(point.config, paths, resume=action == "resume", console=console, quiet=quiet))
        point.outcome = "resumed" if action == "resume" else "trained"
    except TrainingInterrupted:
        point.outcome = "interrupted"
        raise
    except VaeError as error:  # the run failed (NaN, data, disk): record it, try the next
        point.outcome, point.error = "failed", " ".join(error.lines)
    finally:
        point.seconds = round(time.perf_counter() - started, 1)
        _free_models()


def _free_models() -> None:
    """Drop the finished run's graphs so a long sweep's memory does not grow."""
    import keras

    keras.backend.clear_session()


def _evaluate_point(point: SweepPoint, runs_dir: Path, console) -> None:
    from vaecli.run import load_run

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
        _free_models()


def run_sweep(
    plan: SweepPlan,
    runs_dir: Path,
    config_path: Path,
    settings: list[str],
    evaluate: bool,
    retry_failed: bool,
    console,
    quiet: bool = True,
) -> Path:
    """Run every point in order; returns the record file. TrainingInterrupted propagates (exit 130)."""
    from vaecli.runtime import import_tensorflow

    # Each run builds fresh tf.functions in this one process; TF's "retracing" warning about that
    # is expected here and says nothing about the runs.
    import_tensorflow().get_logger().setLevel("ERROR")
    runs_dir = Path(runs_dir)
    actions = [decide(point, runs_dir, retry_failed) for point in plan.points]  # refuse conflicts up front
    try:
        for index, (point, action) in enumerate(zip(plan.points, actions), start=1):
            console.print(f"[{index}/{len(plan.points)}] {point.name}: {_describe_action(action)}", highlight=False)
            if action in ("skip", "failed earlier"):
                point.outcome = "skipped" if action == "skip" else action
            else:
                _run_point(point, action, runs_dir, console, quiet)
                console.print(_outcome_line(point), highlight=False)
            if evaluate:
                _evaluate_point(point, runs_dir, console)
            write_record(plan, runs_dir, config_path, settings)
    finally:  # also after Ctrl-C: the record says how far the sweep got
        write_record(plan, runs_dir, config_path, settings)
    return sweep_record_path(runs_dir, plan.name)


def _describe_action(action: str) -> str:
    return {
        "train": "training",
        "resume": "resuming from its last checkpoint",
        "skip": "COMPLETED, skipped",
        "failed earlier": "FAILED earlier, skipped (--retry-failed resumes it)",
    }[action]


def _outcome_line(point: SweepPoint) -> str:
    if point.error:
        return f"  [red]failed[/red] after {point.seconds:.0f} s: {point.error}"
    return f"  {point.outcome} in {point.seconds:.0f} s" + (f": {point.losses}" if point.losses else "")


@dataclass
class SweepResult(Result):
    plan: SweepPlan
    record: Path  # runs/sweeps/NAME.json

    @property
    def failed(self) -> list[str]:
        return [point.name for point in self.plan.points if point.outcome == "failed"]

    @property
    def run_folders(self) -> list[RunPaths]:
        """The grid's run folders that exist (for `vaecli.compare`)."""
        return [
            RunPaths(self.record.parent.parent / point.name)
            for point in self.plan.points
            if (self.record.parent.parent / point.name / "manifest.json").exists()
        ]


def sweep(
    config: str | Path,
    settings: list[str],
    *,
    seeds: int | None = None,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    evaluate: bool = False,
    retry_failed: bool = False,
    quiet: bool = True,
    console=None,
) -> SweepResult:
    """Train the grid of runs over the --set values (`vae sweep`), skipping finished runs.

    settings are `KEY=V1,V2,...` strings, one grid axis each. Example:
        >>> result = vaecli.sweep("configs/quickstart.yaml", ["loss.kl_factor=1e-3,1", "train.epochs=2"])
        >>> [point.outcome for point in result.plan.points], result.failed
        (['trained', 'trained'], [])
    """
    from rich.console import Console

    console = console or Console()
    plan = plan_sweep(Path(config), settings, seeds, name)
    console.print(f"Sweep {plan.name}: {len(plan.points)} runs in {runs_dir}", highlight=False)
    record = run_sweep(plan, Path(runs_dir), Path(config), settings, evaluate, retry_failed, console, quiet)
    result = SweepResult(plan, record, files=[record])
    failed = result.failed
    result.summary = f"Sweep record: {record}" + (f"; {len(failed)} failed: {', '.join(failed)}" if failed else "")
    return result
