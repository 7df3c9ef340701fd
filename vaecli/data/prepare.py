"""Prepare a data source ahead of training: build an image folder's cache with a progress bar.

`vae data prepare CONFIG` and `vae train` both come here; other sources need no preparation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.config import DataConfig
    from vaecli.data.cache import CacheInfo


def prepare_data(
    data_config: DataConfig, console: Console | None = None, quiet: bool = False, threads: int | None = None
) -> CacheInfo | None:
    """Build (or find) the cache of an image folder; prints its one-line summary. None for other sources."""
    if data_config.source != "image_folder":
        return None
    from vaecli.data.cache import find_or_build
    from vaecli.progress import counting_bar

    with counting_bar(console, "decoding images", "files", quiet) as progress:
        info = find_or_build(data_config, progress, threads)
    if console is not None and not quiet:
        console.print(info.summary(data_config.path), highlight=False, soft_wrap=True)
    return info
