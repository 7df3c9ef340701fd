"""`vae compare`: one table of several runs: the config keys that differ, final metrics, evaluation.

Every row is a flat dict of named columns (the CSV holds them all); the screen table shows
the differing config keys and a chosen set of the numbers.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import yaml

from vaecli.errors import VaeError
from vaecli.runs import RunPaths, read_manifest, read_metrics, write_text_atomic

METRIC_KEYS = ("loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss", "val_kl_loss")
# The columns shown on screen (every column goes to --csv), with their short headers.
SCREEN_NUMBERS = {"epochs": "epochs", "val_loss": "val loss", "val_reconstruction_loss": "val reco",
                  "val_kl_loss": "val KL", "elbo": "ELBO", "iwae_bits_per_dim": "IWAE bits/dim",
                  "active_units": "active", "precision_prior": "P prior", "recall_prior": "R prior",
                  "frechet_prior": "FD prior", "best_box_precision": "P best box", "best_box": "best B"}


class CompareError(VaeError):
    exit_code = 2


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
    columns = {"elbo": likelihood.get("elbo_nats"), "iwae": likelihood.get("iwae_nats"),
               "iwae_bits_per_dim": likelihood.get("iwae_bits_per_dim"), "iw_samples": likelihood.get("iw_samples"),
               "reconstruction_bce": likelihood["reconstruction"]["bce_nats"],
               "reconstruction_mse": likelihood["reconstruction"]["mse_sum"],
               "active_units": evaluation["active_units"]["count"],
               "features": evaluation["plausibility"]["feature_space"]["name"]}
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
    from vaecli.evaluation.evaluate import read_evaluation

    manifest = read_manifest(paths)
    rows = read_metrics(paths)
    last = rows[-1] if rows else {}
    row = {"run": paths.name, "status": manifest.get("status"), "epochs": manifest.get("epochs_completed"),
           "kl_factor": config.get("loss.kl_factor") if config.get("model.kind") == "vae" else 0.0}
    row.update({key: last.get(key) for key in METRIC_KEYS})
    row.update(evaluation_columns(read_evaluation(paths.root)))
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
        return (f"the runs were evaluated in different feature spaces ({', '.join(sorted(spaces))}); their "
                f"precision, recall and Frechet distances are not comparable")
    return None


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def compare_table(rows: list[dict], differing: list[str], width: int = 200):
    """Runs as rows when that fits in `width` characters, else transposed (a row per measure)."""
    from rich.table import Table

    shown = [key for key in SCREEN_NUMBERS if any(row.get(key) is not None for row in rows)]
    spaces = sorted({row["features"] for row in rows if row.get("features")})
    title = f"{len(rows)} runs" + (f" (plausibility in the {', '.join(spaces)} feature space)" if spaces else "")
    statuses = {row.get("status") for row in rows}
    columns = [*(["status"] if statuses != {"COMPLETED"} else []), *differing, *shown]
    headers = ["run", *(SCREEN_NUMBERS.get(column, column) for column in columns)]
    cells = [[row["run"], *(_cell(row.get(column)) for column in columns)] for row in rows]
    needed = sum(max(len(text) for text in column) + 3 for column in zip(headers, *cells))
    if needed > width:  # transpose: measures down the side, one column per run
        measures = zip(headers[1:], *(row[1:] for row in cells))
        headers, cells = ["run", *(row[0] for row in cells)], [list(line) for line in measures]
    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, overflow="fold", justify="left" if index == 0 else "right")
    for line in cells:
        table.add_row(*line)
    return table


def write_csv(rows: list[dict], target: Path) -> Path:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(Path(target), buffer.getvalue())
    return Path(target)


def compare_plot(rows: list[dict], target: Path) -> Path:
    """Rate-distortion (validation KL against reconstruction) and plausibility against the KL factor."""
    from vaecli.figures import _pyplot, _save

    plt = _pyplot()
    figure, (rate_axis, precision_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    for row in rows:
        rate = row.get("val_kl_loss", row.get("kl_loss"))
        distortion = row.get("val_reconstruction_loss", row.get("reconstruction_loss"))
        if rate is not None and distortion is not None:
            rate_axis.scatter(rate, distortion)
            rate_axis.annotate(row["run"], (rate, distortion), fontsize=7, xytext=(3, 3), textcoords="offset points")
    rate_axis.set(xlabel="KL (rate), nats per image", ylabel="reconstruction (distortion), nats per image",
                  title="rate-distortion (validation)")
    plotted = [row for row in rows if row.get("precision_prior") is not None and row.get("kl_factor")]
    for key, label in (("precision_prior", "precision, prior N(0, I)"), ("best_box_precision", "precision, best box"),
                       ("recall_prior", "recall, prior N(0, I)")):
        points = sorted((row["kl_factor"], row[key]) for row in plotted if row.get(key) is not None)
        if points:
            precision_axis.plot(*zip(*points), marker="o", label=label)
    spaces = sorted({row["features"] for row in plotted})
    precision_axis.set(xscale="log", xlabel="KL factor", ylabel="fraction", ylim=(-0.02, 1.02),
                       title=f"plausibility of decoded samples ({', '.join(spaces) or 'not evaluated'} features)")
    if plotted:
        precision_axis.legend(fontsize=8)
    for axis in (rate_axis, precision_axis):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, Path(target))
