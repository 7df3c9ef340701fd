"""End-to-end latent-space commands on real tiny runs: values checked against the models themselves."""

import hashlib
import json
import pickle
import shutil

import h5py
import numpy as np
import pytest
from PIL import Image

from tests.helpers import FASHION_MNIST, ok, one_line_failure, tiny_config, train_run

pytestmark = pytest.mark.slow

TEST_IMAGES = 64  # tiny_config's num_test_images


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny VAE and a tiny AE (trained second, so LATEST names it) in one runs folder."""
    folder = tmp_path_factory.mktemp("explore")
    train_run(folder, tiny_config(train={"epochs": 2}))
    train_run(folder, tiny_config(name="tiny_ae", model={"kind": "ae"}, train={"epochs": 2}))
    return folder / "runs"


@pytest.fixture(scope="module")
def models(runs):
    """The saved Keras models and test images, loaded directly: the reference for every check."""
    import keras

    from vaecli.config import load_config
    from vaecli.data.splits import load_splits

    loaded = {}
    for name in ("tiny", "tiny_ae"):
        run = runs / name
        loaded[name] = (keras.models.load_model(run / "encoder.keras"), keras.models.load_model(run / "decoder.keras"))
    test_images = load_splits(load_config(runs / "tiny" / "config.yaml")).test.images
    return loaded, test_images


def reference_z_mean(models, name, images):
    encoder, _ = models[0][name]
    outputs = encoder(images.astype("float32") / 255.0)
    return np.asarray(outputs if name == "tiny_ae" else outputs[0])


@pytest.mark.parametrize("name", ["tiny", "tiny_ae"])
def test_encode_then_decode_reproduces_the_models_reconstructions(runs, models, name, tmp_path):
    ok("encode", runs / name, "--split", "test")
    latent_file = runs / name / "latent" / "z_test.h5"
    ok("decode", latent_file, "--array-out", tmp_path / "decoded.npy", "--limit", 1000)
    _, decoder = models[0][name]
    z_mean = reference_z_mean(models, name, models[1])
    reconstructions = np.asarray(decoder(z_mean))
    with h5py.File(latent_file) as handle:
        np.testing.assert_allclose(handle["z_mean"][()], z_mean, atol=1e-5)
    decoded = np.load(tmp_path / "decoded.npy")
    assert decoded.shape == (TEST_IMAGES, 16, 16, 3)
    np.testing.assert_allclose(decoded, reconstructions, atol=1e-5)
    assert (runs / name / "decoded" / "z_test_z_mean.png").is_file()  # decoded by the run that wrote the file


def test_encode_file_layout_and_provenance(runs):
    output = ok(
        "encode",
        "tiny",
        "--runs-dir",
        runs,
        "--split",
        "test",
        "--sample",
        "--seed",
        "5",
        "--out",
        runs / "z_sampled.h5",
    )
    assert f"Encoded {TEST_IMAGES} test images" in output and "z_sampled.h5" in output
    manifest = json.loads((runs / "tiny" / "manifest.json").read_text())
    with h5py.File(runs / "z_sampled.h5") as handle:
        assert {"z_mean", "z_log_var", "z", "index", "labels"} <= set(handle)
        assert handle["z_mean"].shape == (TEST_IMAGES, 4) and handle["z_mean"].dtype == np.float32
        assert handle["z_mean"].compression == "gzip"
        np.testing.assert_array_equal(handle["index"][()], np.arange(TEST_IMAGES))
        assert {"smile", "hair_colour", "glasses"} <= set(handle["labels"])
        attrs = dict(handle.attrs)
        z_mean, z_log_var, z = handle["z_mean"][()], handle["z_log_var"][()], handle["z"][()]
    assert attrs["run"] == "tiny" and attrs["split"] == "test" and attrs["z_dim"] == 4 and attrs["kind"] == "encoding"
    config_hash = hashlib.sha256((runs / "tiny" / "config.yaml").read_bytes()).hexdigest()[:16]
    assert attrs["config_hash"] == config_hash
    assert attrs["dataset_fingerprint"] == manifest["data"]["fingerprint"]
    # z is one posterior draw: its standardised deviation from z_mean is N(0, 1)
    standardised = (z - z_mean) / np.exp(0.5 * z_log_var)
    assert abs(standardised.mean()) < 0.2 and standardised.std() == pytest.approx(1.0, abs=0.2)
    ok("encode", "tiny", "--runs-dir", runs, "--sample", "--seed", "5", "--out", runs / "again.h5")
    with h5py.File(runs / "again.h5") as handle:
        np.testing.assert_array_equal(handle["z"][()], z)  # deterministic for a seed


def test_encode_defaults_to_the_latest_run_and_covers_all_splits(runs):
    ok("encode", "--runs-dir", runs, "--split", "all")
    manifest = json.loads((runs / "tiny_ae" / "manifest.json").read_text())["data"]
    with h5py.File(runs / "tiny_ae" / "latent" / "z_all.h5") as handle:  # LATEST is the AE
        assert "z_log_var" not in handle and handle.attrs["model_kind"] == "ae"
        codes = handle["split"][()]
        assert [int(np.sum(codes == code)) for code in range(3)] == [
            manifest["train"],
            manifest["validation"],
            manifest["test"],
        ]
    one_line_failure("encode", "--runs-dir", runs, "--sample", fragments=["--sample needs a VAE", "is an AE"])
    one_line_failure("encode", "--runs-dir", runs, "--split", "holdout", fragments=["unknown split 'holdout'"])


def test_decode_refuses_bad_points_with_one_line(runs, tmp_path):
    np.save(tmp_path / "five.npy", np.zeros((3, 5), np.float32))
    one_line_failure(
        "decode",
        runs / "tiny",
        tmp_path / "five.npy",
        fragments=["holds 5-dimensional points but run", "tiny has z_dim 4"],
    )
    points = np.zeros((4, 4), np.float32)
    points[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", points)
    one_line_failure("decode", runs / "tiny", tmp_path / "nan.npy", fragments=["1 non-finite value", "row 2"])
    ok("encode", runs / "tiny", "--limit", 8, "--out", tmp_path / "eight.h5")
    one_line_failure(
        "decode",
        runs / "tiny",
        tmp_path / "eight.h5",
        "--dataset",
        "z",
        fragments=["has no dataset 'z'", "z_log_var, z_mean"],
    )
    one_line_failure("decode", runs / "tiny", tmp_path / "absent.h5", fragments=["absent.h5: no such file"])


def test_box_samples_lie_inside_the_box_and_are_deterministic(runs, tmp_path):
    output = ok("sample", "--run", runs / "tiny", "--boundary", "10", "-n", 12, "--seed", 4)
    assert "0 < z_i < 10" in output and "box_B10_seed4.png" in output
    samples = runs / "tiny" / "samples"
    picture, points_file = samples / "box_B10_seed4.png", samples / "box_B10_seed4.h5"
    with h5py.File(points_file) as handle:
        z = handle["z"][()]
        assert handle.attrs["region"] == "box" and handle.attrs["kind"] == "samples"
    assert z.shape == (12, 4) and np.all(z > 0) and np.all(z < 10)
    first = picture.read_bytes()
    ok("sample-latent", "--run", runs / "tiny", "--boundary", "10", "--n", 12, "--seed", 4)  # the hidden alias
    assert picture.read_bytes() == first
    with h5py.File(points_file) as handle:
        np.testing.assert_array_equal(handle["z"][()], z)


def test_several_boundaries_make_one_labelled_figure(runs):
    output = ok("sample", "--runs-dir", runs, "--run", "tiny_ae", "--boundary", "0.5,5,50", "--n-samples", 6)
    assert "box_B0.5-50.png" in output
    with h5py.File(runs / "tiny_ae" / "samples" / "box_B0.5-50.h5") as handle:
        z, parameter = handle["z"][()], handle["parameter"][()]
        assert list(handle.attrs["parameters"]) == [0.5, 5.0, 50.0]
    for boundary in (0.5, 5.0, 50.0):
        rows = z[parameter == boundary]
        assert rows.shape == (6, 4) and np.all((rows > 0) & (rows < boundary))
    np.testing.assert_allclose(z[parameter == 50.0], 100 * z[parameter == 0.5], rtol=1e-5)  # same seed per row
    assert Image.open(runs / "tiny_ae" / "samples" / "box_B0.5-50.png").size[1] > 3 * 48


@pytest.mark.parametrize(
    "flags, stem, check",
    [
        (["--boundary", "2", "--symmetric"], "symmetric_B2", lambda z: np.all(np.abs(z) < 2) and np.any(z < 0)),
        (["--radius", "3"], "sphere_R3", lambda z: np.allclose(np.linalg.norm(z, axis=1), 3, rtol=1e-5)),
        (["--prior", "normal", "--scale", "0.5"], "prior_s0.5", lambda z: 0.3 < z.std() < 0.7),
    ],
)
def test_other_regions(runs, flags, stem, check):
    ok("sample", "--run", runs / "tiny", *flags, "--n", 50)
    with h5py.File(runs / "tiny" / "samples" / f"{stem}.h5") as handle:
        assert check(handle["z"][()])


def test_region_flags_are_exclusive(runs):
    one_line_failure(
        "sample",
        "--run",
        runs / "tiny",
        "--boundary",
        "1",
        "--radius",
        "2",
        fragments=["choose one region", "--boundary and --radius"],
    )
    one_line_failure("sample", "--run", runs / "tiny", fragments=["choose one region"])
    one_line_failure("sample", "--run", runs / "tiny", "--boundary", "0", fragments=["positive"])


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_endpoints_are_the_encodings(runs, models, method):
    output = ok("interpolate", runs / "tiny", "--from", 3, "--to", 17, "--steps", 6, "--method", method)
    stem = runs / "tiny" / "explore" / f"interpolate_test3_test17_{method}"
    assert str(stem) + ".png" in output
    with h5py.File(f"{stem}.h5") as handle:
        path = handle["z"][()]
    expected = reference_z_mean(models, "tiny", models[1][[3, 17]])
    assert path.shape == (6, 4)
    np.testing.assert_allclose(path[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(path[-1], expected[1], atol=1e-5)
    strip = np.asarray(Image.open(f"{stem}.png"))
    assert strip.shape == (20, 8 * 18 + 2, 3)  # original, 6 decoded points, original; 16 px + 2 px padding
    np.testing.assert_array_equal(strip[2:18, 2:18], models[1][3])
    np.testing.assert_array_equal(strip[2:18, -18:-2], models[1][17])


def test_interpolation_from_an_image_file(runs, models, tmp_path):
    Image.fromarray(np.repeat(np.repeat(models[1][5], 4, axis=0), 4, axis=1)).save(tmp_path / "face.png")  # 64 px
    ok("interpolate", runs / "tiny", "--from", tmp_path / "face.png", "--to", 5, "--steps", 3)
    with h5py.File(runs / "tiny" / "explore" / "interpolate_face_test5_linear.h5") as handle:
        ends = handle["z_mean"][()]
    np.testing.assert_allclose(ends[0], ends[1], atol=0.2)  # the resized file encodes near the original
    one_line_failure("interpolate", runs / "tiny", "--from", 999, "--to", 1, fragments=["--from 999", "64 images"])
    one_line_failure(
        "interpolate",
        runs / "tiny",
        "--from",
        "nope.png",
        "--to",
        1,
        fragments=["neither an index", "nor an image file"],
    )


def test_traverse_rows_move_one_dimension_each(runs, models):
    ok("traverse", runs / "tiny", "--index", 5, "--steps", 5, "--range=-2:2")
    with h5py.File(runs / "tiny" / "explore" / "traverse_test5_all.h5") as handle:
        grid, centre = handle["z"][()].reshape(4, 5, 4), handle["z_mean"][0]
        assert json.loads(handle.attrs["blocks"]) == [[0], [1], [2], [3]]
    np.testing.assert_allclose(centre, reference_z_mean(models, "tiny", models[1][5:6])[0], atol=1e-5)
    for row in range(4):
        np.testing.assert_allclose(grid[row, :, row] - centre[row], np.linspace(-2, 2, 5), atol=1e-5)
        others = [dimension for dimension in range(4) if dimension != row]
        np.testing.assert_allclose(grid[row][:, others], np.tile(centre[others], (5, 1)), atol=1e-6)
    ok("traverse", runs / "tiny", "--index", 5, "--dims", "0-3", "--block", 2)
    with h5py.File(runs / "tiny" / "explore" / "traverse_test5_dims0-3_block2.h5") as handle:
        assert json.loads(handle.attrs["blocks"]) == [[0, 1], [2, 3]] and handle["z"].shape == (18, 4)


def test_traverse_top_kl_picks_the_dimensions_with_the_most_kl(runs):
    ok("latent-stats", runs / "tiny")
    statistics = json.loads((runs / "tiny" / "latent_stats" / "stats.json").read_text())
    ok("traverse", runs / "tiny", "--index", 0, "--top-kl", 2)
    with h5py.File(runs / "tiny" / "explore" / "traverse_test0_topkl2.h5") as handle:
        blocks = json.loads(handle.attrs["blocks"])
    expected = np.argsort(statistics["kl_per_dimension"])[::-1][:2]
    assert [block[0] for block in blocks] == expected.tolist()
    one_line_failure("traverse", runs / "tiny", "--index", 0, "--dims", "7", fragments=["outside 0..3"])


def test_latent_stats_values_match_the_encoding_and_training(runs):
    output = ok("latent-stats", runs / "tiny", "--split", "validation")
    assert "active units" in output and "stats.json" in output
    folder = runs / "tiny" / "latent_stats"
    statistics = json.loads((folder / "stats.json").read_text())
    ok("encode", runs / "tiny", "--split", "validation")
    with h5py.File(runs / "tiny" / "latent" / "z_validation.h5") as handle:
        z_mean, z_log_var = handle["z_mean"][()].astype(np.float64), handle["z_log_var"][()].astype(np.float64)
    variance = z_mean.var(axis=0)
    np.testing.assert_allclose(statistics["variance"], variance, rtol=1e-5)
    assert statistics["active_units"]["count"] == int(np.sum(variance > 0.01))
    kl = np.mean(0.5 * (z_mean**2 + np.exp(z_log_var) - 1 - z_log_var), axis=0)
    np.testing.assert_allclose(statistics["kl_per_dimension"], kl, rtol=1e-5)
    last_epoch = json.loads((runs / "tiny" / "metrics.jsonl").read_text().splitlines()[-1])
    # The KL training logged for the same images: equal up to the precision the run computed in
    # (bfloat16 keeps 8 mantissa bits, and the graph and eager paths round differently).
    policy = json.loads((runs / "tiny" / "manifest.json").read_text())["precision_policy"]
    tolerance = 1e-4 if policy == "float32" else 1e-2
    assert statistics["kl_total"] == pytest.approx(last_epoch["val_kl_loss"], rel=tolerance)
    assert statistics["num_points"] == len(z_mean) and statistics["provenance"]["split"] == "validation"
    for name in ("dimensions.png", "norms.png", "pca.png"):
        assert Image.open(folder / name).size[0] > 300


def test_latent_stats_of_an_ae_has_no_kl(runs, tmp_path):
    ok("latent-stats", runs / "tiny_ae", "--out", tmp_path / "stats", "--box", "1,1000")
    statistics = json.loads((tmp_path / "stats" / "stats.json").read_text())
    assert statistics["kl_total"] is None and statistics["posterior_variance"] is None
    assert statistics["dimensions_by_information"]["measure"] == "variance of z_mean"
    assert set(statistics["box_fraction"]) == {"1", "1000"}


COMMANDS_ON_A_RUN = [
    ["encode"],
    ["decode", "points.npy"],
    ["interpolate", "--from", 1, "--to", 2],
    ["traverse", "--index", 0],
    ["latent-stats"],
]


@pytest.fixture(scope="module")
def unfinished_run(runs, tmp_path_factory):
    """A copy of the VAE run as a killed `vae train` leaves it: RUNNING, checkpoint, no final models."""
    run = tmp_path_factory.mktemp("unfinished") / "tiny"
    shutil.copytree(runs / "tiny", run)
    (run / "encoder.keras").unlink()
    (run / "decoder.keras").unlink()
    manifest = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**manifest, "status": "RUNNING"}))
    return run


@pytest.mark.parametrize("command", COMMANDS_ON_A_RUN, ids=lambda command: command[0])
def test_a_run_without_final_models_fails_clearly(unfinished_run, command):
    arguments = [command[0], unfinished_run, *command[1:]]
    one_line_failure(
        *arguments,
        fragments=[
            "no final models",
            "still RUNNING",
            "checkpoint holds epoch 2 of 2",
            f"vae train --resume {unfinished_run}",
        ],
    )


def test_sample_on_an_unfinished_or_missing_run(unfinished_run, tmp_path):
    one_line_failure("sample", "--run", unfinished_run, "--boundary", 1, fragments=["vae train --resume"])
    one_line_failure("encode", tmp_path / "nothing", fragments=["no such run folder"])
    one_line_failure("encode", "--runs-dir", tmp_path, fragments=["vae train CONFIG"])


def write_fake_cifar10(folder):
    """CIFAR-10's python pickles with a few smooth random images: the real format, tiny."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for name, count in [(f"data_batch_{number}", 20) for number in range(1, 6)] + [("test_batch", 60)]:
        coarse = rng.integers(0, 256, (count, 3, 4, 4), dtype=np.uint8)
        images = np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3)  # (count, 3, 32, 32), channel first
        with open(folder / name, "wb") as handle:
            pickle.dump({b"data": images.reshape(count, -1), b"labels": rng.integers(0, 10, count).tolist()}, handle)
    return folder


