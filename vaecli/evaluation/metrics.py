"""Evaluation metrics on plain NumPy arrays: no TensorFlow, each tested on hand-computed cases.

- Improved precision and recall (Kynkaanniemi et al. 2019, "Improved Precision and Recall
  Metric for Assessing Generative Models"): each set of feature vectors defines a manifold,
  the union of balls around its points whose radius is the distance to the point's k-th
  nearest neighbour in its own set (k = 3, the point itself excluded). Precision is the
  fraction of generated points inside the real manifold (are samples plausible?); recall the
  fraction of real points inside the generated manifold (is the data covered?).
- Frechet distance (Heusel et al. 2017; "FID" in Inception space): the 2-Wasserstein distance
  between Gaussians fitted to two feature sets,
  ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)).
- The importance-weighted bound (Burda et al. 2016): log (1/K) sum_k w_k, w_k = p(x, z_k) / q(z_k | x).
- bits/dim: nats / (H * W * C * ln 2).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

NEAREST_NEIGHBOURS = 3  # k of Kynkaanniemi et al.: their recommended value
DISTANCE_CHUNK_ELEMENTS = 1 << 22  # doubles per block of the distance matrix (32 MiB): bounded memory


def _row_chunk(num_columns: int) -> int:
    return max(1, DISTANCE_CHUNK_ELEMENTS // max(1, num_columns))


def _squared_distances(rows: np.ndarray, columns: np.ndarray, column_norms: np.ndarray) -> np.ndarray:
    """||a - b||^2 for every pair, through the dot product (clipped: rounding can make it slightly < 0)."""
    squared = np.sum(rows**2, axis=1)[:, None] + column_norms[None, :] - 2.0 * rows @ columns.T
    return np.maximum(squared, 0.0)


def nearest_neighbour_radii(features: np.ndarray, k: int = NEAREST_NEIGHBOURS) -> np.ndarray:
    """(N,) distance from each point to its k-th nearest neighbour in the same set, itself excluded."""
    features = np.asarray(features, np.float64)
    count = len(features)
    if not 1 <= k < count:
        raise ValueError(f"k-NN radii need 1 <= k < number of points (k={k}, {count} points)")
    norms = np.sum(features**2, axis=1)
    radii = np.empty(count)
    step = _row_chunk(count)
    for start in range(0, count, step):
        stop = min(start + step, count)
        squared = _squared_distances(features[start:stop], features, norms)
        # Exclude each point itself by position (not by zero distance), so duplicates still count.
        squared[np.arange(stop - start), np.arange(start, stop)] = np.inf
        radii[start:stop] = np.sqrt(np.partition(squared, k - 1, axis=1)[:, k - 1])
    return radii


def manifold_coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> float:
    """Fraction of points inside at least one ball (centre_j, radius_j); a point on the boundary counts."""
    points, centres = np.asarray(points, np.float64), np.asarray(centres, np.float64)
    centre_norms = np.sum(centres**2, axis=1)
    squared_radii = np.asarray(radii, np.float64) ** 2
    inside = 0
    step = _row_chunk(len(centres))
    for start in range(0, len(points), step):
        squared = _squared_distances(points[start : start + step], centres, centre_norms)
        # A relative tolerance absorbs the rounding of the dot-product form for points on a boundary.
        inside += int(np.sum(np.any(squared <= squared_radii[None, :] * (1 + 1e-9) + 1e-12, axis=1)))
    return inside / len(points)


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = NEAREST_NEIGHBOURS) -> tuple[float, float]:
    """(precision, recall) of generated feature vectors against real ones (Kynkaanniemi et al. 2019)."""
    real, generated = np.asarray(real, np.float64), np.asarray(generated, np.float64)
    precision = manifold_coverage(generated, real, nearest_neighbour_radii(real, k))
    recall = manifold_coverage(real, generated, nearest_neighbour_radii(generated, k))
    return precision, recall


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix (tiny negative eigenvalues from rounding -> 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance_from_moments(
    mean_1: npt.ArrayLike, covariance_1: npt.ArrayLike, mean_2: npt.ArrayLike, covariance_2: npt.ArrayLike
) -> float:
    """||mu_1 - mu_2||^2 + Tr(S_1) + Tr(S_2) - 2 Tr((S_1 S_2)^(1/2)).

    Tr((S_1 S_2)^(1/2)) equals the sum of the square roots of the eigenvalues of the symmetric
    matrix S_1^(1/2) S_2 S_1^(1/2) (similar to S_1 S_2), so two symmetric eigendecompositions
    replace scipy.linalg.sqrtm and its complex round-off.
    """
    mean_1, mean_2 = np.asarray(mean_1, np.float64), np.asarray(mean_2, np.float64)
    covariance_1 = np.atleast_2d(np.asarray(covariance_1, np.float64))
    covariance_2 = np.atleast_2d(np.asarray(covariance_2, np.float64))
    root_1 = _symmetric_sqrt(covariance_1)
    middle = root_1 @ covariance_2 @ root_1
    trace_of_root = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None))))
    distance = float(
        np.sum((mean_1 - mean_2) ** 2) + np.trace(covariance_1) + np.trace(covariance_2) - 2.0 * trace_of_root
    )
    return max(distance, 0.0)  # round-off can leave -1e-12 for identical sets


def frechet_distance(features_1: np.ndarray, features_2: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets (unbiased covariances, as FID)."""
    features_1, features_2 = np.asarray(features_1, np.float64), np.asarray(features_2, np.float64)
    return frechet_distance_from_moments(
        features_1.mean(axis=0),
        np.cov(features_1, rowvar=False),
        features_2.mean(axis=0),
        np.cov(features_2, rowvar=False),
    )


