"""The evaluation metrics (pure NumPy) against hand-computed answers."""

import math

import numpy as np
import pytest

from vaecli.evaluation import metrics
from vaecli.evaluation.metrics import (
    bits_per_dimension,
    diagonal_normal_log_density,
    frechet_distance,
    frechet_distance_from_moments,
    importance_weighted_bound,
    log_mean_exp,
    nearest_neighbour_radii,
    precision_recall,
    standard_normal_log_density,
)


def column(*values):
    return np.asarray(values, np.float64)[:, None]


# ------------------------------------------------------------------------ precision / recall


def test_radii_are_kth_neighbour_distances_without_self():
    points = column(0, 1, 3, 6)
    # k=1: nearest other point; k=2: second nearest (worked out by hand on the number line).
    np.testing.assert_allclose(nearest_neighbour_radii(points, k=1), [1, 1, 2, 3])
    np.testing.assert_allclose(nearest_neighbour_radii(points, k=2), [3, 2, 3, 5])


def test_duplicate_points_are_each_others_neighbours():
    np.testing.assert_allclose(nearest_neighbour_radii(column(2, 2, 7), k=1), [0, 0, 5])


def test_precision_recall_on_a_number_line():
    real = column(0, 1, 2, 3)  # k=1 radii: 1 each, so the real manifold is [-1, 4]
    generated = column(0.5, 2.9, 10, 4.0)  # inside, inside, outside, on the boundary (counts)
    precision, _ = precision_recall(real, generated, k=1)
    assert precision == 0.75
    # Two tight pairs: radii 0.2, 0.2, 0.5, 0.5; only real 0 lies within 0.2 of 0.2.
    precision, recall = precision_recall(real, column(0.2, 0.4, 10, 10.5), k=1)
    assert (precision, recall) == (0.5, 0.25)


def test_precision_recall_extremes_in_two_dimensions():
    grid = np.stack(np.meshgrid(np.arange(6.0), np.arange(6.0)), axis=-1).reshape(-1, 2)
    assert precision_recall(grid, grid + 0.01) == (1.0, 1.0)
    assert precision_recall(grid, grid + 100.0) == (0.0, 0.0)
    # Generated points covering only the left half: all plausible, half the data covered (k=3
    # radii are 1 inside the grid, so column 3 is within reach of column 2's points).
    left = grid[grid[:, 0] <= 2]
    precision, recall = precision_recall(grid, left)
    assert precision == 1.0
    assert recall == pytest.approx(24 / 36)


def test_chunked_distances_match_a_brute_force_reference(monkeypatch):
    rng = np.random.default_rng(0)
    real, generated = rng.normal(size=(300, 5)), rng.normal(0.5, 1.0, size=(200, 5))

    def reference_radii(points, k):
        distances = np.linalg.norm(points[:, None] - points[None], axis=-1)
        np.fill_diagonal(distances, np.inf)
        return np.sort(distances, axis=1)[:, k - 1]

    def reference_coverage(points, centres, radii):
        distances = np.linalg.norm(points[:, None] - centres[None], axis=-1)
        return float(np.mean(np.any(distances <= radii[None], axis=1)))

    expected = (
        reference_coverage(generated, real, reference_radii(real, 3)),
        reference_coverage(real, generated, reference_radii(generated, 3)),
    )
    monkeypatch.setattr(metrics, "DISTANCE_CHUNK_ELEMENTS", 1000)  # blocks of 3-5 rows
    assert precision_recall(real, generated) == pytest.approx(expected)
    assert 0.3 < expected[0] < 1.0 and 0.3 < expected[1] < 1.0  # a case that can tell them apart


def test_too_few_points_for_k_is_refused():
    with pytest.raises(ValueError, match="k-NN"):
        nearest_neighbour_radii(column(0, 1, 2), k=3)


# -------------------------------------------------------------------------- Frechet distance


