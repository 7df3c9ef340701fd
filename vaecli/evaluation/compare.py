"""`vae compare`: one table of several runs: the config keys that differ, final metrics, evaluation.

Every row is a flat dict of named columns (the CSV holds them all); the screen table shows
the differing config keys, the KL schedule and a chosen set of the numbers. Evaluation
numbers come from one feature space: --features names it, else each run's latest evaluation,
and runs whose latest evaluations are in different spaces are refused (their precision and
recall are not comparable). --aggregate collapses runs that differ only in train.seed
(vaecli.evaluation.aggregate).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vaecli.errors import CompareError
from vaecli.io.atomic import write_text_atomic
from vaecli.results import Result
from vaecli.runs import (
    Manifest,
    RunPaths,
    evaluated_spaces,
    evaluation_space,
    read_evaluation,
    read_manifest,
    read_metrics,
    resolve_run,
)

METRIC_KEYS = (
    "loss",
    "reconstruction_loss",
    "kl_loss",
    "kl_penalty",
    "kl_weight",
    "val_loss",
    "val_reconstruction_loss",
    "val_kl_loss",
    "val_kl_penalty",
)


def flatten(data: dict, prefix: str = "") -> dict:
    """{'loss': {'kl_factor': 1}} -> {'loss.kl_factor': 1}; lists stay values."""
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def differing_keys(configs: list[dict]) -> list[str]:
    """Dotted config keys whose values are not the same in every run (the run name aside)."""
    keys = sorted(set().union(*configs)) if configs else []
    return [key for key in keys if key != "name" and len({repr(config.get(key)) for config in configs}) > 1]


def evaluation_columns(evaluation: dict | None) -> dict:
    """The evaluation numbers of one run as flat columns (empty when it was never evaluated)."""
    if not evaluation:
        return {}
    likelihood = evaluation["likelihood"]
    bernoulli = likelihood.get("bernoulli", {})  # an MSE run's Bernoulli figures, beside its Gaussian ones
    columns = {
        "decoder": likelihood.get("decoder", "bernoulli"),
        "elbo": likelihood.get("elbo_nats"),
        "iwae": likelihood.get("iwae_nats"),
        "iwae_bits_per_dim": likelihood.get("iwae_bits_per_dim"),
        "elbo_bernoulli": bernoulli.get("elbo_nats", likelihood.get("elbo_nats")),
        "iwae_bernoulli": bernoulli.get("iwae_nats", likelihood.get("iwae_nats")),
        "iw_samples": likelihood.get("iw_samples"),
        "kl": likelihood.get("kl_nats"),
        "reconstruction_bce": likelihood["reconstruction"]["bce_nats"],
        "reconstruction_mse": likelihood["reconstruction"]["mse_sum"],
        "active_units": evaluation["active_units"]["count"],
        "features": evaluation["plausibility"]["feature_space"]["name"],
    }
    boxes = {}
    for row in evaluation["plausibility"]["rows"]:
        tag = row["label"].replace(" (held out)", "").replace(" ", "_")
        for measure, short in (("precision", "precision"), ("recall", "recall"), ("frechet_distance", "frechet")):
            columns[f"{short}_{tag}"] = row[measure]
        if row["region"] == "box":
            boxes[row["parameter"]] = row["precision"]
    if boxes:
        best = max(boxes, key=lambda boundary: boxes[boundary])
        columns.update(best_box_precision=boxes[best], best_box=best)
    for name, entry in evaluation.get("densities", {}).items():  # vae evaluate --density: a VAE's prior gap
        if entry.get("prior_gap_nats") is not None:
            columns[f"prior_gap_{name}"] = entry["prior_gap_nats"]
    return columns


def schedule_label(manifest: Manifest, config: dict) -> str:
    """How the KL term entered the loss: the manifest's record ('warmup 4 ep', ...); 'none' for an AE."""
    if config.get("model.kind") != "vae":
        return "none"
    return (manifest.kl_schedule or {}).get("description", "constant")  # runs before schedules: constant


def run_row(paths: RunPaths, config: dict, features: str | None = None) -> dict:
    manifest = read_manifest(paths)
    rows = read_metrics(paths)
    last = rows[-1] if rows else {}
    row = {
        "run": paths.name,
        "status": manifest.status,
        "epochs": manifest.epochs_completed,
        "kl_factor": config.get("loss.kl_factor") if config.get("model.kind") == "vae" else 0.0,
        "kl_schedule": schedule_label(manifest, config),
    }
    row.update({key: last.get(key) for key in METRIC_KEYS if key in last})
    row.update(evaluation_columns(read_evaluation(paths, features)))
    row.update(factor_columns(paths.root))
    return row


def factor_columns(root: Path) -> dict:
    """MIG, DCI D/C/I and SAP from RUN/evaluation/factors.json (`vae factors`); empty without one."""
    from vaecli.evaluation.factors import factor_columns as read_columns

    return read_columns(root)


def read_run_config(paths: RunPaths) -> dict:
    try:
        return flatten(yaml.safe_load(paths.config.read_text()) or {})
    except (OSError, yaml.YAMLError) as error:
        raise CompareError(f"{paths.config}: cannot read the run's config ({error})") from None


