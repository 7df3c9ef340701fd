"""The `vae` command line. Parses, loads the config, calls one library function, prints.

No TensorFlow at import time: `vae --help` answers instantly; commands import what they need.
"""

from __future__ import annotations

from functools import wraps
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from vaecli import __version__
from vaecli.errors import ConfigError, VaeError

console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)

app = typer.Typer(
    name="vae",
    help="Train, encode, decode and sample autoencoders and VAEs on images, from YAML experiment configs.\n\n"
         "Example: vae train configs/quickstart.yaml",
    no_args_is_help=True, add_completion=False, rich_markup_mode="rich", pretty_exceptions_enable=False)
config_app = typer.Typer(help="Inspect experiment configs.", no_args_is_help=True)
app.add_typer(config_app, name="config")

SET_HELP = "Override a config value, e.g. --set loss.kl_factor=1e-3 (repeatable; values are read as YAML)."


def user_errors(command):
    """Turn VaeError into red lines on stderr and its exit code: no traceback for user mistakes."""
    @wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except VaeError as error:
            for line in error.lines:
                error_console.print(f"[red]error:[/red] {line}" if line is error.lines[0] else f"  {line}",
                                    highlight=False)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:  # Ctrl-C before anything was started: nothing to clean up
            error_console.print("[red]error:[/red] interrupted")
            raise typer.Exit(130) from None
    return wrapper


def _version(value: bool):
    if value:
        console.print(f"vaecli {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Print the version and exit.")):
    """vae: autoencoder and VAE experiments on images."""


@app.command()
@user_errors
def train(
    config_path: Optional[Path] = typer.Argument(None, metavar="CONFIG", help="Experiment config (YAML)."),
    overrides: List[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    name: Optional[str] = typer.Option(None, "--name", "-n", help="Run name (default: the config's name)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Folder that holds run folders."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue the run in this folder from its last "
                                                                  "checkpoint (no CONFIG needed)."),
    force: bool = typer.Option(False, "--force", help="Replace an existing run folder of the same name."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or per-epoch lines."),
):
    """Train the model a config describes and write a run folder runs/NAME.

    The run folder holds the resolved config, manifest.json, metrics,
    TensorBoard logs, checkpoints, final encoder.keras / decoder.keras
    and PNG grids. An existing folder is never overwritten.

    Examples:

      vae train configs/quickstart.yaml

      vae train configs/fashion_mnist_z32.yaml --set loss.kl_factor=1e-3
      --name fmnist_kl1e-3

      vae train --resume runs/fmnist_kl1e-3
    """
    from vaecli.config import load_config
    from vaecli.runs import existing_run, final_losses, is_completed, prepare_new_run

    if resume is not None:
        if config_path is not None or overrides or name:
            raise ConfigError("--resume continues a run with its own config; give no CONFIG, --set or --name with it")
        paths = existing_run(resume)
        if is_completed(paths):
            console.print(f"{paths.root} is already COMPLETED; nothing to do.")
            return
        config = load_config(paths.config)
    else:
        if config_path is None:
            raise ConfigError("missing CONFIG: give an experiment config (e.g. configs/quickstart.yaml) "
                              "or --resume RUN")
        config = load_config(config_path, overrides + ([f"name={name}"] if name else []))
        paths = prepare_new_run(runs_dir, config.name, force)

    from vaecli.training import train as train_run

    if not quiet:
        console.print(f"{'Resuming' if resume else 'Training'} [bold]{paths.root}[/bold] "
                      f"({config.model.kind}, z_dim {config.model.z_dim}, {config.data.source}, "
                      f"{config.train.epochs} epochs)", highlight=False)
    manifest = train_run(config, paths, resume=resume is not None, console=console, quiet=quiet)
    losses = final_losses(manifest)
    console.print(f"Run {paths.root} {manifest['status']}: {manifest['epochs_completed']} epochs"
                  f"{', ' + losses if losses else ''}; models in {paths.encoder.name}, {paths.decoder.name}",
                  highlight=False)


@config_app.command("show")
@user_errors
def config_show(
    config_path: Path = typer.Argument(..., metavar="CONFIG", help="Experiment config (YAML)."),
    overrides: List[str] = typer.Option([], "--set", "-s", help=SET_HELP),
):
    """Print the resolved config: the file, its overrides and every
    default, as YAML.

    Example: vae config show configs/quickstart.yaml --set model.z_dim=64
    """
    from vaecli.config import load_config

    print(load_config(config_path, overrides).to_yaml(), end="")


# The latent-space commands (encode, decode, sample, ...) live in their own module.
from vaecli.cli_latent import register as register_latent_commands  # noqa: E402

register_latent_commands(app)

# Measuring commands (evaluate, compare, sweep, report).
from vaecli.cli_measure import register as register_measure_commands  # noqa: E402

register_measure_commands(app)

# Data commands (vae data prepare).
from vaecli.cli_data import register as register_data_commands  # noqa: E402

register_data_commands(app)

if __name__ == "__main__":
    app()
