"""Every matplotlib figure vaecli draws, each written atomically as a PNG (no pyplot, no global state).

Plain image grids go through vaecli.images; this module is for pictures that need words or
axes: a row per boundary or per latent dimension, the plots of `vae latent-stats`, the loss
curve of a run and the comparison plot of `vae compare`.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaecli.images import make_grid, to_uint8
from vaecli.io.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
MIN_DISPLAYED_PIXELS = 48  # small images (16x16, 28x28) are enlarged to at least this on screen


def _figure(**options):
    """A matplotlib Figure outside pyplot: no global backend or state is touched, so drawing files here
    leaves a notebook's inline plots alone, works over ssh and in CI, and needs no display."""
    from matplotlib.figure import Figure

    return Figure(**options)


def _save(figure: Figure, path: Path, dpi: int = DPI) -> Path:
    with atomic_path(Path(path), suffix=".png") as temporary:
        figure.savefig(temporary, format="png", dpi=dpi)
    return Path(path)


def _show(axis: Axes, picture: np.ndarray) -> None:
    picture = to_uint8(picture)
    if picture.shape[-1] == 1:
        axis.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        axis.imshow(picture, interpolation="nearest")


def labelled_rows(
    path: Path, rows: list[np.ndarray], row_labels: list[str], title: str = "", column_labels: list[str] | None = None
) -> Path:
    """One strip of images per row, its label on the left; optional labels above the columns.

    rows: each (count, H, W, C) float in [0, 1] or uint8; every row has the same count.
    """
    count, height, width, _ = np.shape(rows[0])
    scale = max(1.0, MIN_DISPLAYED_PIXELS / max(height, width))
    strips = [make_grid(row, columns=count) for row in rows]
    strip_height, strip_width = strips[0].shape[:2]
    label_inches, margin_inches = 0.9, 0.1
    figure_width = strip_width * scale / DPI + label_inches + margin_inches
    # Wrap the title to the figure (about 8 pixels per character at fontsize 10).
    title_lines = textwrap.wrap(title, width=max(30, int(figure_width * DPI / 8)))
    title_inches = 0.1 + 0.2 * len(title_lines) + (0.15 if title_lines else 0.0) + (0.25 if column_labels else 0.0)
    row_inches = strip_height * scale / DPI
    figure = _figure(figsize=(figure_width, row_inches * len(rows) + title_inches + 0.1))
    figure_height = figure.get_figheight()
    for row_number, (strip, label) in enumerate(zip(strips, row_labels)):
        top = (title_inches + row_number * row_inches) / figure_height
        axis = figure.add_axes(
            (
                label_inches / figure_width,
                1.0 - top - row_inches / figure_height,
                1.0 - (label_inches + margin_inches) / figure_width,
                row_inches / figure_height,
            )
        )
        _show(axis, strip)
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        if row_number == 0 and column_labels:
            centres = [2 + index * (width + 2) + width / 2 for index in range(count)]
            axis.set_xticks(centres, column_labels, fontsize=7)
            axis.xaxis.tick_top()
    if title_lines:
        figure.suptitle("\n".join(title_lines), fontsize=10, y=1.0 - 0.05 / figure_height, va="top")
    return _save(figure, path)


