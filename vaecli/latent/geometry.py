"""Latent-space geometry on NumPy arrays: sampling regions, interpolation paths, traversal grids.

No TensorFlow here: everything is a pure function of its arguments (and a seed), so each is
unit-tested on constructed arrays and gives the same points on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np

from vaecli.errors import LatentError

if TYPE_CHECKING:
    import numpy.typing as npt

# ----------------------------------------------------------------------------------- regions


def _inside_open_interval(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip float32 values into the open interval (low, high).

    Rounding u * B to float32 can land exactly on B (or 0); the promise is a strict inequality.
    """
    smallest = np.nextafter(np.float32(low), np.float32(high))
    largest = np.nextafter(np.float32(high), np.float32(low))
    return np.clip(values, smallest, largest)


def _box(rng: np.random.Generator, shape: tuple[int, int], boundary: float) -> np.ndarray:
    """0 < z_i < B: the positive box of the classic "random points in an AE's latent space" test."""
    return _inside_open_interval(rng.uniform(0.0, boundary, shape).astype(np.float32), 0.0, boundary)


def _symmetric(rng: np.random.Generator, shape: tuple[int, int], boundary: float) -> np.ndarray:
    """-B < z_i < B."""
    return _inside_open_interval(rng.uniform(-boundary, boundary, shape).astype(np.float32), -boundary, boundary)


def _sphere(rng: np.random.Generator, shape: tuple[int, int], radius: float) -> np.ndarray:
    """||z|| = R with a uniform direction (a normalised Gaussian is uniform on the sphere)."""
    directions = rng.standard_normal(shape)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return (radius * directions).astype(np.float32)


