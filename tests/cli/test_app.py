"""The command line: help, config show, and user errors (exit 2, one line each, nothing written)."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from tests.helpers import tiny_config
from vaecli.cli import app

runner = CliRunner()


def test_the_registered_commands_keep_tensorflow_out_of_start_up():
    code = (
        "import sys; from vaecli.cli import app; "
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules or 'h5py' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


COMMANDS = [command.name for command in app.registered_commands if not command.hidden]


@pytest.mark.parametrize("args", [[command, "--help"] for command in COMMANDS] + [["config", "show", "--help"]])
def test_every_command_has_help_with_examples(args):
    assert sum(command.name == args[0] for command in app.registered_commands) <= 1
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Example" in result.output and f"vae {' '.join(args[:-1])}" in result.output


def test_top_level_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and all(command in result.output for command in COMMANDS)


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("vaecli ")


def test_config_show_prints_the_resolved_config(write_config):
    result = runner.invoke(app, ["config", "show", str(write_config(tiny_config())), "--set", "loss.kl_factor=1e-3"])
    assert result.exit_code == 0, result.output
    assert "kl_factor: 0.001" in result.output and "reduction: sum" in result.output  # defaults filled in


def test_bad_config_exits_2_with_one_line_per_problem_and_no_run_folder(write_config, tmp_path):
    path = write_config(tiny_config(model={"z_dim": -1, "zdim": 2}))
    result = runner.invoke(app, ["train", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 2 and "model.z_dim" in lines[0] + lines[1] and "model.zdim" in lines[0] + lines[1]
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train"], "missing CONFIG"),
        (["train", "missing.yaml"], "missing.yaml: config file not found"),
        (["train", "--resume", "runs/nothing_here"], "runs/nothing_here: no such run folder"),
        (["train", "--set", "model.z_dim=3", "--resume", "runs/x"], "give no CONFIG, --set or --name"),
        (["config", "show", "missing.yaml"], "config file not found"),
    ],
)
def test_user_errors_are_one_clear_line(args, fragment):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert fragment in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "overrides, field",
    [
        (["loss.warmup_epochs=-1"], "loss.warmup_epochs"),
        (["loss.free_bits=-0.1"], "loss.free_bits"),
        (["loss.cycle_ratio=0"], "loss.cycle_ratio"),
        (["loss.cycle_ratio=1.5"], "loss.cycle_ratio"),
        (["loss.kl_schedule=linear"], "loss.kl_schedule"),
        (["loss.capacity.gamma=100"], "loss.capacity.max_nats"),
        (["loss.capacity.max_nats=20", "loss.capacity.epochs=-3"], "loss.capacity.epochs"),
        (["loss.capacity.max_nats=20", "loss.kl_schedule=warmup"], "loss.capacity"),
        (["model.kind=ae", "loss.kl_schedule=cyclical"], "loss.kl_schedule"),
        (["model.kind=ae", "loss.free_bits=0.5"], "loss.free_bits"),
    ],
)
def test_bad_kl_settings_are_one_line_naming_the_field(write_config, tmp_path, overrides, field):
    sets = [item for override in overrides for item in ("--set", override)]
    result = runner.invoke(app, ["train", str(write_config(tiny_config())), *sets, "--runs-dir", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{field}:" in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "r").exists()


def test_missing_data_set_exits_2_and_leaves_no_run_folder(write_config, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    config = tiny_config(
        data={"source": "cifar10", "image_size": None, "path": str(tmp_path / "nowhere")},
        model={"encoder": {"filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2]}},
    )
    result = runner.invoke(app, ["train", str(write_config(config)), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2, result.output
    assert "holds no CIFAR-10 batches" in result.output
    assert not (tmp_path / "runs" / "tiny").exists()


def test_existing_run_folder_is_refused_without_force(write_config, tmp_path):
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    result = runner.invoke(app, ["train", str(write_config(tiny_config())), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and "already exists" in result.output and "--resume" in result.output
    # --force only removes folders that are runs.
    result = runner.invoke(
        app, ["train", str(write_config(tiny_config())), "--runs-dir", str(tmp_path / "runs"), "--force"]
    )
    assert result.exit_code == 2 and "not a run folder" in result.output


def test_each_short_option_means_one_thing_in_every_command():
    """-n is the number of points everywhere, -b the box boundary, -o the output file, ...: one meaning per letter."""
    import typer.main

    meanings: dict[str, set[str]] = {}

    def walk(command, path):
        for parameter in getattr(command, "params", []):
            if parameter.param_type_name != "option":
                continue
            shorts = [name for name in parameter.opts if not name.startswith("--")]
            longs = [name for name in parameter.opts if name.startswith("--")]
            for short in shorts:
                meanings.setdefault(short, set()).add(longs[0])
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "vae")
    assert {short: names for short, names in meanings.items() if len(names) > 1} == {}
    assert meanings["-n"] == {"--n-samples"} and meanings["-b"] == {"--boundary"} and meanings["-s"] == {"--set"}


def test_help_texts_survive_rich_markup():
    """Help is rendered as Rich markup: "[default: 3]" would vanish as a tag and "H:M:S" turn into an emoji."""
    import typer.main
    from rich.text import Text

    mangled = []

    def walk(command, path):
        texts = [command.help or ""] + [getattr(parameter, "help", None) or "" for parameter in command.params]
        for text in texts:
            if Text.from_markup(text, emoji=True).plain != text:
                mangled.append(f"{path}: {text[:80]}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "vae")
    assert mangled == []
