"""Hostile input (issue 13): configs, names and runs folders that crashed, hung or misled. Each ends in one
clear line and its exit code, with nothing written: no traceback, no half-made run folder."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import assert_one_clean_line, mounted_tmpfs, run_vae, tiny_config, vae

# --------------------------------------------------------------------------- YAML and config values

ALIAS_BOMB = (  # 324 bytes; 9 levels of 9 aliases: 387 million values once expanded (hung for minutes)
    "a: &a [x,x,x,x,x,x,x,x,x]\n"
    + "".join(
        f"{chr(98 + level)}: &{chr(98 + level)} [{','.join(['*' + chr(97 + level)] * 9)}]\n" for level in range(8)
    )
    + "model: {kind: *i}\n"
)
FIVE_LEVEL_BOMB = ALIAS_BOMB.split("f:")[0] + "model: {kind: *e}\n"  # 59,049 values: printed a 310 kB error line
FOUR_LEVEL_BOMB = ALIAS_BOMB.split("e:")[0] + "model: {kind: *d}\n"  # 6,561 values: allowed, but never quoted whole


@pytest.mark.parametrize(
    "text, fragment",
    [
        (ALIAS_BOMB, "YAML aliases expand to more than 100,000 values"),
        (FIVE_LEVEL_BOMB, "YAML aliases expand to more than 100,000 values"),
        ("model: &loop {encoder: *loop}\n", "refers to itself"),
        ("seed: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ],
    ids=["alias-bomb", "five-level-bomb", "recursive-alias", "deep-nesting"],
)
def test_yaml_that_would_hang_or_flood_is_refused_in_one_short_line(tmp_path, text, fragment):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    assert len(text) < 11_000
    started = time.perf_counter()
    result = vae("config", "show", path)
    assert time.perf_counter() - started < 20  # it hung for minutes
    assert_one_clean_line(result.exit_code, result.output, fragment)
    assert len(result.output) < 600  # the five-level bomb printed a 5.2 MB "line"


def test_a_value_of_thousands_is_never_quoted_whole(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(FOUR_LEVEL_BOMB)
    result = vae("config", "show", path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{path}: model.kind: Input should be 'vae' or 'ae' (got [[[['x', 'x'" in result.output
    assert max(len(line) for line in result.output.splitlines()) < 300  # the 5-level one printed 5.2 MB


def test_thousands_of_bad_values_list_a_dozen_problems(write_config):
    config = tiny_config(model={"encoder": {"filters": ["x"] * 5000, "kernel_sizes": [3], "strides": [2]}})
    result = vae("config", "show", write_config(config))
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 12 and lines[-1].strip() == "... and 4,989 more problems", lines


@pytest.mark.parametrize(
    "setting, fragment",
    [
        ("model.z_dim=true", "model.z_dim: must be a whole number, not true/false"),
        ("train.epochs=false", "train.epochs: must be a whole number, not true/false"),
        ("seed=-1", "seed: Input should be greater than or equal to 0"),
        ("seed=4294967296", "seed: Input should be less than or equal to 4294967295"),
        ("train.seed=4294967296", "train.seed: Input should be less than or equal to 4294967295"),
        ("model.kind=[bold]vae", "model.kind: Input should be 'vae' or 'ae' (got '[bold]vae')"),
        ("data.crop=[1,2,3]", "data.crop must be 'center' or [top, left, height, width]"),
        ("name=LATEST", "LATEST is a name the runs folder uses itself"),
        ("name=latest", "latest is a name the runs folder uses itself"),
        ("name=sweeps", "sweeps is a name the runs folder uses itself"),
        ("name=" + "n" * 300, "is not a usable run name: 1 to 100 letters"),
        ("model.encoder.kernel_sizes=[1000,3]", "layer 0 has a 1000x1000 kernel but its input is only 16x16"),
        ("model.decoder.kernel_sizes=[3,64]", "layer 1 has a 64x64 kernel but its output is only 16x16"),
        ("data.background=[0,0,300]", "data.background must be white, black or [r, g, b]"),
    ],
)
def test_config_values_that_crashed_or_misled_are_one_line(write_config, setting, fragment):
    result = vae("config", "show", write_config(tiny_config()), "--set", setting)
    assert_one_clean_line(result.exit_code, result.output, fragment)
    assert len(result.output) < 600


def test_rich_markup_in_a_path_or_value_is_printed_as_written(tmp_path):
    missing = tmp_path / "odd[/]name[bold].yaml"
    result = vae("config", "show", missing)
    assert_one_clean_line(result.exit_code, result.output, f"{missing}: config file not found")


def test_integral_floats_still_count_as_whole_numbers(write_config):
    result = vae("config", "show", write_config(tiny_config()), "--set", "data.num_images=1e3")
    assert result.exit_code == 0 and "num_images: 1000\n" in result.output


# ------------------------------------------------------------------------------- names, runs folder


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("LATEST", "LATEST is a name the runs folder uses itself"),
        ("sweeps", "sweeps is a name the runs folder uses itself"),
        ("", "--name: '' is not a usable run name"),
        ("n" * 300, "is not a usable run name"),
        ("a/b", "--name: 'a/b' is not a usable run name"),
    ],
    ids=["LATEST", "sweeps", "empty", "300-characters", "slash"],
)
def test_unusable_run_names_are_refused_and_leave_nothing(write_config, tmp_path, name, fragment):
    runs = tmp_path / "runs"
    result = vae("train", write_config(tiny_config()), "--name", name, "--runs-dir", runs)
    assert_one_clean_line(result.exit_code, result.output, fragment)
    assert not runs.exists()
    assert len(result.output) < 600


@pytest.mark.parametrize("name", ["2024", "007", "yes", "1e3", "null"])
def test_names_are_text_not_yaml(write_config, name):
    # /dev/null as the runs folder stops the run right after the name was accepted, exactly as written.
    result = vae("train", write_config(tiny_config()), "--name", name, "--runs-dir", "/dev/null")
    assert_one_clean_line(result.exit_code, result.output, "--runs-dir /dev/null is not a folder")


def test_runs_folder_that_is_a_file_or_under_one(write_config, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    result = vae("train", write_config(tiny_config()), "--runs-dir", tmp_path / "file")
    assert_one_clean_line(result.exit_code, result.output, f"--runs-dir {tmp_path / 'file'} is not a folder")
    result = vae("train", write_config(tiny_config()), "--runs-dir", tmp_path / "file" / "runs")
    assert_one_clean_line(result.exit_code, result.output, f"{tmp_path / 'file'} is a file")


@pytest.mark.slow
def test_read_only_runs_folder(write_config, tmp_path):
    with mounted_tmpfs(tmp_path / "ro", size="1m", read_only=True) as runs:
        result = vae("train", write_config(tiny_config()), "--runs-dir", runs)
        assert_one_clean_line(result.exit_code, result.output, "Read-only file system")
        assert list(runs.iterdir()) == []


@pytest.mark.slow
def test_immutable_runs_folder(write_config, tmp_path):
    runs = tmp_path / "immutable"
    runs.mkdir()
    if subprocess.run(["chattr", "+i", str(runs)], capture_output=True).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        result = vae("train", write_config(tiny_config()), "--runs-dir", runs)
        assert_one_clean_line(result.exit_code, result.output, "Operation not permitted")
        assert list(runs.iterdir()) == []
    finally:
        subprocess.run(["chattr", "-i", str(runs)], check=True)


# ------------------------------------------------------------------------------------ absurd sizes


@pytest.mark.parametrize(
    "settings, fragment",
    [
        (["data.image_size=64", "model.encoder.filters=[100000,16]"], "model: training needs about"),
        (["data.num_images=1e12"], "data: 1,000,000,000,064 images of 16x16x3 need about"),
        (["data.num_images=20000", "data.image_size=1024", "train.batch_size=2"], "data: 20,064 images of 1024x1024x3"),
    ],
    ids=["100000-filters", "1e12-images", "1024-pixel-images"],
)
def test_absurd_sizes_are_refused_with_the_numbers_and_leave_nothing(write_config, tmp_path, settings, fragment):
    runs = tmp_path / "runs"
    arguments = [item for setting in settings for item in ("--set", setting)]
    started = time.perf_counter()
    result = vae("train", write_config(tiny_config()), *arguments, "--runs-dir", runs)
    assert_one_clean_line(result.exit_code, result.output, fragment)
    assert "is available" in result.output and time.perf_counter() - started < 60
    assert not runs.exists() or list(runs.iterdir()) == []


@pytest.mark.slow
def test_absurd_model_under_an_address_space_limit_is_refused_not_a_segfault(write_config, tmp_path):
    # The case: 100,000 filters under `ulimit -v 8G` died of SIGSEGV and left the run RUNNING.
    path = write_config(tiny_config())
    code, output = run_vae(
        "train", path, "--set", "model.encoder.filters=[100000,16]", "--runs-dir", tmp_path / "runs",
        limit_address_space=8 << 30,
    )  # fmt: skip
    assert_one_clean_line(code, output, "model: training needs about")
    assert "the address-space limit of this process, ulimit -v" in output and "8.6 GB" in output
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


def test_data_limit_shrinks_the_generated_pool(write_config):
    from vaecli.config import load_config
    from vaecli.data.splits import load_splits

    config = load_config(write_config(tiny_config()), ["data.num_images=1e12", "data.limit=100"])
    started = time.perf_counter()
    splits = load_splits(config)
    assert len(splits.train) + len(splits.validation) == 100 and time.perf_counter() - started < 30
    reference = load_splits(load_config(write_config(tiny_config()), ["data.num_images=100"]))
    assert splits.fingerprint == reference.fingerprint  # the same 100 faces as a set of 100


def test_model_size_estimate_matches_keras(write_config):
    from vaecli.config import load_config
    from vaecli.models.factory import build_autoencoder
    from vaecli.training.resources import model_size

    for settings in ([], ["model.kind=ae", "model.batch_norm=true"], ["model.z_dim=64", "data.image_size=24"]):
        config = load_config(write_config(tiny_config()), settings)
        shape = (config.data.image_size, config.data.image_size, 3)
        model = build_autoencoder(config, shape, 6, False)
        assert model_size(config, shape)[0] == model.encoder.count_params() + model.decoder.count_params(), settings


# ------------------------------------------------------------------------------- data.cache_dir


def _tiny_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(6):
        Image.fromarray(np.full((20, 20, 3), index * 40, np.uint8)).save(folder / f"{index}.png")
    return folder


def _folder_config(write_config, folder: Path, cache) -> Path:
    return write_config(
        tiny_config(data={"source": "image_folder", "path": str(folder), "image_size": 16, "cache_dir": str(cache)})
    )


def test_cache_dir_that_is_a_file(write_config, tmp_path):
    (tmp_path / "cachefile").write_text("x")
    config = _folder_config(write_config, _tiny_folder(tmp_path / "photos"), tmp_path / "cachefile")
    result = vae("data", "prepare", config)
    assert_one_clean_line(result.exit_code, result.output, "data.cache_dir: cannot create the cache folder")
    assert "it is a file, not a folder" in result.output
    result = vae("train", config, "--runs-dir", tmp_path / "runs")
    assert_one_clean_line(result.exit_code, result.output, "it is a file, not a folder")
    assert list((tmp_path / "runs").iterdir()) == []  # the claimed run folder went with the failure


@pytest.mark.slow
def test_read_only_cache_dir(write_config, tmp_path):
    with mounted_tmpfs(tmp_path / "ro", size="1m", read_only=True) as cache:
        config = _folder_config(write_config, _tiny_folder(tmp_path / "photos"), cache)
        result = vae("data", "prepare", config)
        assert_one_clean_line(result.exit_code, result.output, f"cannot write in the cache folder {cache}")


@pytest.mark.slow
def test_a_runs_folder_whose_LATEST_is_a_folder_still_trains(write_config, tmp_path):
    # An older vaecli let `--name LATEST` make a run folder named LATEST; from then on every start crashed.
    runs = tmp_path / "runs"
    (runs / "LATEST").mkdir(parents=True)
    (runs / "LATEST" / "manifest.json").write_text("{}")
    result = vae("train", write_config(tiny_config(train={"epochs": 1})), "--runs-dir", runs, "-q")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert f"warning: cannot write {runs / 'LATEST'}: it is a folder" in result.output
    assert (runs / "tiny" / "decoder.keras").is_file() and (runs / "LATEST" / "manifest.json").is_file()
    result = vae("doctor", "--runs-dir", runs)
    assert result.exit_code == 1 and f"fix: mv {runs / 'LATEST'} {runs / 'LATEST'}-run" in result.output


def test_a_union_value_is_reported_by_its_key_not_pydantics_branch_names(write_config, tmp_path):
    data = {"source": "image_folder", "path": str(tmp_path), "crop": [1, 2, 3, True]}
    result = vae("config", "show", write_config(tiny_config(data=data)))
    assert result.exit_code == 2 and "data.crop.3: must be a whole number, not true/false" in result.output
    assert "literal[" not in result.output and "function-before" not in result.output
