"""The figures of `vae factors` and `vae assay`: factor x dimension heat maps and response maps.

Drawn with vaecli.figures' Figure helpers (no pyplot), written atomically as PNGs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vaecli.figures import _figure, _save

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage


def _annotated_heat_map(axis: Axes, matrix: np.ndarray, vmax: float, colour_map: str) -> AxesImage:
    """matrix drawn with its values written in the cells (two decimals) where it is small enough to read."""
    image = axis.imshow(matrix, cmap=colour_map, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    if matrix.size <= 400:
        for (row, column), value in np.ndenumerate(matrix):
            colour = "white" if value > 0.6 * vmax else "black"
            axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=6, color=colour)
    return image


def importance_heat_map(
    path: Path, importance: np.ndarray, factor_names: Sequence[str], active: Sequence[int], title: str
) -> Path:
    """Factors (rows) x latent dimensions (columns): DCI importance R_dk, each factor's row summing to 1.

    Dimensions that are not active units (Var z_mean <= 0.01) get a grey tick label.
    """
    matrix = np.asarray(importance, np.float64).T  # (K, D)
    figure = _figure(figsize=(max(4.0, 0.45 * matrix.shape[1] + 2.5), max(2.5, 0.35 * matrix.shape[0] + 1.5)))
    axis = figure.subplots()
    image = _annotated_heat_map(axis, matrix, 1.0, "viridis")
    axis.set_xticks(range(matrix.shape[1]), [f"z{d}" for d in range(matrix.shape[1])], fontsize=7)
    for d, label in enumerate(axis.get_xticklabels()):
        label.set_color("black" if d in set(active) else "0.6")
    axis.set_yticks(range(matrix.shape[0]), list(factor_names), fontsize=7)
    axis.set_xlabel("latent dimension (grey: inactive unit)")
    figure.colorbar(image, ax=axis, label="importance (gradient-boosted trees)")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def response_matrix_figure(path: Path, matrix: np.ndarray, title: str) -> Path:
    """The latent response matrix M[i, j] (row: intervened dimension, column: responding dimension)."""
    matrix = np.asarray(matrix, np.float64)
    figure = _figure(figsize=(max(3.5, 0.45 * matrix.shape[1] + 2.0), max(3.0, 0.45 * matrix.shape[0] + 1.0)))
    axis = figure.subplots()
    image = _annotated_heat_map(axis, matrix, max(1e-9, float(matrix.max())), "magma_r")
    ticks = [f"z{d}" for d in range(matrix.shape[0])]
    axis.set_xticks(range(matrix.shape[1]), ticks, fontsize=7)
    axis.set_yticks(range(matrix.shape[0]), ticks, fontsize=7)
    axis.set(xlabel="responding dimension j (of the latent response)", ylabel="intervened dimension i")
    figure.colorbar(image, ax=axis, label="normalised response")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def response_map_figure(
    path: Path, maps: np.ndarray, extent: tuple[float, float, float, float], dims: tuple[int, int], title: str
) -> Path:
    """Response maps over a 2-D slice (maps (3, steps, steps), rows along dims[1], columns along dims[0]):
    the response distance ||r(z) - z||, the divergence of the response field, and the density of q(z)."""
    figure = _figure(figsize=(11.0, 3.4))
    axes = figure.subplots(1, 3)
    panels = (
        ("||r(z) - z||, latent units", "viridis", None),
        ("divergence of r(z) - z (blue: sink)", "coolwarm", float(np.max(np.abs(maps[1]))) or 1.0),
        ("aggregate posterior q(z), density", "Greys", None),
    )
    for axis, values, (label, colour_map, limit) in zip(axes, maps, panels):
        bounds = {} if limit is None else {"vmin": -limit, "vmax": limit}
        image = axis.imshow(values, origin="lower", extent=extent, aspect="auto", cmap=colour_map, **bounds)
        axis.set(xlabel=f"z{dims[0]}", ylabel=f"z{dims[1]}")
        axis.set_title(label, fontsize=8)
        figure.colorbar(image, ax=axis)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)


def response_matrices_figure(path: Path, matrices: dict[str, np.ndarray], title: str) -> Path:
    """Several latent response matrices side by side on one colour scale (label -> (z_dim, z_dim))."""
    figure = _figure(figsize=(2.6 * len(matrices) + 1.2, 3.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(matrices)))
    vmax = max(float(np.max(matrix)) for matrix in matrices.values()) or 1.0
    image = None
    for axis, (label, matrix) in zip(axes, matrices.items()):
        image = axis.imshow(matrix, cmap="magma_r", vmin=0.0, vmax=vmax, interpolation="nearest")
        axis.set_title(label, fontsize=8)
        axis.set(xlabel="responding j", ylabel="intervened i" if axis is axes[0] else "")
        axis.tick_params(labelsize=6)
    figure.colorbar(image, ax=list(axes), label="normalised response")
    figure.suptitle(title, fontsize=9)
    return _save(figure, path)
