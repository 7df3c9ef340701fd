"""`vae decode`: the points of a latent file (.h5, .npy, .npz) -> a PNG grid (and optionally a .npy array).

runs/NAME/decoded/z_test_z_mean.png
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaecli.errors import LatentError
from vaecli.io.atomic import atomic_path, check_writable
from vaecli.latent.files import read_latents
from vaecli.progress import progress_bar
from vaecli.results import Result, output_path
from vaecli.runs.run import decode_latents

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.runs.run import Run

DECODE_LIMIT = 256  # points decoded by default: a readable grid, and bounded memory on a 200k-row file


@dataclass
class Decoding(Result):
    source: str  # FILE:DATASET the points came from
    points: np.ndarray  # (N, z_dim) float32
    images: np.ndarray  # (N, H, W, C) float32 in [0, 1]


def _refuse_same_file(array_target: Path, others: dict[Path, str]) -> None:
    """array_out must not overwrite the grid or the very file being decoded."""
    for other, what in others.items():
        if array_target.resolve() == Path(other).resolve():
            raise LatentError(f"array_out {array_target} is {what}; give the array its own file")


def decode_file(
    run: Run,
    file: str | Path,
    dataset: str | None = None,
    *,
    limit: int | None = DECODE_LIMIT,
    columns: int | None = None,
    save: bool = True,
    out: str | Path | None = None,
    array_out: str | Path | None = None,
    console: Console | None = None,
) -> Decoding:
    """Decode the points of a latent file (.h5, .npy, .npz) (`vae decode`): a Decoding; when save, a PNG grid and
    optionally a float32 .npy (array_out).

    Example:
        >>> decoding = run.decode_file("runs/quickstart/latent/z_test.h5", limit=64, save=False)
        >>> decoding.images.shape
        (64, 32, 32, 3)
    """
    from vaecli.images import make_grid, save_png

    if columns is not None and columns < 1:
        raise LatentError(f"columns must be at least 1, got {columns}", arguments=("columns",))
    points = read_latents(file, dataset, limit, z_dim=run.z_dim, run=f"run {run.paths.root}")
    name = f"{points.path.stem}_{points.dataset.replace('/', '_')}.png"
    target = output_path(out, run.paths.decoded, name)
    if save:  # before decoding: a folder, a read-only place or a path under a file is refused at once
        check_writable(target, "out" if out is not None else "")
        if array_out is not None:
            _refuse_same_file(Path(array_out), {target: "the PNG grid (out)", points.path: "the latent file"})
            check_writable(Path(array_out), "array_out")
    warnings = []
    if points.attrs.get("config_hash") not in (None, "", run.config_hash):
        warnings.append(
            f"{points.path} was written by run {points.attrs.get('run_path', '?')} (config "
            f"{points.attrs['config_hash']}); decoding it with {run.paths.root} (config "
            f"{run.config_hash})"
        )
    with progress_bar(console, len(points.values), "decoding") as advance:
        images = decode_latents(run, points.values, on_batch=advance)
    source = f"{points.path}:{points.dataset}"
    decoding = Decoding(
        source, points.values, images, warnings=warnings, summary=f"Decoded {len(images):,} points of {source}"
    )
    if not save:
        return decoding
    target = save_png(target, make_grid(images, columns))
    decoding.files = [target]
    if array_out is not None:
        array_target = Path(array_out)
        with atomic_path(array_target, suffix=".npy") as temporary, open(temporary, "wb") as handle:
            np.save(handle, images)
        decoding.files.append(array_target)
    also = f" and {array_out} (float32 {images.shape})" if array_out is not None else ""
    decoding.summary += f" -> {target}{also}"
    return decoding
