"""`vae latent-stats`: what the latent space of an encoded split holds, as plain numbers and plots.

    runs/NAME/latent_stats/stats.json          every number (definitions below)
    runs/NAME/latent_stats/dimensions.png      z_mean histograms per dimension against N(0, 1)
    runs/NAME/latent_stats/norms.png           ||z_mean|| against the norms of prior samples
    runs/NAME/latent_stats/pca.png             PC1/PC2 scatter coloured by label, and the spectrum
    runs/NAME/latent_stats/kl_spectrum.png     per-dimension KL sorted, largest first (VAE only)

Definitions (each a standard one, stated here because papers differ):

- Active units (Burda et al. 2016, "Importance Weighted Autoencoders"): dimension i is
  active when Cov_x(E[z_i | x]) = Var over data points of z_mean_i exceeds 0.01. The
  threshold assumes a unit-variance prior; for an AE, whose latent scale is arbitrary, the
  count is still reported but means less.
- Per-dimension KL: KL(q(z_i|x) || N(0, 1)) = 0.5 * (mu^2 + exp(log_var) - 1 - log_var),
  averaged over data points; the sum over dimensions is the KL the training loss logs. Sorted
  from largest to smallest it is the "KL spectrum": collapsed dimensions (KL near 0) show as
  the tail that falls off the log axis.
- PCA spectrum: singular values s_k of the centred z_mean matrix; explained variance
  s_k^2 / sum s^2.
- Effective rank (Roy & Vetterli 2007): exp(H(p)) with p_k = s_k / sum s and H the Shannon
  entropy in nats. It equals k for k equal non-zero singular values and is 1 for rank one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vaecli.data.labels import MAX_LABEL_CLASSES
from vaecli.io.atomic import timestamp, write_text_atomic
from vaecli.results import Result

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.runs.run import Run

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al.: variance of E[z_i|x] across data points
COVERAGE_BOXES = (1.0, 2.0, 5.0, 10.0)  # B of the positive boxes 0 < z_i < B whose coverage is reported
NORM_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def active_units(z_mean: np.ndarray, threshold: float = ACTIVE_UNIT_THRESHOLD) -> np.ndarray:
    """Indices of the dimensions whose z_mean varies across data points by more than threshold."""
    variance = np.var(np.asarray(z_mean, np.float64), axis=0)
    return np.flatnonzero(variance > threshold)


def kl_terms(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """(N, z_dim) KL of each posterior dimension of each point from N(0, 1), in nats, float64.

    The NumPy twin of vaecli.losses.kl_divergence (which sums these over dimensions in TF).
    """
    mean = np.asarray(z_mean, np.float64)
    log_var = np.asarray(z_log_var, np.float64)
    return 0.5 * (mean**2 + np.exp(log_var) - 1.0 - log_var)


def kl_per_dimension(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """(z_dim,) KL of each posterior dimension from N(0, 1), in nats, averaged over data points."""
    return np.mean(kl_terms(z_mean, z_log_var), axis=0)


def effective_rank(singular_values: np.ndarray) -> float:
    """exp(entropy of the normalised singular values); 0 for an all-zero spectrum."""
    values = np.asarray(singular_values, np.float64)
    total = values.sum()
    if total <= 0:
        return 0.0
    weights = values[values > 0] / total
    return float(np.exp(-np.sum(weights * np.log(weights))))


def pca_spectrum(z_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(singular values, principal axes as rows) of the centred z_mean matrix."""
    centred = np.asarray(z_mean, np.float64) - np.mean(z_mean, axis=0)
    _, singular_values, axes = np.linalg.svd(centred, full_matrices=False)
    return singular_values, axes


def components_for(explained: np.ndarray, fraction: float) -> int:
    """How many leading principal components explain at least `fraction` of the variance."""
    if explained.sum() == 0:
        return 0
    return int(np.searchsorted(np.cumsum(explained), fraction - 1e-12) + 1)


def _quantiles(values: np.ndarray) -> dict[str, float]:
    summary = {"mean": float(np.mean(values)), "std": float(np.std(values))}
    summary.update({f"q{round(q * 100):02d}": float(np.quantile(values, q)) for q in NORM_QUANTILES})
    return summary