def log_mean_exp(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(mean(exp(values))) along axis, without overflow."""
    values = np.asarray(values, np.float64)
    largest = np.max(values, axis=axis, keepdims=True)
    return np.squeeze(largest, axis) + np.log(np.mean(np.exp(values - largest), axis=axis))


def importance_weighted_bound(log_weights: np.ndarray) -> np.ndarray:
    """(N,) IWAE bound log (1/K) sum_k w_k from log w_k = log p(x, z_k) - log q(z_k | x), shape (N, K)."""
    return log_mean_exp(log_weights, axis=-1)


def standard_normal_log_density(z: np.ndarray) -> np.ndarray:
    """log N(z; 0, I) summed over the last axis, in nats."""
    z = np.asarray(z, np.float64)
    return -0.5 * np.sum(z**2 + math.log(2 * math.pi), axis=-1)


def diagonal_normal_log_density(z: np.ndarray, mean: np.ndarray, log_variance: np.ndarray) -> np.ndarray:
    """log N(z; mean, diag(exp(log_variance))) summed over the last axis, in nats."""
    z, mean, log_variance = (np.asarray(value, np.float64) for value in (z, mean, log_variance))
    return -0.5 * np.sum((z - mean) ** 2 * np.exp(-log_variance) + log_variance + math.log(2 * math.pi), axis=-1)


def bits_per_dimension(nats: float, image_shape: tuple[int, ...]) -> float:
    """Nats per image -> bits per pixel value: nats / (H * W * C * ln 2)."""
    return float(nats) / (math.prod(image_shape) * math.log(2))


PIXEL_LEVELS = 256  # 8-bit data


def discretised_bits_per_dimension(density_nats: float, image_shape: tuple[int, ...]) -> float:
    """-log p(x) of a density over pixel values in [0, 1] (nats per image) -> bits per dimension of 8-bit data.

    The standard convention of continuous models of 8-bit images (Theis et al. 2016; RealNVP, Glow):
    each value's probability is its density times the bin width 1/256, so
    bits/dim = (-log p(x) + D ln 256) / (D ln 2), i.e. the density's bits/dim + 8. Unlike a raw
    density's figure it cannot be negative, and it is comparable with a discrete model's bits/dim.
    """
    values = math.prod(image_shape)
    return (float(density_nats) + values * math.log(PIXEL_LEVELS)) / (values * math.log(2))
