"""Config loading, overrides, and a corpus of bad configs with the message each must give."""

import pytest
import yaml

from tests.helpers import ROOT, tiny_config
from vaecli.config import ExperimentConfig, load_config, validate
from vaecli.errors import ConfigError
from vaecli.io.yaml_config import apply_overrides, parse_scalar


def test_defaults_are_complete_and_frozen():
    config = validate({})
    assert config.model.kind == "vae" and config.loss.reconstruction == "bce" and config.loss.reduction == "sum"
    with pytest.raises(Exception):  # noqa: B017  (pydantic's frozen-instance error)
        config.model.z_dim = 3  # frozen


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1e-3", 0.001),
        ("1.0e-3", 0.001),
        ("-2E4", -20000.0),
        ("3", 3),
        ("true", True),
        ("[1, 2]", [1, 2]),
        ("relu", "relu"),
        ("null", None),
        (".5", 0.5),
    ],
)
def test_set_values_are_read_as_yaml_scalars(text, expected):
    value = parse_scalar(text)
    assert value == expected and type(value) is type(expected)


def test_overrides_reach_nested_keys_and_file_floats_parse(write_config):
    path = write_config(tiny_config())
    path.write_text(path.read_text() + "\n")
    config = load_config(path, ["loss.kl_factor=1e-3", "model.z_dim=7", "train.schedule=cosine"])
    assert config.loss.kl_factor == 0.001 and isinstance(config.loss.kl_factor, float)
    assert config.model.z_dim == 7 and config.train.schedule == "cosine"


def test_yaml_file_with_exponent_float(write_config):
    path = write_config(tiny_config())
    path.write_text(path.read_text().replace("learning_rate: 0.003", "learning_rate: 3e-3"))
    assert load_config(path).train.learning_rate == 0.003


def test_resolved_config_round_trips(write_config):
    config = load_config(write_config(tiny_config()))
    assert ExperimentConfig.model_validate(yaml.safe_load(config.to_yaml())) == config


BAD_CONFIGS = [
    # (change to the tiny config, expected message fragments)
    ({"model": {"zdim": 3}}, ["model.zdim: unknown key (did you mean 'z_dim'?)"]),
    ({"trian": {}}, ["trian: unknown key (did you mean 'train'?)"]),
    ({"model": {"z_dim": 0}}, ["model.z_dim: Input should be greater than or equal to 1 (got 0)"]),
    ({"model": {"z_dim": "big"}}, ["model.z_dim: Input should be a valid integer"]),
    ({"model": {"kind": "gan"}}, ["model.kind: Input should be 'vae' or 'ae'"]),
    ({"model": {"activation": "tanh"}}, ["model.activation: Input should be 'leaky_relu', 'relu' or 'selu'"]),
    ({"model": {"dropout": 1.5}}, ["model.dropout: Input should be less than 1"]),
    ({"loss": {"reconstruction": "l1"}}, ["loss.reconstruction: Input should be 'bce' or 'mse'"]),
    ({"loss": {"kl_factor": -1}}, ["loss.kl_factor: Input should be greater than or equal to 0"]),
    (
        {"train": {"epochs": 0, "batch_size": -1}},
        [
            "train.epochs: Input should be greater than or equal to 1",
            "train.batch_size: Input should be greater than or equal to 1",
        ],
    ),
    ({"train": {"schedule": "linear"}}, ["train.schedule: Input should be 'constant', 'step' or 'cosine'"]),
    ({"train": {"validation_split": 1.0}}, ["train.validation_split: Input should be less than 1"]),
    ({"data": {"source": "imagenet"}}, ["data: unknown data source 'imagenet' (known: synthetic, mnist"]),
    ({"data": {"source": "mnist"}}, ["data: mnist images are 28x28; remove image_size or set it to 28"]),
    ({"name": "a b/c"}, ["name: 'a b/c' is not a usable run name"]),
    (
        {"model": {"encoder": {"filters": [8, 16], "kernel_sizes": [3], "strides": [2, 2]}}},
        ["model.encoder: filters, kernel_sizes and strides must have the same length (got 2, 1, 2)"],
    ),
    (
        {"model": {"decoder": {"filters": [16, 3], "kernel_sizes": [3, 3], "strides": [2, 1]}}},
        ["model.decoder.strides: the decoder would output 8x8 images but the data is 16x16"],
    ),
    (
        {"model": {"decoder": {"filters": [16, 1], "kernel_sizes": [3, 3], "strides": [2, 2]}}},
        ["model.decoder.filters: the last layer must have 3 filter(s), one per image channel of synthetic, got 1"],
    ),
    (
        {"model": {"encoder": {"filters": [8, 16, 16], "kernel_sizes": [3, 3, 3], "strides": [2, 2, 3]}}},
        ["model.encoder.strides: their product 12 must divide the image size 16x16"],
    ),
    (
        {"model": {"encoder": {"filters": [8, 0], "kernel_sizes": [3, 3], "strides": [2, 2]}}},
        ["model.encoder.filters: every value must be at least 1"],
    ),
]


@pytest.mark.parametrize("change, expected", BAD_CONFIGS)
def test_bad_config_names_each_problem(write_config, change, expected):
    config = tiny_config()
    for section, values in change.items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **values}
        else:
            config[section] = values
    path = write_config(config)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert len(error.value.lines) == len(expected), error.value.lines
    for line, fragment in zip(error.value.lines, expected):
        assert line.startswith(f"{path}: ")
        assert fragment in line, line


def test_missing_file_invalid_yaml_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model:\n  z_dim: [1, 2\n")
    with pytest.raises(ConfigError, match=r"invalid YAML \(line \d+, column \d+\)"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listing)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("model.z_dim", "expected KEY=VALUE"),
        ("=3", "expected KEY=VALUE"),
        ("model.z_dim.x=3", "model.z_dim is a value, not a section"),
        ("model.zz=3", "model.zz: unknown key"),
    ],
)
def test_bad_overrides(write_config, override, fragment):
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tiny_config()), [override])
    assert fragment in "\n".join(error.value.lines)


def test_apply_overrides_does_not_mutate_input():
    data = {"model": {"z_dim": 2}}
    assert apply_overrides(data, ["model.z_dim=5"]) == {"model": {"z_dim": 5}}
    assert data == {"model": {"z_dim": 2}}


def test_shipped_configs_are_valid_and_say_how_to_run_them():

    configs = sorted((ROOT / "configs").glob("*.yaml"))
    assert {"quickstart.yaml", "mnist_z2.yaml", "fashion_mnist_z32.yaml", "cifar10_z128.yaml"} <= {
        path.name for path in configs
    }
    for path in configs:
        config = load_config(path)
        assert path.read_text().startswith(f"# vae train configs/{path.name}\n"), path
        assert config.name == path.stem
