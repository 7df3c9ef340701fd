"""Latent-space maths and latent files on constructed arrays: regions, paths, traversals, statistics, HDF5."""

import h5py
import numpy as np
import pytest

from vaecli.errors import LatentError
from vaecli.latent.files import read_latents, recorded_run, write_latent_file
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
from vaecli.latent.stats import (
    active_units,
    components_for,
    dimensions_by_information,
    effective_rank,
    kl_per_dimension,
    latent_statistics,
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


# ------------------------------------------------------------------------------- latent files


@pytest.fixture
def latent_file(tmp_path):
    z_mean = np.arange(40, dtype=np.float32).reshape(10, 4)
    path = write_latent_file(
        tmp_path / "z.h5",
        {"z_mean": z_mean, "z_log_var": -z_mean, "z": None, "index": np.arange(10)},
        {"label": np.arange(10) % 3},
        {"run": "tiny", "z_dim": 4, "split": "test", "run_path": str(tmp_path / "no_run"), "extra": None},
    )
    return path, z_mean


def test_hdf5_round_trip_keeps_layout_values_and_attributes(latent_file):
    path, z_mean = latent_file
    with h5py.File(path) as handle:
        assert set(handle) == {"z_mean", "z_log_var", "index", "labels"}
        assert handle["z_mean"].compression == "gzip" and handle["z_mean"].chunks[1] == 4
        assert handle.attrs["split"] == "test" and handle.attrs["z_dim"] == 4 and handle.attrs["extra"] == ""
        np.testing.assert_array_equal(handle["labels/label"][()], np.arange(10) % 3)
    points = read_latents(path, limit=3, z_dim=4)
    assert points.dataset == "z_mean" and points.attrs["run"] == "tiny"
    np.testing.assert_array_equal(points.values, z_mean[:3])
    np.testing.assert_array_equal(read_latents(path, "z_log_var").values, -z_mean)
    assert recorded_run(path) is None  # its run folder does not exist
    assert not list(path.parent.glob(".z.h5*"))  # no temporary left behind


def test_npy_and_npz_and_single_vectors(tmp_path):
    np.save(tmp_path / "points.npy", np.ones((5, 3)))
    np.save(tmp_path / "one.npy", np.ones(3))
    np.savez(tmp_path / "points.npz", z=np.zeros((2, 3)))
    assert read_latents(tmp_path / "points.npy", z_dim=3).values.shape == (5, 3)
    assert read_latents(tmp_path / "one.npy", z_dim=3).values.shape == (1, 3)
    assert read_latents(tmp_path / "points.npz").dataset == "z"


def test_a_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(TypeError):
        write_latent_file(tmp_path / "z.h5", {"z_mean": np.zeros((3, 2))}, attrs={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def one_line_error(*args, **kwargs) -> str:
    with pytest.raises(LatentError) as error:
        read_latents(*args, **kwargs)
    assert len(error.value.lines) == 1 and "\n" not in str(error.value) and error.value.exit_code == 2
    return str(error.value)


def test_read_errors_are_one_clear_sentence(latent_file, tmp_path):
    path, _ = latent_file
    assert one_line_error(tmp_path / "missing.h5") == f"{tmp_path / 'missing.h5'}: no such file"
    message = one_line_error(path, "z")
    assert message == f"{path} has no dataset 'z' (available: z_log_var, z_mean)"  # only 2-D datasets listed
    assert one_line_error(path, z_dim=32, run="run runs/big") == (
        f"{path}:z_mean holds 4-dimensional points but run runs/big has z_dim 32"
    )
    assert "limit must be at least 1" in one_line_error(path, limit=0)  # the Python argument (the CLI says --limit)


def test_one_dimensional_dataset_counts_as_one_point(latent_file, tmp_path):
    path, _ = latent_file
    assert read_latents(path, "index").values.shape == (1, 10)  # a single (z_dim,) vector


def test_wrong_rank_and_non_finite_values(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(LatentError, match=r"shape \(2, 3, 4\).*\(N, z_dim\)"):
        read_latents(tmp_path / "cube.npy")
    points = np.zeros((6, 3))
    points[4, 1], points[5, 0], points[5, 2] = np.nan, np.inf, np.nan
    np.save(tmp_path / "nan.npy", points)
    with pytest.raises(LatentError, match=r"3 non-finite value\(s\) \(NaN or Inf\) in 2 row\(s\); the first is row 4"):
        read_latents(tmp_path / "nan.npy")
    read_latents(tmp_path / "nan.npy", limit=4)  # the bad rows are past the limit: fine
    (tmp_path / "z.txt").write_text("1 2 3")
    with pytest.raises(LatentError, match="unknown latent file type"):
        read_latents(tmp_path / "z.txt")
    (tmp_path / "broken.h5").write_bytes(b"not hdf5")
    with pytest.raises(LatentError, match="not a readable HDF5 file"):
        read_latents(tmp_path / "broken.h5")


# ------------------------------------------------------------------------------- command line


def test_the_registered_commands_keep_tensorflow_out_of_start_up():
    import subprocess
    import sys

    code = (
        "import sys; from vaecli.cli import app; "
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules or 'h5py' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.parametrize("command", ["encode", "decode", "sample", "interpolate", "traverse", "latent-stats"])
def test_every_latent_command_has_help_with_examples(command):
    from typer.testing import CliRunner

    from vaecli.cli import app

    assert sum(registered.name == command for registered in app.registered_commands) == 1
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Examples" in result.output and f"vae {command}" in result.output
