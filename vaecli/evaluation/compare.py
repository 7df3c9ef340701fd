"""`vae compare`: one table of several runs: the config keys that differ, final metrics, evaluation.

Every row is a flat dict of named columns (the CSV holds them all); the screen table shows
the differing config keys and a chosen set of the numbers.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from vaecli.atomic import write_text_atomic
from vaecli.errors import CompareError
from vaecli.results import Result
from vaecli.runs import RunPaths, read_evaluation, read_manifest, read_metrics, resolve_run

METRIC_KEYS = ("loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss", "val_kl_loss")


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
    columns = {
        "elbo": likelihood.get("elbo_nats"),
        "iwae": likelihood.get("iwae_nats"),
        "iwae_bits_per_dim": likelihood.get("iwae_bits_per_dim"),
        "iw_samples": likelihood.get("iw_samples"),
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
    return columns


def run_row(paths: RunPaths, config: dict) -> dict:
    manifest = read_manifest(paths)
    rows = read_metrics(paths)
    last = rows[-1] if rows else {}
    row = {
        "run": paths.name,
        "status": manifest.status,
        "epochs": manifest.epochs_completed,
        "kl_factor": config.get("loss.kl_factor") if config.get("model.kind") == "vae" else 0.0,
    }
    row.update({key: last.get(key) for key in METRIC_KEYS})
    row.update(evaluation_columns(read_evaluation(paths)))
    return row


def read_run_config(paths: RunPaths) -> dict:
    try:
        return flatten(yaml.safe_load(paths.config.read_text()) or {})
    except (OSError, yaml.YAMLError) as error:
        raise CompareError(f"{paths.config}: cannot read the run's config ({error})") from None


def compare_rows(runs: list[RunPaths], sort: str | None = None) -> tuple[list[dict], list[str]]:
    """(one row per run, the config keys that differ); each row also holds those config values."""
    configs = [read_run_config(paths) for paths in runs]
    differing = differing_keys(configs)
    rows = []
    for paths, config in zip(runs, configs):
        rows.append({**{key: config.get(key) for key in differing}, **run_row(paths, config)})
    if sort is not None:
        known = sorted(set().union(*rows))
        if sort not in known:
            raise CompareError(f"--sort {sort}: no such column (columns: {', '.join(known)})")
        rows.sort(key=lambda row: _sort_key(row.get(sort)))
    return rows, differing


def _sort_key(value):
    """Numbers ascending, then text, then missing values last."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return (0, value, "")
    return (1, 0, str(value)) if value is not None else (2, 0, "")


def feature_space_warning(rows: list[dict]) -> str | None:
    spaces = {row["features"] for row in rows if row.get("features")}
    if len(spaces) > 1:
        return (
            f"the runs were evaluated in different feature spaces ({', '.join(sorted(spaces))}); their "
            f"precision, recall and Frechet distances are not comparable"
        )
    return None


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
    rows: list[dict]  # one flat dict of named columns per run (the CSV holds them all)
    differing: list[str]  # the dotted config keys whose values differ between the runs

    def write_csv(self, target: str | Path) -> Path:
        """Every column of every run to a CSV file (atomically)."""
        return write_csv(self.rows, Path(target))

    def plot(self, target: str | Path) -> Path:
        """Rate-distortion and plausibility against the KL factor, to a PNG."""
        from vaecli.figures import compare_plot

        return compare_plot(self.rows, Path(target))


def compare(runs: list[str | Path | RunPaths], sort: str | None = None, runs_dir: str | Path = "runs") -> Comparison:
    """One row per run: the config keys that differ, final metrics and evaluation numbers.

    Runs are folders or bare names in runs_dir. Example:
        >>> comparison = vaecli.compare(["runs/a", "runs/b"], sort="val_loss")
        >>> [row["run"] for row in comparison.rows]
        ['b', 'a']
    """
    paths = [run if isinstance(run, RunPaths) else resolve_run(run, runs_dir) for run in runs]
    rows, differing = compare_rows(paths, sort)
    warning = feature_space_warning(rows)
    return Comparison(rows, differing, warnings=[warning] if warning else [], summary=f"Compared {len(rows)} run(s)")
