"""Latent files: HDF5, .npy and .npz written and read back, with one clear sentence for every unreadable file."""

import h5py
import numpy as np
import pytest

from vaecli.errors import LatentError
from vaecli.latent.files import read_latents, recorded_run, write_latent_file

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