def dimension_histograms(path: Path, z_mean: np.ndarray, dimensions: list[int], title: str) -> Path:
    """Histogram of z_mean per dimension (density) against the N(0, 1) prior density."""
    columns = min(4, len(dimensions))
    rows = math.ceil(len(dimensions) / columns)
    figure = _figure(figsize=(3.0 * columns, 2.2 * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    grid = np.linspace(-4, 4, 200)
    prior = np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi)
    for axis, dimension in zip(axes.flat, dimensions):
        axis.hist(z_mean[:, dimension], bins=40, density=True, alpha=0.7, label="z_mean")
        axis.plot(grid, prior, color="black", linewidth=1, label="N(0, 1)")
        axis.set_title(f"z{dimension}", fontsize=9)
        axis.tick_params(labelsize=7)
    for axis in list(axes.flat)[len(dimensions) :]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def norm_histogram(path: Path, encoded_norms: np.ndarray, prior_norms: np.ndarray, title: str) -> Path:
    """||z_mean|| of the data against ||z|| of as many N(0, I) samples."""
    figure = _figure(figsize=(6, 3.5))
    axis = figure.subplots()
    bins = np.histogram_bin_edges(np.concatenate([encoded_norms, prior_norms]), bins=60)
    axis.hist(encoded_norms, bins=bins, alpha=0.6, label="encoded ||z_mean||")
    axis.hist(prior_norms, bins=bins, alpha=0.6, label="prior N(0, I) ||z||")
    axis.set_xlabel("Euclidean norm")
    axis.set_ylabel("points")
    axis.legend(fontsize=8)
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def pca_figure(
    path: Path,
    projected: np.ndarray,
    explained: np.ndarray,
    labels: np.ndarray | None,
    label_name: str | None,
    class_names: tuple[str, ...] = (),
    title: str = "",
) -> Path:
    """Left: the first two principal components (coloured by label if any); right: the spectrum."""
    figure = _figure(figsize=(11, 4.2))
    scatter_axis, spectrum_axis = figure.subplots(1, 2)
    second = projected[:, 1] if projected.shape[1] > 1 else np.zeros(len(projected))
    if labels is None:
        scatter_axis.scatter(projected[:, 0], second, s=4, alpha=0.6)
    else:
        for value in np.unique(labels):
            chosen = labels == value
            name = class_names[int(value)] if class_names and 0 <= int(value) < len(class_names) else str(value)
            scatter_axis.scatter(projected[chosen, 0], second[chosen], s=4, alpha=0.6, label=name)
        scatter_axis.legend(title=label_name, fontsize=7, markerscale=3, loc="best")
    scatter_axis.set_xlabel(f"PC1 ({100 * explained[0]:.1f}% of variance)")
    scatter_axis.set_ylabel(f"PC2 ({100 * explained[1]:.1f}%)" if len(explained) > 1 else "PC2")
    components = np.arange(1, len(explained) + 1)
    spectrum_axis.bar(components, explained, label="per component")
    spectrum_axis.plot(components, np.cumsum(explained), color="black", marker=".", label="cumulative")
    spectrum_axis.set_xlabel("principal component")
    spectrum_axis.set_ylabel("fraction of variance")
    spectrum_axis.legend(fontsize=8)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def _value_and_error(row: dict, key: str) -> tuple[float | None, float]:
    """A row's value and its error bar (the sd of an aggregated row, else 0)."""
    return row.get(key), row.get(f"{key}_sd") or 0.0


def _rate_distortion(axis: Axes, rows: list[dict]) -> None:
    for row in rows:
        rate, rate_error = _value_and_error(row, "val_kl_loss" if row.get("val_kl_loss") is not None else "kl_loss")
        key = "val_reconstruction_loss" if row.get("val_reconstruction_loss") is not None else "reconstruction_loss"
        distortion, distortion_error = _value_and_error(row, key)
        if rate is not None and distortion is not None:
            axis.errorbar(rate, distortion, xerr=rate_error, yerr=distortion_error, marker="o", capsize=3)
            axis.annotate(row["run"], (rate, distortion), fontsize=7, xytext=(3, 3), textcoords="offset points")
    axis.set(
        xlabel="KL (rate), nats per image",
        ylabel="reconstruction (distortion), nats per image",
        title="rate-distortion (validation)",
    )


PLAUSIBILITY_KEYS = (
    ("precision_prior", "precision, prior N(0, I)"),
    ("best_box_precision", "precision, best box"),
    ("recall_prior", "recall, prior N(0, I)"),
)


def _plausibility(axis: Axes, rows: list[dict]) -> None:
    """Against the KL factor when it varies (log axis), else one position per row (e.g. KL schedules)."""
    plotted = [row for row in rows if row.get("precision_prior") is not None and row.get("kl_factor")]
    by_factor = len({row["kl_factor"] for row in plotted}) > 1
    positions = {row["run"]: (row["kl_factor"] if by_factor else index) for index, row in enumerate(plotted)}
    for key, label in PLAUSIBILITY_KEYS:
        points = sorted(
            (positions[row["run"]], *_value_and_error(row, key)) for row in plotted if row.get(key) is not None
        )
        if points:
            x, y, error = zip(*points)
            style = "-" if by_factor else "none"  # categories are not a continuum: no lines between them
            axis.errorbar(x, y, yerr=error, marker="o", capsize=3, linestyle=style, label=label)
    spaces = sorted({row["features"] for row in plotted})
    title = f"plausibility of decoded samples ({', '.join(spaces) or 'not evaluated'} features)"
    axis.set(ylabel="fraction", ylim=(-0.02, 1.02), title=title)
    if by_factor:
        axis.set(xscale="log", xlabel="KL factor")
    else:
        axis.set_xticks(range(len(plotted)), [row["run"] for row in plotted], rotation=30, ha="right", fontsize=7)
    if plotted:
        axis.legend(fontsize=8)


def compare_plot(rows: list[dict], target: Path) -> Path:
    """Rate-distortion (validation KL against reconstruction) and plausibility against the KL factor.

    Rows aggregated over seeds (`vae compare --aggregate`) get error bars of one sample sd.
    """
    figure = _figure(figsize=(11, 4.2))
    rate_axis, precision_axis = figure.subplots(1, 2)
    _rate_distortion(rate_axis, rows)
    _plausibility(precision_axis, rows)
    for axis in (rate_axis, precision_axis):
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return _save(figure, Path(target))


def kl_spectrum(path: Path, spectra: dict[str, np.ndarray], title: str) -> Path:
    """Per-dimension KL sorted from largest to smallest, one line per label (a band: min to max over seeds).

    spectra: label -> (z_dim,) KL per dimension in nats, or (runs, z_dim) for several seeds (each
    run sorted on its own, then the mean drawn with a band). A log axis shows collapsed
    dimensions (KL near 0) and informative ones in one picture.
    """
    figure = _figure(figsize=(7.5, 4.2))
    axis = figure.subplots()
    for label, values in spectra.items():
        ordered = -np.sort(-np.atleast_2d(np.asarray(values, np.float64)), axis=1)
        ranks = np.arange(1, ordered.shape[1] + 1)
        floor = 1e-4  # nats: below this a dimension is drawn at the floor, the log axis has no zero
        (line,) = axis.plot(ranks, np.maximum(ordered.mean(axis=0), floor), label=label, linewidth=1.5)
        if len(ordered) > 1:
            low, high = np.maximum(ordered.min(axis=0), floor), np.maximum(ordered.max(axis=0), floor)
            axis.fill_between(ranks, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    axis.set(
        xlabel="latent dimension, sorted by KL", ylabel="KL(q(z_d|x) || N(0,1)), nats (mean over images)", yscale="log"
    )
    axis.set_title(title, fontsize=10)
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def loss_curve(path: Path, rows: list[dict]) -> Path:
    """Loss, reconstruction and KL per epoch (metrics.jsonl rows), train and validation, one panel each."""
    epochs = [row["epoch"] for row in rows]
    figure = _figure(figsize=(12, 3.4))
    axes = figure.subplots(1, 3)
    for axis, key in zip(axes, ("loss", "reconstruction_loss", "kl_loss")):
        axis.plot(epochs, [row[key] for row in rows], marker="o", label="train")
        if f"val_{key}" in rows[0]:
            axis.plot(epochs, [row[f"val_{key}"] for row in rows], marker="o", label="validation")
        axis.set_title(key)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    if "kl_penalty" in rows[0]:  # the KL term that entered the loss, beside the true KL
        axes[2].plot(epochs, [row["kl_penalty"] for row in rows], linestyle="--", label="kl_penalty (train)")
        axes[2].legend(fontsize=7)
    axes[0].legend()
    figure.tight_layout()
    return _save(figure, path, dpi=90)
