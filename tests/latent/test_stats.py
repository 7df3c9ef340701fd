"""Latent statistics on constructed encodings: active units, KL per dimension, PCA, effective rank."""

import numpy as np
import pytest

from vaecli.latent.stats import (
    active_units,
    components_for,
    dimensions_by_information,
    effective_rank,
    kl_per_dimension,
    latent_statistics,
)

# --------------------------------------------------------------------------------- statistics


def collapsed_encoding(count=4000, seed=0):
    """6 dims: 0-2 informative (posterior tight, means spread), 3-5 collapsed to the prior."""
    rng = np.random.default_rng(seed)
    z_mean = np.zeros((count, 6))
    z_mean[:, :3] = rng.standard_normal((count, 3)) * [1.0, 0.5, 0.2]  # variances 1, 0.25, 0.04
    z_mean[:, 3:] = rng.standard_normal((count, 3)) * 0.03  # variance 0.0009: below 0.01
    z_log_var = np.zeros((count, 6))
    z_log_var[:, :3] = np.log(0.01)
    return z_mean, z_log_var


def test_active_units_count_only_dimensions_whose_mean_varies():
    z_mean, z_log_var = collapsed_encoding()
    np.testing.assert_array_equal(active_units(z_mean), [0, 1, 2])
    statistics = latent_statistics(z_mean, z_log_var)
    assert statistics["active_units"]["count"] == 3 and statistics["active_units"]["dimensions"] == [0, 1, 2]


def test_kl_per_dimension_matches_the_closed_form():
    z_mean, z_log_var = collapsed_encoding()
    kl = kl_per_dimension(z_mean, z_log_var)
    expected_informative = 0.5 * (np.mean(z_mean[:, :3] ** 2, axis=0) + 0.01 - 1 - np.log(0.01))
    np.testing.assert_allclose(kl[:3], expected_informative)
    np.testing.assert_allclose(kl[3:], 0.5 * np.mean(z_mean[:, 3:] ** 2, axis=0))  # collapsed: almost 0
    assert kl[3:].max() < 1e-3
    order, measure = dimensions_by_information(z_mean, z_log_var)
    assert measure == "KL" and list(order[:3]) == [0, 1, 2]


def test_effective_rank_of_known_spectra():
    assert effective_rank(np.array([2.0, 2.0, 2.0, 0.0])) == pytest.approx(3.0)
    assert effective_rank(np.array([5.0, 0.0, 0.0])) == pytest.approx(1.0)
    p = np.array([3.0, 1.0]) / 4  # exp(entropy) of (0.75, 0.25)
    assert effective_rank(np.array([3.0, 1.0])) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert effective_rank(np.zeros(3)) == 0.0


def test_pca_statistics_of_a_plane_in_four_dimensions():
    rng = np.random.default_rng(1)
    plane = rng.standard_normal((20000, 2))
    z_mean = np.concatenate([plane, np.zeros((20000, 2))], axis=1) + 5.0  # the offset must not matter
    statistics = latent_statistics(z_mean, None, boxes=(4.0, 10.0))
    assert statistics["pca"]["effective_rank"] == pytest.approx(2.0, abs=0.02)
    assert statistics["pca"]["components_for_90_percent"] == 2
    assert sum(statistics["pca"]["explained_variance"][2:]) < 1e-12
    assert statistics["kl_per_dimension"] is None and statistics["kl_total"] is None  # an AE
    assert statistics["box_fraction"]["10"] == {"points": 1.0, "components": 1.0}
    assert statistics["box_fraction"]["4"]["points"] == 0.0  # the constant dims sit at 5 ...
    # ... and the plane's dims (5 + N(0, 1)) are inside 0 < z < 4 with probability Phi(-1) = 0.1587
    assert statistics["box_fraction"]["4"]["components"] == pytest.approx(0.5 * 0.1587, abs=0.005)
    assert statistics["norm"]["prior"]["q50"] == pytest.approx(np.sqrt(4), rel=0.15)
    assert components_for(np.array([0.5, 0.3, 0.2]), 0.8) == 2