def _prior(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """N(0, s^2 I): the VAE prior when s = 1."""
    return (scale * rng.standard_normal(shape)).astype(np.float32)


@dataclass(frozen=True)
class Region:
    draw: Callable[[np.random.Generator, tuple[int, int], float], np.ndarray]
    symbol: str  # the parameter's letter in file names and labels: box_B10, sphere_R5, prior_s1
    description: str  # with {p} for the parameter, for figure titles and summaries


REGIONS: dict[str, Region] = {
    "box": Region(_box, "B", "uniform in 0 < z_i < {p}"),
    "symmetric": Region(_symmetric, "B", "uniform in -{p} < z_i < {p}"),
    "sphere": Region(_sphere, "R", "uniform on the sphere ||z|| = {p}"),
    "prior": Region(_prior, "s", "N(0, {p}^2 I)"),
}


def parameter_text(value: float) -> str:
    """Short, file-name-safe text for a parameter: 10.0 -> '10', 0.5 -> '0.5', 1e-4 -> '0.0001'."""
    return f"{value:g}" if abs(value) >= 1e-4 else f"{value:.3g}"


def region_label(kind: str, parameter: float) -> str:
    """'B=10', 'R=5', 's=1': the row label of a multi-parameter figure."""
    return f"{REGIONS[kind].symbol}={parameter_text(parameter)}"


def sample_region(kind: str, parameter: float, n: int, z_dim: int, seed: int) -> np.ndarray:
    """n points (n, z_dim) float32 from a named region; the same arguments give the same points."""
    if kind not in REGIONS:
        raise LatentError(f"unknown latent region {kind!r} (known: {', '.join(REGIONS)})")
    if not math.isfinite(parameter) or parameter <= 0:
        symbol = REGIONS[kind].symbol
        raise LatentError(f"the {kind} region needs a positive, finite {symbol}, got {parameter:g}")
    if n < 1 or z_dim < 1:
        raise LatentError(f"need at least one point and one dimension (got n={n}, z_dim={z_dim})")
    return REGIONS[kind].draw(np.random.default_rng(seed), (n, z_dim), float(parameter))


FLOAT32_MAX = float(np.finfo(np.float32).max)  # latent points are float32: larger values become inf


def parse_parameters(text: str) -> list[float]:
    """'0.5,2.5,5' -> [0.5, 2.5, 5.0] for --boundary; a clear error for anything else (also a value that is
    not positive, or that float32, the type of latent points, cannot hold)."""
    values = []
    shown = text if len(text) <= 80 else text[:75] + " ..."
    for item in text.split(","):
        where = f" (in {shown!r})" if "," in text else ""
        try:
            value = float(item)
        except ValueError:
            raise LatentError(f"{shown!r}: expected positive numbers separated by commas, e.g. 0.5,2.5,10") from None
        if not math.isfinite(value) or value <= 0:
            raise LatentError(f"{item.strip()[:40]} is not a positive number{where}; expected e.g. 0.5,2.5,10")
        if value > FLOAT32_MAX:
            raise LatentError(
                f"{item.strip()[:40]}{where} is beyond the range of float32 ({FLOAT32_MAX:.3g}), the type of "
                f"latent points"
            )
        values.append(value)
    return values


# ------------------------------------------------------------------------------ interpolation


def _as_vector(point: npt.ArrayLike) -> np.ndarray:
    vector = np.asarray(point, dtype=np.float64)
    if vector.ndim != 1:
        raise LatentError(f"an interpolation end point must be one latent vector, got shape {vector.shape}")
    return vector


def lerp(start: npt.ArrayLike, end: npt.ArrayLike, steps: int) -> np.ndarray:
    """steps points on the straight line from start to end; the first and last equal them exactly."""
    start, end = _as_vector(start), _as_vector(end)
    if steps < 2:
        raise LatentError(f"an interpolation needs at least 2 steps, got {steps}")
    fractions = np.linspace(0.0, 1.0, steps)[:, None]
    path = (1.0 - fractions) * start + fractions * end
    path[0], path[-1] = start, end
    return path.astype(np.float32)


# Below this sin(angle) the great circle is undefined (parallel or opposite vectors); lerp is used.
SLERP_PARALLEL_TOLERANCE = 1e-6


def slerp(start: npt.ArrayLike, end: npt.ArrayLike, steps: int) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985): equal steps in angle between the two directions.

    With equal norms the path is the great circle, walked at constant angular speed, and every
    point keeps that norm (the point of slerp in a Gaussian latent space, where a straight line
    dips towards the low-density centre). With unequal norms the points are the same weighted
    sums of the two vectors, so the norm varies along the path and the speed is not constant.
    For near-parallel or opposite vectors the circle is not defined and the straight line is
    returned instead.
    """
    start, end = _as_vector(start), _as_vector(end)
    if steps < 2:
        raise LatentError(f"an interpolation needs at least 2 steps, got {steps}")
    norms = np.linalg.norm(start) * np.linalg.norm(end)
    if norms == 0:
        return lerp(start, end, steps)
    cosine = np.clip(np.dot(start, end) / norms, -1.0, 1.0)
    angle = np.arccos(cosine)
    if np.sin(angle) < SLERP_PARALLEL_TOLERANCE:
        return lerp(start, end, steps)
    fractions = np.linspace(0.0, 1.0, steps)[:, None]
    path = (np.sin((1.0 - fractions) * angle) * start + np.sin(fractions * angle) * end) / np.sin(angle)
    path[0], path[-1] = start, end
    return path.astype(np.float32)


INTERPOLATIONS: dict[str, Callable[..., np.ndarray]] = {"linear": lerp, "slerp": slerp}


# ---------------------------------------------------------------------------------- traversal


def parse_dimensions(text: str, z_dim: int) -> list[int]:
    """'0,3,8-11' -> [0, 3, 8, 9, 10, 11]: latent dimensions, each checked against z_dim."""
    dimensions: list[int] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        low, dash, high = item.partition("-")
        try:
            chunk = list(range(int(low), int(high) + 1)) if dash else [int(low)]
        except ValueError:
            raise LatentError(f"dims {text!r}: expected dimensions like 0,3,8-11", arguments=("dims",)) from None
        dimensions += chunk
    if not dimensions:
        raise LatentError(f"dims {text!r}: no dimensions given", arguments=("dims",))
    outside = [dimension for dimension in dimensions if not 0 <= dimension < z_dim]
    if outside:
        raise LatentError(
            f"dims {text!r}: dimension {outside[0]} is outside 0..{z_dim - 1} (z_dim {z_dim})", arguments=("dims",)
        )
    return list(dict.fromkeys(dimensions))  # drop repeats, keep order


def parse_range(text: str) -> tuple[float, float]:
    """'-3:3' -> (-3.0, 3.0) for --range."""
    low, colon, high = text.partition(":")
    try:
        values = (float(low), float(high)) if colon else None
    except ValueError:
        values = None
    if values is None or not all(map(math.isfinite, values)) or values[0] >= values[1]:
        raise LatentError(f"value_range {text!r}: expected LO:HI with LO < HI, e.g. -3:3", arguments=("value_range",))
    return values


def group_dimensions(dimensions: list[int], block: int) -> list[tuple[int, ...]]:
    """Consecutive groups of `block` dimensions (the last may be smaller): one traversal row each."""
    if block < 1:
        raise LatentError(f"block must be at least 1, got {block}", arguments=("block",))
    return [tuple(dimensions[start : start + block]) for start in range(0, len(dimensions), block)]


def traversal_grid(centre: npt.ArrayLike, blocks: list[tuple[int, ...]], offsets: npt.ArrayLike) -> np.ndarray:
    """(rows, steps, z_dim): row r is centre with offset added to every dimension of blocks[r].

    Offsets are added to the encoding (not written over it), so an offset of 0 decodes the
    encoded image itself: the grid shows the neighbourhood of that point.
    """
    centre = _as_vector(centre)
    offsets = np.asarray(offsets, dtype=np.float64)
    grid = np.repeat(np.repeat(centre[None, None, :], len(blocks), axis=0), len(offsets), axis=1)
    for row, block in enumerate(blocks):
        grid[row][:, list(block)] += offsets[:, None]
    return grid.astype(np.float32)


def block_label(block: tuple[int, ...]) -> str:
    """'z5' for one dimension, 'z4-7' for a consecutive block, 'z1,5,9' otherwise."""
    if len(block) == 1:
        return f"z{block[0]}"
    if list(block) == list(range(block[0], block[0] + len(block))):
        return f"z{block[0]}-{block[-1]}"
    return "z" + ",".join(map(str, block))


def sample_posterior(z_mean: np.ndarray, z_log_var: np.ndarray, seed: int) -> np.ndarray:
    """z = z_mean + exp(z_log_var / 2) * eps, eps ~ N(0, I) from seed: one draw per encoded image."""
    noise = np.random.default_rng(seed).standard_normal(np.shape(z_mean))
    return (z_mean + np.exp(0.5 * np.asarray(z_log_var, np.float64)) * noise).astype(np.float32)