def test_frechet_distance_of_identical_sets_is_zero():
    features = np.random.default_rng(1).normal(size=(500, 8))
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_of_one_dimensional_gaussians():
    x = np.random.default_rng(2).normal(size=1000)
    x = (x - x.mean()) / x.std(ddof=1)  # exactly mean 0, unbiased variance 1
    mean, scale = 3.0, 2.5
    # W2^2 between N(0, 1) and N(m, s^2) is m^2 + (1 - s)^2.
    expected = mean**2 + (1 - scale) ** 2
    assert frechet_distance(x[:, None], (mean + scale * x)[:, None]) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_from_moments_with_non_commuting_covariances():
    covariance_1 = np.array([[2.0, 0.5], [0.5, 1.0]])
    covariance_2 = np.array([[1.0, -0.3], [-0.3, 0.5]])
    # S1 S2 is not symmetric, but its eigenvalues are real and positive: Tr sqrt = sum sqrt(eig).
    trace_of_root = np.sum(np.sqrt(np.linalg.eigvals(covariance_1 @ covariance_2).real))
    expected = 1.0**2 + 2.0**2 + np.trace(covariance_1) + np.trace(covariance_2) - 2 * trace_of_root
    distance = frechet_distance_from_moments([0.0, 0.0], covariance_1, [1.0, -2.0], covariance_2)
    assert distance == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_of_diagonal_covariances():
    # Commuting covariances: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt a - sqrt b)^2.
    distance = frechet_distance_from_moments(
        np.zeros(3), np.diag([1.0, 4.0, 9.0]), np.zeros(3), np.diag([4.0, 4.0, 1.0])
    )
    assert distance == pytest.approx(1.0 + 0.0 + 4.0)


# --------------------------------------------------------------------- likelihood bounds


def test_bits_per_dimension_is_exact():
    assert bits_per_dimension(784 * math.log(2), (28, 28, 1)) == 1.0
    assert bits_per_dimension(2 * 3072 * math.log(2), (32, 32, 3)) == pytest.approx(2.0, abs=1e-15)
    assert bits_per_dimension(0.0, (8, 8, 3)) == 0.0


def test_log_mean_exp_is_stable_and_exact():
    assert log_mean_exp(np.array([1000.0, 1000.0])) == pytest.approx(1000.0)
    assert log_mean_exp(np.log(np.array([1.0, 2.0, 3.0, 6.0]))) == pytest.approx(math.log(3.0))


def test_importance_weighted_bound_is_at_least_the_mean_log_weight():
    log_weights = np.random.default_rng(3).normal(size=(50, 16)) * 3
    bound = importance_weighted_bound(log_weights)
    assert np.all(bound >= log_weights.mean(axis=1))
    np.testing.assert_allclose(importance_weighted_bound(np.full((4, 7), -2.5)), -2.5)
    np.testing.assert_allclose(importance_weighted_bound(log_weights[:, :1]), log_weights[:, 0])


def test_importance_weights_recover_an_exact_gaussian_likelihood():
    # p(z) = N(0, 1), p(x | z) = N(x; z, 1)  =>  p(x) = N(x; 0, 2), p(z | x) = N(x / 2, 1 / 2).
    x = 1.3
    log_evidence = -0.5 * (x**2 / 2 + math.log(2 * math.pi * 2))
    rng = np.random.default_rng(4)

    def log_weights(z, mean, log_variance):
        log_joint = standard_normal_log_density((x - z)[..., None]) + standard_normal_log_density(z[..., None])
        return log_joint - diagonal_normal_log_density(z[..., None], mean, log_variance)

    # The exact posterior as q: every weight equals p(x), so even K = 1 is exact.
    z = rng.normal(x / 2, math.sqrt(0.5), size=(10, 3))
    np.testing.assert_allclose(log_weights(z, x / 2, math.log(0.5)), log_evidence, rtol=1e-12)
    # The prior as q: the bound tightens with K towards log p(x) and never passes it on average.
    z = rng.normal(size=(200, 4096))
    weights = log_weights(z, 0.0, 0.0)
    bounds = [importance_weighted_bound(weights[:, :count]).mean() for count in (1, 16, 4096)]
    assert bounds[0] < bounds[1] < bounds[2] <= log_evidence + 1e-3
    assert bounds[2] == pytest.approx(log_evidence, abs=0.01)
    assert log_evidence - bounds[0] > 0.1  # the gap at K = 1 is real: the test can fail
