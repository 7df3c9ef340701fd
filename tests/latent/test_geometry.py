"""Latent-space geometry on constructed arrays: regions, interpolation paths, traversal grids, option parsing."""

import numpy as np
import pytest

from vaecli.errors import LatentError
from vaecli.latent.geometry import (
    group_dimensions,
    lerp,
    parse_dimensions,
    parse_parameters,
    parse_range,
    sample_posterior,
    sample_region,
    slerp,
    traversal_grid,
)

# ----------------------------------------------------------------------------------- regions


@pytest.mark.parametrize("boundary", [0.5, 10.0, 50.0])
def test_box_points_lie_strictly_inside_the_positive_box_and_fill_it(boundary):
    points = sample_region("box", boundary, 5000, 8, seed=1)
    assert points.shape == (5000, 8) and points.dtype == np.float32
    assert np.all(points > 0) and np.all(points < boundary)
    assert points.mean() == pytest.approx(boundary / 2, rel=0.02)  # uniform: mean B/2, not clumped
    assert points.min() < 0.01 * boundary and points.max() > 0.99 * boundary


def test_symmetric_box_is_centred_on_zero():
    points = sample_region("symmetric", 3.0, 5000, 4, seed=0)
    assert np.all(np.abs(points) < 3.0)
    assert abs(points.mean()) < 0.05 and (points < 0).mean() == pytest.approx(0.5, abs=0.02)


def test_sphere_points_have_norm_r_and_uniform_directions():
    points = sample_region("sphere", 5.0, 4000, 16, seed=2)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 5.0, rtol=1e-5)
    assert np.abs(points.mean(axis=0)).max() < 0.1  # no preferred direction


def test_prior_scale_sets_the_standard_deviation():
    points = sample_region("prior", 2.0, 20000, 4, seed=3)
    assert points.std() == pytest.approx(2.0, rel=0.02) and abs(points.mean()) < 0.05


@pytest.mark.parametrize("kind", ["box", "symmetric", "sphere", "prior"])
def test_regions_are_deterministic_per_seed(kind):
    first, again = sample_region(kind, 2.0, 50, 6, seed=7), sample_region(kind, 2.0, 50, 6, seed=7)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, sample_region(kind, 2.0, 50, 6, seed=8))


@pytest.mark.parametrize(
    "kind, parameter, fragment",
    [
        ("box", 0.0, "positive"),
        ("sphere", -1.0, "positive"),
        ("prior", float("nan"), "positive"),
        ("cube", 1.0, "unknown latent region"),
    ],
)
def test_bad_region_arguments_are_clear_errors(kind, parameter, fragment):
    with pytest.raises(LatentError, match=fragment) as error:
        sample_region(kind, parameter, 10, 2, seed=0)
    assert error.value.exit_code == 2


def test_parse_parameters():
    assert parse_parameters("0.5,2.5,5,8,10,15,20,30,50") == [0.5, 2.5, 5, 8, 10, 15, 20, 30, 50]
    with pytest.raises(LatentError, match="comma"):
        parse_parameters("1,two")


def test_posterior_sample_has_the_posterior_spread():
    z_mean = np.full((20000, 2), 3.0, np.float32)
    z_log_var = np.log(np.full((20000, 2), 0.25, np.float32))
    z = sample_posterior(z_mean, z_log_var, seed=0)
    assert z.mean() == pytest.approx(3.0, abs=0.01) and z.std() == pytest.approx(0.5, rel=0.02)
    np.testing.assert_array_equal(z, sample_posterior(z_mean, z_log_var, seed=0))


# ------------------------------------------------------------------------------ interpolation


def test_lerp_is_evenly_spaced_with_exact_endpoints():
    start, end = np.array([0.1, -2.0, 3.3]), np.array([1.7, 0.4, -0.9])
    path = lerp(start, end, 7)
    assert path.shape == (7, 3)
    np.testing.assert_array_equal(path[0], start.astype(np.float32))
    np.testing.assert_array_equal(path[-1], end.astype(np.float32))
    np.testing.assert_allclose(np.diff(path, axis=0), np.tile((end - start) / 6, (6, 1)), atol=1e-6)


def test_slerp_keeps_the_norm_and_constant_angular_speed():
    rng = np.random.default_rng(0)
    start, end = rng.standard_normal(32), rng.standard_normal(32)
    end *= np.linalg.norm(start) / np.linalg.norm(end)  # equal norms
    path = slerp(start, end, 9)
    np.testing.assert_array_equal(path[0], start.astype(np.float32))
    np.testing.assert_array_equal(path[-1], end.astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), np.linalg.norm(start), rtol=1e-5)
    unit = path / np.linalg.norm(path, axis=1, keepdims=True)
    angles = np.arccos(np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(angles, angles[0], rtol=1e-3)
    straight = lerp(start, end, 9)  # the straight line dips towards the origin in between
    assert np.linalg.norm(straight[4]) < np.linalg.norm(path[4]) - 0.1


@pytest.mark.parametrize("end_factor", [2.0, -1.0])
def test_slerp_of_parallel_or_opposite_vectors_falls_back_to_the_line(end_factor):
    start = np.array([1.0, 2.0, 3.0])
    path = slerp(start, end_factor * start, 5)
    np.testing.assert_allclose(path, lerp(start, end_factor * start, 5))
    assert np.all(np.isfinite(path))


def test_interpolation_needs_two_steps():
    with pytest.raises(LatentError, match="at least 2 steps"):
        slerp(np.ones(3), np.zeros(3), 1)


# ---------------------------------------------------------------------------------- traversal


def test_traversal_grid_moves_only_the_chosen_dimensions():
    centre = np.array([0.5, -1.0, 2.0, 0.0, 1.0])
    blocks = group_dimensions([0, 2, 3, 4], 2)
    assert blocks == [(0, 2), (3, 4)]
    offsets = np.linspace(-2, 2, 5)
    grid = traversal_grid(centre, blocks, offsets)
    assert grid.shape == (2, 5, 5)
    np.testing.assert_allclose(grid[0, :, 0], 0.5 + offsets)
    np.testing.assert_allclose(grid[0, :, 2], 2.0 + offsets)
    np.testing.assert_allclose(grid[0, :, [1, 3, 4]], np.tile(centre[[1, 3, 4]], (5, 1)).T)
    np.testing.assert_allclose(grid[1, :, 4], 1.0 + offsets)
    np.testing.assert_allclose(grid[:, 2], np.tile(centre, (2, 1)))  # offset 0: the encoding itself


def test_single_dimension_grid_has_one_row_per_dimension():
    grid = traversal_grid(np.zeros(8), group_dimensions(list(range(8)), 1), np.linspace(-3, 3, 7))
    assert grid.shape == (8, 7, 8)
    assert all(np.count_nonzero(grid[row, 0]) == 1 and grid[row, 0, row] == -3 for row in range(8))


def test_dimension_and_range_parsing():
    assert parse_dimensions("0,3,8-11,3", 12) == [0, 3, 8, 9, 10, 11]
    assert parse_range("-3:3") == (-3.0, 3.0)
    with pytest.raises(LatentError, match="outside 0..11"):
        parse_dimensions("12", 12)
    with pytest.raises(LatentError, match="LO:HI"):
        parse_range("3:-3")
    with pytest.raises(LatentError, match="at least 1"):
        group_dimensions([0, 1], 0)