def box_fraction(z: np.ndarray, boundary: float) -> dict[str, float]:
    """Fractions of points with every component inside 0 < z_i < boundary, and of single components.

    In many dimensions almost no point is inside (each sign is a coin flip), while most of its
    components may be: the second number says how far off the box the encodings are.
    """
    inside = (z > 0) & (z < boundary)
    return {"points": float(np.mean(np.all(inside, axis=1))), "components": float(np.mean(inside))}


def prior_norms(count: int, z_dim: int, seed: int) -> np.ndarray:
    """||z|| of count N(0, I) samples drawn with seed: the reference the encoded norms are shown against."""
    return np.linalg.norm(np.random.default_rng(seed).standard_normal((count, z_dim)), axis=1)


def latent_statistics(
    z_mean: np.ndarray, z_log_var: np.ndarray | None = None, boxes: tuple[float, ...] = COVERAGE_BOXES, seed: int = 0
) -> dict:
    """Everything `vae latent-stats` reports, as JSON-ready numbers (see the module docstring).

    z_log_var is None for an AE: posterior variance and KL are then reported as None.
    The prior norms come from as many N(0, I) samples as there are points, drawn with seed.
    """
    z_mean = np.asarray(z_mean, np.float64)
    count, z_dim = z_mean.shape
    variance = np.var(z_mean, axis=0)
    active = active_units(z_mean)
    singular_values, _ = pca_spectrum(z_mean)
    explained = singular_values**2 / max(float(np.sum(singular_values**2)), 1e-300)
    statistics = {
        "num_points": int(count),
        "z_dim": int(z_dim),
        "mean": np.mean(z_mean, axis=0).tolist(),
        "variance": variance.tolist(),
        "active_units": {"count": int(len(active)), "threshold": ACTIVE_UNIT_THRESHOLD, "dimensions": active.tolist()},
        "posterior_variance": None,
        "kl_per_dimension": None,
        "kl_total": None,
        "norm": {
            "encoded": _quantiles(np.linalg.norm(z_mean, axis=1)),
            "prior": _quantiles(prior_norms(count, z_dim, seed)),
            "prior_seed": seed,
        },
        "box_fraction": {format(boundary, "g"): box_fraction(z_mean, boundary) for boundary in boxes},
        "pca": {
            "singular_values": singular_values.tolist(),
            "explained_variance": explained.tolist(),
            "effective_rank": effective_rank(singular_values),
            "components_for_90_percent": components_for(explained, 0.90),
            "components_for_99_percent": components_for(explained, 0.99),
        },
    }
    if z_log_var is not None:
        kl = kl_per_dimension(z_mean, z_log_var)
        statistics["posterior_variance"] = np.mean(np.exp(np.asarray(z_log_var, np.float64)), axis=0).tolist()
        statistics["kl_per_dimension"] = kl.tolist()
        statistics["kl_total"] = float(kl.sum())
    return statistics


def dimensions_by_information(z_mean: np.ndarray, z_log_var: np.ndarray | None) -> tuple[np.ndarray, str]:
    """All dimensions, most informative first, and what ranked them.

    A VAE ranks by KL (nats each dimension carries); an AE has no posterior, so the variance
    of z_mean across data stands in (the active-unit measure).
    """
    if z_log_var is not None:
        return np.argsort(-kl_per_dimension(z_mean, z_log_var), kind="stable"), "KL"
    return np.argsort(-np.var(np.asarray(z_mean, np.float64), axis=0), kind="stable"), "variance of z_mean"


# ------------------------------------------------------------------------------ the command

HISTOGRAM_DIMENSIONS = 16  # panels in dimensions.png: the most informative dimensions first


def colouring_label(labels: dict[str, np.ndarray]) -> tuple[str | None, np.ndarray | None]:
    """The class label if the data set has one, else the integer attribute with the most classes
    (hair_colour of the synthetic faces), else none."""
    candidates = {
        name: np.asarray(values)
        for name, values in labels.items()
        if np.issubdtype(np.asarray(values).dtype, np.integer) and len(np.unique(values)) <= MAX_LABEL_CLASSES
    }
    if not candidates:
        return None, None
    name = "label" if "label" in candidates else max(candidates, key=lambda key: len(np.unique(candidates[key])))
    return name, candidates[name]


