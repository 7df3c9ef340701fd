"""The grid of a sweep as data: points (index, run name, overrides, config) and what to do with each.

Every executor (in this process, parallel processes, Slurm, `--index I` under any scheduler)
starts from the same plan, so grid point I is the same run everywhere.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaecli.config import load_config
from vaecli.errors import ConfigError, RunError
from vaecli.io.yaml_config import parse_scalar
from vaecli.runs import STATUS_FAILED, RunPaths, is_completed, read_manifest

UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._=+-]+")


@dataclass
class SweepPoint:
    name: str
    overrides: list[str]  # KEY=VALUE for this grid point
    values: dict  # key -> value, for the record
    config: Any = None  # the validated ExperimentConfig
    index: int = 0  # position in the grid: `vae sweep --index I` trains this point
    outcome: str = "pending"  # trained, resumed, skipped, failed, failed earlier, interrupted, submitted
    error: str | None = None
    seconds: float | None = None
    evaluation: str | None = None  # written, present, failed: ...
    losses: str = ""  # the final losses of a run trained here, for the outcome line
    # Set by the executors that start processes (vaecli.sweeps.local, vaecli.sweeps.slurm):
    device: str | None = None  # the GPU id in the run's CUDA_VISIBLE_DEVICES
    threads: int | None = None  # TensorFlow threads of the run on a CPU-only machine
    exit_code: int | None = None
    log: str | None = None  # the run's stdout and stderr
    slurm_job_id: str | None = None  # ARRAYID_INDEX


@dataclass
class SweepPlan:
    name: str
    points: list[SweepPoint] = field(default_factory=list)
    config_path: Path = Path()
    settings: list[str] = field(default_factory=list)  # the --set strings as given
    seeds: int | None = None
    fixed: list[str] = field(default_factory=list)  # KEY=VALUE of the one-value --set, for every run


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
            raise ConfigError(
                f"settings {setting}: expected KEY=V1,V2,..., e.g. loss.kl_factor=1e-6,1e-4", arguments=("settings",)
            )
        axes.append((key.strip(), split_values(values)))
    return axes


def value_text(value: str) -> str:
    """A value as it appears in a run name: YAML-read then printed (1e-6 -> 1e-06), unsafe characters -> '-'."""
    return UNSAFE_NAME_CHARACTERS.sub("-", str(parse_scalar(value))).strip("-") or "empty"


# Each point holds its validated config (a few kB): ten thousand runs are more than any machine trains, and a
# grid of millions would fill the memory while being planned.
MAX_GRID_POINTS = 10_000


def plan_sweep(config_path: Path, settings: list[str], seeds: int | None, name: str | None) -> SweepPlan:
    """Every grid point with its index, name and validated config; ConfigError before anything runs.

    A --set with several values is an axis of the grid; one with a single value is fixed for
    every run and left out of the names (unless nothing else varies). Points are numbered in
    the order of itertools.product over the axes as given (the last --set varies fastest).
    """
    parsed = parse_axes(settings)
    axes = [(key, values) for key, values in parsed if len(values) > 1]
    fixed = [f"{key}={values[0]}" for key, values in parsed if len(values) == 1]
    if not axes and seeds is None:
        axes, fixed = parsed, []
    if seeds is not None:
        if seeds < 1:
            raise ConfigError(f"seeds must be at least 1, got {seeds}", arguments=("seeds",))
        # train.seed, not the top-level seed: every run keeps the same train/validation split.
        axes.append(("train.seed", [str(seed) for seed in range(seeds)]))
    if not axes:
        raise ConfigError(
            "give settings (at least one KEY=V1,V2,...) or seeds to sweep over", arguments=("settings", "seeds")
        )
    size = math.prod(len(values) for _, values in axes)
    if size > MAX_GRID_POINTS:
        shape = " x ".join(str(len(values)) for _, values in axes)
        raise ConfigError(f"the grid has {size:,} points ({shape}); a sweep takes at most {MAX_GRID_POINTS:,}")
    base = load_config(config_path, fixed)
    plan = SweepPlan(name or base.name, config_path=Path(config_path), settings=list(settings), seeds=seeds)
    plan.fixed = fixed
    for index, combination in enumerate(itertools.product(*(values for _, values in axes))):
        pairs = list(zip((key for key, _ in axes), combination))
        label = "_".join(
            f"{'seed' if key == 'train.seed' else key.split('.')[-1]}={value_text(value)}" for key, value in pairs
        )
        run_name = f"{plan.name}_{label}"
        overrides = [f"{key}={value}" for key, value in pairs]
        point = SweepPoint(run_name, overrides, {key: parse_scalar(value) for key, value in pairs}, index=index)
        point.config = load_config(config_path, fixed + overrides + [f"name={run_name}"])
        plan.points.append(point)
    names = [point.name for point in plan.points]
    if len(set(names)) != len(names):
        raise ConfigError("two grid points get the same run name; give values that differ as text")
    return plan


def select_point(plan: SweepPlan, index: int) -> SweepPlan:
    """The plan cut down to grid point `index` (`vae sweep --index I`); ConfigError when out of range."""
    count = len(plan.points)
    if not 0 <= index < count:
        raise ConfigError(
            f"index {index} is out of range: this grid has {count} point{'s' * (count != 1)} (0 to {count - 1}); "
            f"`vae sweep ... --plan` lists them",
            arguments=("index",),
        )
    return SweepPlan(plan.name, [plan.points[index]], plan.config_path, plan.settings, plan.seeds, plan.fixed)


def plan_lines(plan: SweepPlan) -> list[str]:
    """`vae sweep --plan`: one tab-separated line per point, INDEX NAME OVERRIDES, for `cut -f1` and friends."""
    return [f"{point.index}\t{point.name}\t{' '.join(point.overrides)}" for point in plan.points]


# The actions of points a sweep does not train, and the outcome each records.
NOT_TRAINED = {"skip": "skipped", "failed earlier": "failed earlier", "live": "live"}


def decide(point: SweepPoint, runs_dir: Path, retry_failed: bool) -> str:
    """What to do with one grid point: train, resume, skip, 'failed earlier', or 'live' (another process trains
    it right now: a sweep never touches a live run)."""
    from vaecli.runs.claims import holder

    paths = RunPaths(runs_dir / point.name)
    if not paths.root.exists():
        return "train"
    if holder(paths.root):
        return "live"
    if not paths.manifest.exists():
        raise RunError(
            f"{paths.root} exists but is not a run folder; move it away or give the sweep another name",
            arguments=("name",),
        )
    # Compare resolved configs, not file text: a folder written before a new config key existed
    # reads back with that key's default, which is what it trained with.
    recorded = load_config(paths.config).to_dict() if paths.config.exists() else None
    if recorded is not None and recorded != point.config.to_dict():
        raise RunError(
            f"{paths.root} holds a run with a different config; remove it or give the sweep another name",
            arguments=("name",),
        )
    if is_completed(paths):
        return "skip"
    if read_manifest(paths).status == STATUS_FAILED and not retry_failed:
        return "failed earlier"
    return "resume"


def describe_action(action: str) -> str:
    return {
        "train": "training",
        "resume": "resuming from its last checkpoint",
        "skip": "COMPLETED, skipped",
        "failed earlier": "FAILED earlier, skipped (--retry-failed resumes it)",
        "live": "being trained by another process right now, left alone",
    }[action]
