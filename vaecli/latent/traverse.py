"""`vae traverse`: vary single latent dimensions (or blocks) around the encoding of one image.

runs/NAME/explore/traverse_test5_topkl8.png + .h5      one row per dimension or block, and the points
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vaecli.errors import LatentError
from vaecli.latent.files import write_latent_file
from vaecli.latent.geometry import block_label, group_dimensions, parse_dimensions, traversal_grid
from vaecli.latent.stats import dimensions_by_information
from vaecli.results import Result, output_path, with_suffix
from vaecli.runs.run import decode_latents, encode_images, encode_with_progress, load_split

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.data.splits import ImageSplit
    from vaecli.runs.run import Run

TRAVERSE_ALL_UP_TO = 16  # with neither --dims nor --top-kl: every dimension up to this z_dim, else the top 16
TOP_KL_IMAGES = 2000  # images encoded to rank dimensions by KL: enough for a stable ranking, quick to encode


@dataclass
class Traversal(Result):
    centre: np.ndarray  # (z_dim,) the image's z_mean
    blocks: list[tuple[int, ...]]  # the dimensions varied together in each row
    offsets: np.ndarray  # (steps,) added to the centre
    grid: np.ndarray  # (rows, steps, z_dim) the points
    images: np.ndarray  # (rows, steps, H, W, C) float32 in [0, 1], decoded from grid
    original: np.ndarray  # (H, W, C) uint8, the image itself


def _choose_dimensions(
    run: Run,
    dims: str | Sequence[int] | None,
    top_kl: int | None,
    chosen: ImageSplit,
    split: str,
    console: Console | None,
) -> tuple[list[int], str, str]:
    """(dimensions, file-name tag, how they were chosen); chosen is the split's ImageSplit."""
    if dims is not None and top_kl is not None:
        raise LatentError("give dims or top_kl, not both", arguments=("dims", "top_kl"))
    if dims is not None:
        text = dims if isinstance(dims, str) else ",".join(str(int(dimension)) for dimension in dims)
        return parse_dimensions(text, run.z_dim), "dims" + text.replace(",", "_"), f"dimensions {text}"
    if top_kl is None and run.z_dim <= TRAVERSE_ALL_UP_TO:
        return list(range(run.z_dim)), "all", "every dimension"
    count = TRAVERSE_ALL_UP_TO if top_kl is None else top_kl
    if not 1 <= count <= run.z_dim:
        raise LatentError(f"top_kl must be between 1 and z_dim ({run.z_dim}), got {count}", arguments=("top_kl",))
    z_mean, z_log_var = encode_with_progress(run, chosen.images[:TOP_KL_IMAGES], console, "ranking dimensions")
    order, measure = dimensions_by_information(z_mean, z_log_var)
    return (
        [int(dimension) for dimension in order[:count]],
        f"topkl{count}",
        f"the {count} dimensions with the most {measure} over {len(z_mean)} {split} images",
    )


def traverse(
    run: Run,
    index: int,
    *,
    split: str = "test",
    dims: str | Sequence[int] | None = None,
    top_kl: int | None = None,
    value_range: tuple[float, float] = (-3.0, 3.0),
    steps: int = 9,
    block: int = 1,
    save: bool = False,
    out: str | Path | None = None,
    console: Console | None = None,
) -> Traversal:
    """Vary single latent dimensions (or blocks) around an image's encoding (`vae traverse`): a Traversal, one row
    per dimension, offsets in value_range.

    Example:
        >>> traversal = run.traverse(5, top_kl=8)
        >>> traversal.images.shape
        (8, 9, 32, 32, 3)
    """
    if steps < 2:
        raise LatentError(f"steps must be at least 2, got {steps}", arguments=("steps",))
    chosen, _, _, _ = load_split(run, split)
    if not 0 <= index < len(chosen):
        raise LatentError(
            f"index {index}: the {split} split has {len(chosen)} images (0..{len(chosen) - 1})", arguments=("index",)
        )
    dimensions, tag, how = _choose_dimensions(run, dims, top_kl, chosen, split, console)
    blocks = group_dimensions(dimensions, block)
    offsets = np.linspace(value_range[0], value_range[1], steps)
    original = chosen.images[index]
    z_mean, _ = encode_images(run, original[None])
    grid = traversal_grid(z_mean[0], blocks, offsets)
    decoded = decode_latents(run, grid.reshape(-1, run.z_dim)).reshape(len(blocks), steps, *run.image_shape)
    traversal = Traversal(z_mean[0], blocks, offsets, grid, decoded, original)
    traversal.summary = (
        f"Traversed {len(blocks)} {'blocks' if block > 1 else 'dimensions'} x {steps} steps around "
        f"{split} image {index} with {run.paths.root}"
    )
    if save:
        _save(run, traversal, split, index, tag, how, block, value_range, out)
    return traversal


def _save(
    run: Run,
    traversal: Traversal,
    split: str,
    index: int,
    tag: str,
    how: str,
    block: int,
    value_range: tuple[float, float],
    out: str | Path | None,
) -> None:
    from vaecli.figures import labelled_rows

    rows = [np.concatenate([traversal.original[None] / 255.0, row]) for row in traversal.images]
    block_tag = f"_block{block}" if block > 1 else ""
    name = f"traverse_{split}{index}_{tag}{block_tag}.png"
    title = (
        f"{run.paths.name}: {split} image {index}, offsets {value_range[0]:g}..{value_range[1]:g} added to "
        f"{'blocks of ' + str(block) if block > 1 else 'single'} dimensions ({how})"
    )
    column_labels = ["input"] + [f"{offset:+.3g}" for offset in traversal.offsets]
    picture = labelled_rows(
        output_path(out, run.paths.explore, name),
        rows,
        [block_label(item) for item in traversal.blocks],
        title,
        column_labels,
    )
    points_file = write_latent_file(
        with_suffix(picture, ".h5"),
        {"z": traversal.grid.reshape(-1, run.z_dim), "z_mean": traversal.centre[None]},
        attrs={
            **run.provenance(),
            "kind": "traversal",
            "split": split,
            "index": index,
            "blocks": [list(item) for item in traversal.blocks],
            "offsets": traversal.offsets.tolist(),
        },
    )
    traversal.files = [picture, points_file]
    traversal.summary += f" -> {picture} (points in {points_file.name})"
