"""latent-stats: encode a split, compute vaecli.latent_stats, write stats.json and the plots.

    runs/NAME/latent_stats/stats.json          every number (definitions in vaecli.latent_stats)
    runs/NAME/latent_stats/dimensions.png      z_mean histograms per dimension against N(0, 1)
    runs/NAME/latent_stats/norms.png           ||z_mean|| against the norms of prior samples
    runs/NAME/latent_stats/pca.png             PC1/PC2 scatter coloured by label, and the spectrum
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from vaecli.explore import CommandResult, encode_with_progress, load_split
from vaecli.latent_stats import (DEFAULT_BOXES, dimensions_by_information, latent_statistics, pca_spectrum,
                                 prior_norms)
from vaecli.runs import write_text_atomic
from vaecli.trained import TrainedRun

HISTOGRAM_DIMENSIONS = 16  # panels in dimensions.png: the most informative dimensions first
MAX_LABEL_CLASSES = 20  # a label with more distinct values than this is not used to colour the scatter


def colouring_label(labels: dict[str, np.ndarray]) -> tuple[str | None, np.ndarray | None]:
    """The class label if the data set has one, else the integer attribute with the most classes
    (hair_colour of the synthetic faces), else none."""
    candidates = {name: np.asarray(values) for name, values in labels.items()
                  if np.issubdtype(np.asarray(values).dtype, np.integer)
                  and len(np.unique(values)) <= MAX_LABEL_CLASSES}
    if not candidates:
        return None, None
    name = "label" if "label" in candidates else max(candidates, key=lambda key: len(np.unique(candidates[key])))
    return name, candidates[name]


def latent_stats_report(trained: TrainedRun, split: str = "test", limit: int | None = None,
                        boxes: tuple[float, ...] = DEFAULT_BOXES, seed: int = 0, out: str | Path | None = None,
                        console=None) -> CommandResult:
    """Statistics of the encoded split as stats.json plus three PNG plots, in one folder."""
    from vaecli.data.sources import SOURCES
    from vaecli.figures import dimension_histograms, norm_histogram, pca_figure

    chosen, _, fingerprint, warnings = load_split(trained, split, limit)
    z_mean, z_log_var = encode_with_progress(trained, chosen.images, console, f"encoding {split}")
    statistics = latent_statistics(z_mean, z_log_var, boxes=boxes, seed=seed)
    order, measure = dimensions_by_information(z_mean, z_log_var)
    statistics["dimensions_by_information"] = {"measure": measure, "order": order.tolist()}
    statistics["provenance"] = {**trained.provenance(), "split": split, "dataset_fingerprint": fingerprint,
                                "limit": limit, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    folder = Path(out) if out is not None else trained.paths.latent_stats
    stats_file = folder / "stats.json"
    write_text_atomic(stats_file, json.dumps(statistics, indent=2) + "\n")

    name = f"{trained.paths.name} ({trained.config.model.kind}, {split}, {len(z_mean):,} images)"
    shown = sorted(int(dimension) for dimension in order[:HISTOGRAM_DIMENSIONS])
    figures = [dimension_histograms(folder / "dimensions.png", z_mean, shown,
                                    f"{name}: z_mean per dimension" +
                                    (f" ({len(shown)} with the most {measure})" if len(order) > len(shown) else "")),
               norm_histogram(folder / "norms.png", np.linalg.norm(z_mean, axis=1),
                              prior_norms(*z_mean.shape, seed),
                              f"{name}: norms")]
    singular_values, axes = pca_spectrum(z_mean)
    projected = (z_mean - z_mean.mean(axis=0)) @ axes[:2].T
    label_name, labels = colouring_label(chosen.labels)
    figures.append(pca_figure(folder / "pca.png", projected, np.asarray(statistics["pca"]["explained_variance"]),
                              labels, label_name, SOURCES[trained.config.data.source].label_names if
                              label_name == "label" else (), f"{name}: PCA of z_mean"))
    summary = (f"Latent statistics of {len(z_mean):,} {split} images of {trained.paths.root}: "
               f"{statistics['active_units']['count']}/{trained.z_dim} active units, effective rank "
               f"{statistics['pca']['effective_rank']:.1f} -> {stats_file} (+ {', '.join(f.name for f in figures)})")
    return CommandResult(summary, [stats_file, *figures], {"statistics": statistics}, warnings)


def statistics_table(statistics: dict, top: int = 12):
    """A Rich table for the screen: the headline numbers, then the most informative dimensions."""
    from rich.table import Table

    summary = Table(title="latent space", show_header=False, title_justify="left")
    summary.add_column("quantity", style="bold")
    summary.add_column("value", justify="right")
    active = statistics["active_units"]
    summary.add_row("points / z_dim", f"{statistics['num_points']:,} / {statistics['z_dim']}")
    summary.add_row(f"active units (Var z_mean > {active['threshold']:g})", str(active["count"]))
    if statistics["kl_total"] is not None:
        summary.add_row("KL per image (nats)", f"{statistics['kl_total']:.3f}")
    pca = statistics["pca"]
    summary.add_row("PCA effective rank", f"{pca['effective_rank']:.2f}")
    summary.add_row("components for 90% / 99% variance",
                    f"{pca['components_for_90_percent']} / {pca['components_for_99_percent']}")
    norms = statistics["norm"]
    summary.add_row("median ||z_mean|| (prior ||z||)", f"{norms['encoded']['q50']:.3g} ({norms['prior']['q50']:.3g})")
    for boundary, fraction in statistics["box_fraction"].items():
        summary.add_row(f"inside 0 < z_i < {boundary}: points (components)",
                        f"{100 * fraction['points']:.1f}% ({100 * fraction['components']:.0f}%)")

    measure = statistics["dimensions_by_information"]["measure"]
    dimensions = Table(title=f"dimensions with the most {measure}", title_justify="left")
    for column in ("dim", "mean", "Var z_mean", "posterior var", "KL"):
        dimensions.add_column(column, justify="right")
    for dimension in statistics["dimensions_by_information"]["order"][:top]:
        posterior = statistics["posterior_variance"]
        kl = statistics["kl_per_dimension"]
        dimensions.add_row(f"z{dimension}", f"{statistics['mean'][dimension]:.3g}",
                           f"{statistics['variance'][dimension]:.3g}",
                           "-" if posterior is None else f"{posterior[dimension]:.3g}",
                           "-" if kl is None else f"{kl[dimension]:.3g}")
    return summary, dimensions
