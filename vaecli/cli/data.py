"""`vae data prepare`: build an image folder's cache ahead of training.

TensorFlow is imported only when the command runs (the cache is decoded by a tf.data pipeline
on the CPU), so a cache can be built on a machine without a GPU before training starts elsewhere.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from vaecli.cli.common import ConfigArgument, Overrides, console


def prepare(
    config_path: ConfigArgument,
    overrides: Overrides = [],  # noqa: B006
    threads: Annotated[
        Optional[int],
        typer.Option(
            "--threads", "-t", min=1, help="Decoding threads (default: about one per CPU core).", show_default=False
        ),
    ] = None,
) -> None:
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
    from vaecli.config import load_config
    from vaecli.data.prepare import prepare_data
    from vaecli.errors import ConfigError

    config = load_config(config_path, overrides)
    if config.data.source != "image_folder":
        raise ConfigError(
            f"{config_path}: data.source is {config.data.source}, which needs no preparation "
            f"(only image_folder is decoded into a cache)"
        )
    prepare_data(config.data, console, quiet=False, threads=threads)


GROUP = ("data", "Prepare data sets: decode an image folder into its cache ahead of training.", {"prepare": prepare})
