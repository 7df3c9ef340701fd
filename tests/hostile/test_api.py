"""Misuse of the Python API and the campaign's smaller cases: each a VaeError (CLI: one line, exit 2), never a
meaningless result or a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

import vaecli
from tests.helpers import assert_one_clean_line, tiny_config, vae, vae_process


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> vaecli.Run:
    """A tiny finished run, trained from a config dict (what the API now accepts besides a YAML file)."""
    runs = tmp_path_factory.mktemp("api") / "runs"
    return vaecli.train(tiny_config(train={"epochs": 1}), runs_dir=runs, quiet=True)


@pytest.fixture(scope="module")
def images(run) -> np.ndarray:
    return run.split("test", limit=4).images  # uint8, (4, 16, 16, 3)


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda x: x.astype(np.float32), "float images must lie in [0, 1]; these span"),
        (lambda x: x.astype(np.uint16), "images are uint16; the run expects uint8 images in 0..255 or float"),
        (lambda x: np.where(x > 100, np.nan, x / 255.0), "NaN or Inf value(s)"),
        (lambda x: x[:, :8], "images have shape (4, 8, 16, 3); the run expects (N, 16, 16, 3) images"),
        (lambda x: x[..., :1], "images have shape (4, 16, 16, 1); the run expects (N, 16, 16, 3)"),
        (lambda x: x.astype(np.complex64), "images are complex64"),
        (lambda x: [["not", "images"]], "images have shape (1, 2)"),
    ],
    ids=["0-255-floats", "uint16", "nan", "size", "channels", "complex", "strings"],
)
def test_images_the_run_cannot_read_are_refused_with_what_it_expects(run, images, change, fragment):
    with pytest.raises(vaecli.LatentError) as raised:
        run.encode(change(images))
    assert fragment in str(raised.value)


def test_good_images_encode_the_same_as_uint8_or_float(run, images):
    np.testing.assert_allclose(run.encode(images), run.encode(images / 255.0), atol=1e-5)
    assert np.all(np.isfinite(run.encode(images[0])))  # one image (H, W, C)


def test_interpolating_from_a_nan_image_is_refused(run, images):
    bad = images[0] / 255.0
    bad[0, 0, 0] = np.nan
    with pytest.raises(vaecli.LatentError, match="NaN or Inf"):
        run.interpolate(bad, images[1])


@pytest.mark.parametrize("call", [lambda: vaecli.load_run(123), lambda: vaecli.load_run("x", runs_dir=7)])
def test_load_run_of_a_wrong_type_is_a_run_error(call):
    with pytest.raises(vaecli.RunError, match="must be a run folder or name"):
        call()


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        ({"config": 123}, "config must be a YAML file, an ExperimentConfig or a dict, not a int"),
        ({"config": "c.yaml", "overrides": "train.epochs=2"}, "overrides must be a dict"),
        ({"config": "c.yaml", "name": 5}, "name must be text or a path, not a int"),
    ],
)
def test_train_arguments_of_a_wrong_type_are_config_errors(arguments, fragment, tmp_path):
    with pytest.raises(vaecli.ConfigError, match=fragment):
        vaecli.train(runs_dir=tmp_path / "runs", **arguments)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("name", ["1e3", "1e-3", "12e1", "1e+3"])
def test_a_name_that_yaml_reads_as_a_number_stays_the_runs_name(name):
    from vaecli.config import load_config, validate

    config = validate(tiny_config(name=name))
    assert yaml.safe_load(config.to_yaml())["name"] == name  # quoted in config.yaml
    (Path(os.environ.get("TMPDIR", "/tmp")) / "vaecli-name.yaml").write_text(config.to_yaml())
    assert load_config(Path(os.environ.get("TMPDIR", "/tmp")) / "vaecli-name.yaml").name == name


def test_a_run_named_1e3_is_addressed_by_that_name(write_config, tmp_path):
    runs = tmp_path / "runs"
    config = write_config(tiny_config(train={"epochs": 1}))
    assert vae("train", config, "--name", "1e3", "--runs-dir", runs, "-q").exit_code == 0
    result = vae("encode", "1e3", "--runs-dir", runs, "--limit", "4")
    assert result.exit_code == 0, result.output
    assert (runs / "1e3" / "latent" / "z_test_first4.h5").is_file()


def test_a_latest_pointer_of_binary_garbage_is_one_line(run, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "LATEST").write_bytes(bytes(range(256)))
    result = vae("encode", "--runs-dir", runs)
    assert_one_clean_line(result.exit_code, result.output, "LATEST does not hold a run name")


def test_sweep_status_of_entries_without_their_keys_is_one_line(tmp_path):
    record = tmp_path / "runs" / "sweeps" / "sw.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"name": "sw", "runs": [{"index": 0}, {"outcome": "trained"}]}))
    result = vae("sweep-status", "sw", "--runs-dir", tmp_path / "runs")
    assert_one_clean_line(result.exit_code, result.output, "run entry 0 is not a sweep record entry")


def test_a_plan_of_a_million_points_is_refused_at_once(write_config):
    values = ",".join(str(value) for value in range(1000))
    settings = ["--set", f"loss.kl_factor={values}", "--set", f"train.learning_rate={values}"]
    result = vae("sweep", write_config(tiny_config()), *settings, "--plan")
    assert_one_clean_line(result.exit_code, result.output, "the grid has 1,000,000 points (1000 x 1000)")


def test_an_absurd_thread_count_is_capped_at_the_cores(write_config, tmp_path):
    config = write_config(tiny_config(train={"epochs": 1}))
    process = vae_process(
        "train", config, "--runs-dir", tmp_path / "runs", "-q", environment={"VAECLI_THREADS": "100000"}
    )
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    threads = json.loads((tmp_path / "runs" / "tiny" / "manifest.json").read_text())["threads"]
    assert 1 <= threads["intra_op"] <= threads["cores"]


def test_decode_refuses_an_array_out_that_is_its_grid_or_its_input(run, tmp_path):
    points = tmp_path / "points.npy"
    np.save(points, np.zeros((3, run.z_dim), np.float32))
    before = points.read_bytes()
    for array_out, fragment in ((points, "is the latent file"), (tmp_path / "grid.png", "is the PNG grid")):
        result = vae("decode", run.paths.root, points, "--out", tmp_path / "grid.png", "--array-out", array_out)
        assert_one_clean_line(result.exit_code, result.output, fragment)
    assert points.read_bytes() == before and not (tmp_path / "grid.png").exists()


def test_decode_refuses_complex_points(run, tmp_path):
    points = tmp_path / "complex.npy"
    np.save(points, np.ones((2, run.z_dim), np.complex64))
    result = vae("decode", run.paths.root, points, "--out", tmp_path / "grid.png")
    assert_one_clean_line(result.exit_code, result.output, "array of real numbers")


def test_the_library_names_python_arguments_and_the_cli_its_flags(run):
    with pytest.raises(vaecli.LatentError) as raised:
        run.traverse(0, dims="0", top_kl=2)
    assert str(raised.value) == "give dims or top_kl, not both"
    result = vae("traverse", run.paths.root, "--index", 0, "--dims", "0", "--top-kl", 2)
    assert_one_clean_line(result.exit_code, result.output, "give --dims or --top-kl, not both")
    with pytest.raises(vaecli.LatentError, match=r"^value_range '3:1': expected LO:HI"):
        from vaecli.latent.geometry import parse_range

        parse_range("3:1")
    result = vae("traverse", run.paths.root, "--index", 0, "--range", "3:1")
    assert_one_clean_line(result.exit_code, result.output, "--range '3:1': expected LO:HI")


@pytest.mark.parametrize(
    "call, said, command, flagged",
    [
        (
            lambda run: run.evaluate(iw_samples=0, save=False),
            "iw_samples must be at least 1, got 0",
            ["evaluate", "{run}", "--iw-samples", 0],
            "--iw-samples must be at least 1, got 0",
        ),
        (
            lambda run: run.interpolate(0, 1, method="spline"),
            "unknown method 'spline' (choose from linear, slerp)",
            ["interpolate", "{run}", "--from", 0, "--to", 1, "--method", "spline"],
            "unknown --method 'spline'",
        ),
        (
            lambda run: run.interpolate(999, 1),
            "start 999: the test split has 64 images (indices 0..63)",
            ["interpolate", "{run}", "--from", 999, "--to", 1],
            "--from 999: the test split has 64 images",
        ),
        (
            lambda run: vaecli.compare([run.paths.root], sort="nope"),
            "sort nope: no such column",
            ["compare", "{run}", "--sort", "nope"],
            "--sort nope: no such column",
        ),
        (
            lambda run: vaecli.train(tiny_config(train={"epochs": 1}), runs_dir=run.paths.root.parent),
            "already exists; continue it with resume",
            ["train", "{config}", "--runs-dir", "{runs}"],
            "already exists; continue it with --resume",
        ),
    ],
    ids=["evaluate", "interpolate-method", "interpolate-index", "compare", "train"],
)
def test_each_library_error_names_arguments_and_the_cli_flags(run, tmp_path, call, said, command, flagged):
    with pytest.raises(vaecli.VaeError) as raised:
        call(run)
    assert said in str(raised.value) and "--" not in str(raised.value)
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(train={"epochs": 1})))
    places = {"run": run.paths.root, "runs": run.paths.root.parent, "config": config}
    result = vae(*(str(part).format(**places) for part in command))
    assert_one_clean_line(result.exit_code, result.output, flagged)
