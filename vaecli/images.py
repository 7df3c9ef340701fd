"""Image grids and PNG writing (atomic)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from vaecli.atomic import atomic_path


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] (or uint8) -> uint8."""
    if images.dtype == np.uint8:
        return images
    return (np.clip(images, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def make_grid(images: np.ndarray, columns: int | None = None, padding: int = 2, fill: int = 255) -> np.ndarray:
    """Tile (N, H, W, C) images into one (rows*H', columns*W', C) uint8 picture, row by row."""
    images = to_uint8(np.asarray(images))
    count, height, width, channels = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    grid = np.full(
        (rows * (height + padding) + padding, columns * (width + padding) + padding, channels), fill, np.uint8
    )
    for index, image in enumerate(images):
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        grid[top : top + height, left : left + width] = image
    return grid


def enlarge_small(picture: np.ndarray, cell_size: int, min_cell: int = 64) -> np.ndarray:
    """Repeat pixels so cells of cell_size pixels show at least min_cell pixels wide (28 px digits stay legible)."""
    factor = max(1, min_cell // cell_size)
    return picture if factor == 1 else np.repeat(np.repeat(picture, factor, axis=0), factor, axis=1)


def save_png(path: Path, picture: np.ndarray) -> Path:
    picture = to_uint8(picture)
    if picture.ndim == 3 and picture.shape[-1] == 1:
        picture = picture[..., 0]
    with atomic_path(path, suffix=".png") as temporary:
        Image.fromarray(picture).save(temporary, format="PNG")
    return path


def interleave_row_groups(groups: list[np.ndarray], columns: int) -> np.ndarray:
    """Rows of `columns` images taken in turn from each group: a, b, (c,) a, b, (c,) ..."""
    pieces = []
    for start in range(0, len(groups[0]), columns):
        pieces += [to_uint8(group[start : start + columns]) for group in groups]
    return np.concatenate(pieces)