@dataclass
class LatentStats(Result):
    split: str
    statistics: dict  # every number of stats.json (definitions in the module docstring)
    z_mean: np.ndarray  # (N, z_dim) the encodings measured
    z_log_var: np.ndarray | None  # None for an AE
    labels: dict[str, np.ndarray]  # the split's labels, row by row


def latent_stats(
    run: Run,
    split: str = "test",
    *,
    limit: int | None = None,
    boundaries: Sequence[float] = COVERAGE_BOXES,
    seed: int = 0,
    save: bool = True,
    out: str | Path | None = None,
    console: Console | None = None,
) -> LatentStats:
    """Statistics of the encoded split (`vae latent-stats`): LatentStats, its numbers in .statistics.

    boundaries: B of the boxes 0 < z_i < B whose coverage is reported. Writes RUN/latent_stats/ (stats.json and
    three PNG plots) unless save is False.

    Example:
        >>> stats = run.latent_stats(save=False)
        >>> stats.statistics["active_units"]["count"]
        30
    """
    boxes = tuple(float(value) for value in boundaries)
    from vaecli.runs.run import encode_with_progress, load_split

    chosen, _, fingerprint, warnings = load_split(run, split, limit)
    z_mean, z_log_var = encode_with_progress(run, chosen.images, console, f"encoding {split}")
    statistics = latent_statistics(z_mean, z_log_var, boxes=boxes, seed=seed)
    order, measure = dimensions_by_information(z_mean, z_log_var)
    statistics["dimensions_by_information"] = {"measure": measure, "order": order.tolist()}
    statistics["provenance"] = {
        **run.provenance(),
        "split": split,
        "dataset_fingerprint": fingerprint,
        "limit": limit,
        "created": timestamp(),
    }
    result = LatentStats(split, statistics, z_mean, z_log_var, chosen.labels, warnings=warnings)
    result.summary = (
        f"Latent statistics of {len(z_mean):,} {split} images of {run.paths.root}: "
        f"{statistics['active_units']['count']}/{run.z_dim} active units, effective rank "
        f"{statistics['pca']['effective_rank']:.1f}"
    )
    if save:
        _save(run, result, Path(out) if out is not None else run.paths.latent_stats, seed)
    return result


def _save(run: Run, result: LatentStats, folder: Path, seed: int) -> None:
    from vaecli.data.sources import SOURCES
    from vaecli.figures import dimension_histograms, kl_spectrum, norm_histogram, pca_figure

    statistics, z_mean = result.statistics, result.z_mean
    stats_file = write_text_atomic(folder / "stats.json", json.dumps(statistics, indent=2) + "\n")
    name = f"{run.paths.name} ({run.config.model.kind}, {result.split}, {len(z_mean):,} images)"
    order, measure = (
        statistics["dimensions_by_information"]["order"],
        statistics["dimensions_by_information"]["measure"],
    )
    shown = sorted(int(dimension) for dimension in order[:HISTOGRAM_DIMENSIONS])
    figures = [
        dimension_histograms(
            folder / "dimensions.png",
            z_mean,
            shown,
            f"{name}: z_mean per dimension"
            + (f" ({len(shown)} with the most {measure})" if len(order) > len(shown) else ""),
        ),
        norm_histogram(
            folder / "norms.png",
            np.linalg.norm(z_mean, axis=1),
            prior_norms(len(z_mean), z_mean.shape[1], seed),
            f"{name}: norms",
        ),
    ]
    _, axes = pca_spectrum(z_mean)
    projected = (z_mean - z_mean.mean(axis=0)) @ axes[:2].T
    label_name, labels = colouring_label(result.labels)
    figures.append(
        pca_figure(
            folder / "pca.png",
            projected,
            np.asarray(statistics["pca"]["explained_variance"]),
            labels,
            label_name,
            SOURCES[run.config.data.source].label_names if label_name == "label" else (),
            f"{name}: PCA of z_mean",
        )
    )
    if statistics["kl_per_dimension"] is not None:
        spectrum = np.asarray(statistics["kl_per_dimension"])
        figures.append(kl_spectrum(folder / "kl_spectrum.png", {run.paths.name: spectrum}, f"{name}: KL spectrum"))
    result.files = [stats_file, *figures]
    result.summary += f" -> {stats_file} (+ {', '.join(figure.name for figure in figures)})"
