"""`vae data ...`: data-set commands. `vae data prepare CONFIG` builds an image folder's cache ahead of time.

cli.py calls register(app) once. TensorFlow is imported only when a command runs (the cache
is decoded by a tf.data pipeline on the CPU), so `vae --help` stays instant; a cache can be
built on a machine without a GPU before training starts elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

DATA_HELP = "Prepare data sets: decode an image folder into its cache ahead of training."


def prepare(
    config_path: Path = typer.Argument(..., metavar="CONFIG", help="Experiment config (YAML)."),
    overrides: List[str] = typer.Option([], "--set", "-s", help="Override a config value, e.g. --set "
                                        "data.image_size=64 (repeatable; values are read as YAML)."),
    threads: Optional[int] = typer.Option(None, "--threads", "-t", min=1, help="Decoding threads (default: "
                                          "about one per CPU core)."),
):
    """Decode the config's image folder into its uint8 cache (no training).

    Crops, resizes and converts every image as the config says, in
    parallel, and writes one HDF5 file keyed by a fingerprint of the file
    list and the settings: an unchanged folder is reused at once, a
    changed folder or setting builds a new cache. Unreadable files are
    skipped and listed in a log beside the cache. `vae train` builds the
    cache itself when it is missing; this command does it ahead of time.

    Examples:

      vae data prepare configs/celeba_z200.yaml

      vae data prepare configs/celeba_z200.yaml --set data.path=/data/celeba/img_align_celeba

      vae data prepare configs/celeba_z200.yaml --threads 4     # leave cores for other work
    """
    from vaecli.cli import console
    from vaecli.config import load_config
    from vaecli.data.prepare import prepare_data
    from vaecli.errors import ConfigError

    config = load_config(config_path, overrides)
    if config.data.source != "image_folder":
        raise ConfigError(f"{config_path}: data.source is {config.data.source}, which needs no preparation "
                          f"(only image_folder is decoded into a cache)")
    prepare_data(config.data, console, quiet=False, threads=threads)


COMMANDS = {"prepare": prepare}


def register(app: typer.Typer) -> None:
    """Add the `data` command group to the `vae` app (cli.py calls this once)."""
    from vaecli.cli import user_errors

    data_app = typer.Typer(help=DATA_HELP, no_args_is_help=True)
    for name, command in COMMANDS.items():
        data_app.command(name)(user_errors(command))
    app.add_typer(data_app, name="data")
