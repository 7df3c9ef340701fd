"""Image grids and PNG writing (atomic)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from vaecli.errors import LatentError
from vaecli.io.atomic import atomic_path

FLOAT_TOLERANCE = 1e-6  # float images may stray this far outside [0, 1] (rounding of decoded images)


def checked_images(images: object, image_shape: tuple[int, int, int], name: str = "images") -> np.ndarray:
    """images as a (N, H, W, C) uint8 or float array the run can encode, or one LatentError sentence naming what
    was given and what the run expects: uint8 in 0..255, or float in [0, 1], finite, of the run's image shape."""
    if not isinstance(images, np.ndarray):
        try:
            images = np.asarray(images)
        except (ValueError, TypeError):
            raise LatentError(f"{name} must be an array of images, not a {type(images).__name__}") from None
    if images.ndim == 3:
        images = images[None]
    expected = "x".join(str(size) for size in image_shape)
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape):
        raise LatentError(
            f"{name} have shape {images.shape}; the run expects (N, {', '.join(map(str, image_shape))})"
            f" images ({expected}: height x width x channels)"
        )
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.floating):
        raise LatentError(
            f"{name} are {images.dtype}; the run expects uint8 images in 0..255 or float images in [0, 1]"
        )
    if not np.all(np.isfinite(images)):
        raise LatentError(f"{name} hold {int(np.sum(~np.isfinite(images)))} NaN or Inf value(s)")
    low, high = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
    if low < -FLOAT_TOLERANCE or high > 1 + FLOAT_TOLERANCE:
        hint = " (0..255 images: give them as uint8, or divide by 255)" if high > 1 else ""
        raise LatentError(f"float {name} must lie in [0, 1]; these span {low:g} to {high:g}{hint}")
    return images


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
