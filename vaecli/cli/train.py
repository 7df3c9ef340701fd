"""`vae train` and `vae config show`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaecli.cli.common import ConfigArgument, Overrides, Quiet, RunsDir, console, say


def train(
    config: Annotated[
        Optional[Path], typer.Argument(metavar="CONFIG", help="Experiment config (YAML).", show_default=False)
    ] = None,
    overrides: Overrides = [],  # noqa: B006  (Typer reads the default; it is never mutated)
    name: Annotated[
        Optional[str], typer.Option("--name", help="Run name (default: the config's name).", show_default=False)
    ] = None,
    runs_dir: RunsDir = Path("runs"),
    resume: Annotated[
        Optional[Path],
        typer.Option(
            "--resume",
            help="Continue the run in this folder from its last checkpoint (no CONFIG needed).",
            show_default=False,
        ),
    ] = None,
    from_checkpoint: Annotated[
        Optional[int],
        typer.Option(
            "--from-checkpoint",
            min=0,
            metavar="EPOCH",
            help="With --resume: continue from the intact checkpoint of this epoch (last.h5 or previous.h5), "
            "training later epochs again. vae doctor names the epochs that are intact.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run folder of the same name.")] = False,
    quiet: Quiet = False,
) -> None:
    """Train the model a config describes and write a run folder runs/NAME.

    The run folder holds the resolved config, manifest.json, metrics,
    TensorBoard logs, checkpoints, final encoder.keras / decoder.keras
    and PNG grids. An existing folder is never overwritten.

    Examples:

      vae train configs/quickstart.yaml

      vae train configs/fashion_mnist_z32.yaml --set loss.kl_factor=1e-3
      --name fmnist_kl1e-3

      vae train --resume runs/fmnist_kl1e-3

      vae train --resume runs/fmnist_kl1e-3 --from-checkpoint 4
    """
    from vaecli.api import train as train_run
    from vaecli.runs import final_losses

    run = train_run(
        config,
        overrides=overrides,
        name=name,
        runs_dir=runs_dir,
        resume=resume,
        force=force,
        from_checkpoint=from_checkpoint,
        quiet=quiet,
        console=console,
    )
    manifest = run.manifest
    losses = final_losses(manifest)
    say(
        f"Run {run.paths.root} {manifest.status}: {manifest.epochs_completed} epochs"
        f"{', ' + losses if losses else ''}; models in {run.paths.encoder.name}, {run.paths.decoder.name}"
    )


def config_show(config_path: ConfigArgument, overrides: Overrides = []) -> None:  # noqa: B006
    """Print the resolved config: the file, its overrides and every
    default, as YAML.

    Example: vae config show configs/quickstart.yaml --set model.z_dim=64
    """
    from vaecli.config import load_config

    print(load_config(config_path, overrides).to_yaml(), end="")


COMMANDS = {"train": train}
CONFIG_GROUP = ("config", "Inspect experiment configs.", {"show": config_show})