def real_source_config(source, folder):
    if source == "fashion_mnist":
        if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
            pytest.skip(f"Fashion-MNIST not found in {FASHION_MNIST}")
        data, channels = {"source": "fashion_mnist", "path": str(FASHION_MNIST), "limit": 300, "image_size": None}, 1
    else:
        data, channels = {"source": "cifar10", "path": str(write_fake_cifar10(folder / "cifar")), "image_size": None}, 3
    return tiny_config(
        name=source,
        data=data,
        model={
            "kind": "vae" if channels == 1 else "ae",
            "decoder": {"filters": [16, channels], "kernel_sizes": [3, 3], "strides": [2, 2]},
        },
        train={"epochs": 1, "validation_split": 0.2},
    )


@pytest.mark.parametrize("source", ["fashion_mnist", "cifar10"])
def test_every_command_on_a_real_data_source(source, tmp_path):
    train_run(tmp_path, real_source_config(source, tmp_path))
    run = tmp_path / "runs" / source
    ok("encode", run, "--limit", 50)
    ok("decode", run / "latent" / "z_test_first50.h5")
    ok("sample", "--run", run, "--boundary", "1,3")
    ok("interpolate", run, "--from", 0, "--to", 1, "--steps", 3)
    ok("traverse", run, "--index", 0, "--top-kl", 2)
    ok("latent-stats", run, "--limit", 60)
    shape = (28, 28) if source == "fashion_mnist" else (32, 32, 3)
    with h5py.File(run / "latent" / "z_test_first50.h5") as handle:
        assert handle["z_mean"].shape == (50, 4) and "label" in handle["labels"]
        assert json.loads(handle.attrs["label_names"])[0] in ("t-shirt/top", "airplane")
    decoded = np.asarray(Image.open(run / "decoded" / "z_test_first50_z_mean.png"))
    assert decoded.shape[2:] == shape[2:] and decoded.shape[0] == 7 * (shape[0] + 2) + 2  # 50 images: 8 columns, 7 rows
    statistics = json.loads((run / "latent_stats" / "stats.json").read_text())
    assert statistics["num_points"] == 60 and statistics["provenance"]["data_source"] == source