def check_one_space(runs: list[RunPaths], features: str | None) -> list[str]:
    """CompareError when the runs' latest evaluations are in different feature spaces and none was chosen;
    with --features, warnings for the runs that have no evaluation in that space."""
    if features is not None:
        return [
            f"{paths.name} has no evaluation in the {features} feature space (it has: "
            f"{', '.join(evaluated_spaces(paths)) or 'none'}); its evaluation columns are empty"
            for paths in runs
            if read_evaluation(paths, features) is None
        ]
    latest = {paths.name: evaluation_space(read_evaluation(paths)) for paths in runs}
    spaces = sorted({space for space in latest.values() if space})
    if len(spaces) > 1:
        common = sorted(set.intersection(*(set(evaluated_spaces(paths)) for paths in runs)))
        by_space = "; ".join(f"{space}: {', '.join(n for n, s in latest.items() if s == space)}" for space in spaces)
        hint = (
            f"every run has an evaluation in {', '.join(common)}"
            if common
            else "no space is common to every run: evaluate them in one with `vae evaluate --features SPACE`"
        )
        raise CompareError(
            f"the runs' latest evaluations are in different feature spaces ({by_space}); precision, recall and "
            f"Frechet distances are only comparable within one",
            f"choose one with features ({hint})",
            arguments=("features",),
        )
    return []


def compare_rows(
    runs: list[RunPaths], sort: str | None = None, features: str | None = None
) -> tuple[list[dict], list[str]]:
    """(one row per run, the config keys that differ); each row also holds those config values."""
    configs = [read_run_config(paths) for paths in runs]
    differing = differing_keys(configs)
    rows = []
    for paths, config in zip(runs, configs):
        rows.append({**{key: config.get(key) for key in differing}, **run_row(paths, config, features)})
    return sort_rows(rows, sort), differing


def sort_rows(rows: list[dict], sort: str | None) -> list[dict]:
    """Rows sorted by one column (numbers ascending, then text, then missing); CompareError for an unknown column."""
    if sort is not None:
        known = sorted(set().union(*rows))
        if sort not in known:
            raise CompareError(f"sort {sort}: no such column (columns: {', '.join(known)})", arguments=("sort",))
        rows.sort(key=lambda row: _sort_key(row.get(sort)))
    return rows


def _sort_key(value):
    """Numbers ascending, then text, then missing values last."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return (0, value, "")
    return (1, 0, str(value)) if value is not None else (2, 0, "")


def write_csv(rows: list[dict], target: Path) -> Path:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(Path(target), buffer.getvalue())
    return Path(target)


@dataclass
class Comparison(Result):
    rows: list[dict]  # one flat dict of named columns per run, or per group of seeds (the CSV holds them all)
    differing: list[str]  # the dotted config keys whose values differ between the runs (or groups)
    aggregated: bool = False  # rows are groups of runs differing only in train.seed: mean, <column>_sd, n
    tests: list[dict] = field(default_factory=list)  # Welch t-tests of two groups (aggregate.group_tests)

    def write_csv(self, target: str | Path) -> Path:
        """Every column of every row to a CSV file (atomically)."""
        return write_csv(self.rows, Path(target))

    def plot(self, target: str | Path) -> Path:
        """Rate-distortion and plausibility against the KL factor (or per row), to a PNG; error bars when aggregated."""
        from vaecli.figures import compare_plot

        return compare_plot(self.rows, Path(target))


def compare(
    runs: Sequence[str | Path | RunPaths],
    sort: str | None = None,
    runs_dir: str | Path = "runs",
    features: str | None = None,
    aggregate: bool = False,
    groups: tuple[str, str] | None = None,
) -> Comparison:
    """One row per run: the config keys that differ, final metrics and evaluation numbers.

    Runs are folders or bare names in runs_dir. features: the feature space whose evaluation
    to show (default: each run's latest, which must then be one space). aggregate: one row per
    group of runs that differ only in train.seed, each numeric column the mean over the group,
    with its sample standard deviation in <column>_sd, its 95% t-interval in <column>_ci_low and
    <column>_ci_high, and the group size in n. groups (with aggregate): two group names whose
    numeric columns get a Welch t-test each, in .tests. Example:
        >>> comparison = vaecli.compare(["runs/a", "runs/b"], sort="val_loss")
        >>> [row["run"] for row in comparison.rows]
        ['b', 'a']
    """
    from vaecli.evaluation.aggregate import aggregate_rows, group_tests

    if groups is not None and not aggregate:
        raise CompareError("groups compares groups of seeds: give it with aggregate=True")
    paths = [run if isinstance(run, RunPaths) else resolve_run(run, runs_dir) for run in runs]
    warnings = check_one_space(paths, features)
    rows, differing = compare_rows(paths, None if aggregate else sort, features)
    tests: list[dict] = []
    if aggregate:
        per_run = rows
        rows, differing = aggregate_rows(rows, differing)
        rows = sort_rows(rows, sort)
        if groups is not None:
            tests = group_tests(per_run, rows, *groups)
    summary = f"Compared {len(paths)} run(s)" + (f" in {len(rows)} group(s) of seeds" if aggregate else "")
    return Comparison(rows, differing, aggregated=aggregate, tests=tests, warnings=warnings, summary=summary)
