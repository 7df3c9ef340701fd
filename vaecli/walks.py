"""interpolate and traverse: walks through the latent space starting from encoded images.

    runs/NAME/explore/interpolate_test3_test17_slerp.png + .h5   the strip and its latent path
    runs/NAME/explore/traverse_test5_topkl8.png + .h5            one row per dimension or block
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaecli.explore import CommandResult, encode_with_progress, load_split, output_path, with_suffix
from vaecli.latent import (INTERPOLATIONS, LatentError, block_label, group_dimensions, parse_dimensions,
                           traversal_grid)
from vaecli.latent_files import write_latent_file
from vaecli.latent_stats import dimensions_by_information
from vaecli.trained import TrainedRun, decode_latents, encode_images

TRAVERSE_ALL_UP_TO = 16  # with neither --dims nor --top-kl: every dimension up to this z_dim, else the top 16
TOP_KL_IMAGES = 2000  # images encoded to rank dimensions by KL: enough for a stable ranking, quick to encode


def load_image_file(path: Path, image_shape: tuple[int, int, int]) -> np.ndarray:
    """An image file as the run's uint8 (H, W, C): centre-cropped to its aspect ratio, then resized."""
    from PIL import Image, UnidentifiedImageError

    height, width, channels = image_shape
    try:
        with Image.open(path) as opened:
            image = opened.convert("L" if channels == 1 else "RGB")
    except (OSError, UnidentifiedImageError) as error:
        raise LatentError(f"{path}: not a readable image ({error})") from None
    crop_width = min(image.width, round(image.height * width / height))
    crop_height = min(image.height, round(image.width * height / width))
    left, top = (image.width - crop_width) // 2, (image.height - crop_height) // 2
    image = image.crop((left, top, left + crop_width, top + crop_height)).resize((width, height), Image.LANCZOS)
    return np.asarray(image, np.uint8).reshape(height, width, channels)


def _is_index(text: str) -> bool:
    return text.lstrip("-").isdigit()


def resolve_endpoint(trained: TrainedRun, text: str, chosen, split: str, option: str) -> tuple[np.ndarray, str]:
    """(uint8 image, short name for file names) for an index into the split or an image file."""
    if _is_index(text):
        index = int(text)
        if not 0 <= index < len(chosen):
            raise LatentError(f"{option} {text}: the {split} split has {len(chosen)} images (indices 0.."
                              f"{len(chosen) - 1})")
        return chosen.images[index], f"{split}{index}"
    path = Path(text)
    if not path.is_file():
        raise LatentError(f"{option} {text}: neither an index into the {split} split nor an image file")
    return load_image_file(path, trained.image_shape), path.stem


def interpolate(trained: TrainedRun, start: str, end: str, split: str = "test", steps: int = 10,
                method: str = "linear", out: str | Path | None = None) -> CommandResult:
    """Decode `steps` points from the encoding of start to that of end; originals at both ends."""
    from vaecli.images import make_grid, save_png

    if method not in INTERPOLATIONS:
        raise LatentError(f"unknown --method {method!r} (choose from {', '.join(INTERPOLATIONS)})")
    chosen = load_split(trained, split)[0] if _is_index(start) or _is_index(end) else None
    first, first_name = resolve_endpoint(trained, start, chosen, split, "--from")
    last, last_name = resolve_endpoint(trained, end, chosen, split, "--to")
    z_mean, _ = encode_images(trained, np.stack([first, last]))
    path = INTERPOLATIONS[method](z_mean[0], z_mean[1], steps)
    decoded = decode_latents(trained, path)
    strip = np.concatenate([first[None] / 255.0, decoded, last[None] / 255.0])
    name = f"interpolate_{first_name}_{last_name}_{method}.png"
    picture = save_png(output_path(out, trained.paths.explore, name), make_grid(strip, columns=len(strip)))
    points_file = write_latent_file(with_suffix(picture, ".h5"), {"z": path, "z_mean": z_mean},
                                    attrs={**trained.provenance(), "kind": "interpolation", "method": method,
                                           "from": start, "to": end, "split": split, "steps": steps})
    summary = (f"Interpolated {first_name} -> {last_name} ({method}, {steps} steps) with {trained.paths.root} "
               f"-> {picture} (path in {points_file.name})")
    return CommandResult(summary, [picture, points_file], {"path": path, "endpoints": z_mean})


def _choose_dimensions(trained: TrainedRun, dims: str | None, top_kl: int | None, chosen, split: str,
                       console) -> tuple[list[int], str, str]:
    """(dimensions, file-name tag, how they were chosen); chosen is the split's ImageSplit."""
    if dims is not None and top_kl is not None:
        raise LatentError("give --dims or --top-kl, not both")
    if dims is not None:
        return parse_dimensions(dims, trained.z_dim), "dims" + dims.replace(",", "_"), f"dimensions {dims}"
    if top_kl is None and trained.z_dim <= TRAVERSE_ALL_UP_TO:
        return list(range(trained.z_dim)), "all", "every dimension"
    count = TRAVERSE_ALL_UP_TO if top_kl is None else top_kl
    if not 1 <= count <= trained.z_dim:
        raise LatentError(f"--top-kl must be between 1 and z_dim ({trained.z_dim}), got {count}")
    z_mean, z_log_var = encode_with_progress(trained, chosen.images[:TOP_KL_IMAGES], console, "ranking dimensions")
    order, measure = dimensions_by_information(z_mean, z_log_var)
    return [int(dimension) for dimension in order[:count]], f"topkl{count}", \
        f"the {count} dimensions with the most {measure} over {len(z_mean)} {split} images"


def traverse(trained: TrainedRun, index: int, split: str = "test", dims: str | None = None,
             top_kl: int | None = None, value_range: tuple[float, float] = (-3.0, 3.0), steps: int = 9,
             block: int = 1, out: str | Path | None = None, console=None) -> CommandResult:
    """Add offsets in value_range to single dimensions (or blocks) of an image's encoding; one row each."""
    from vaecli.figures import labelled_rows

    if steps < 2:
        raise LatentError(f"--steps must be at least 2, got {steps}")
    chosen, _, _, _ = load_split(trained, split)
    if not 0 <= index < len(chosen):
        raise LatentError(f"--index {index}: the {split} split has {len(chosen)} images (0..{len(chosen) - 1})")
    dimensions, tag, how = _choose_dimensions(trained, dims, top_kl, chosen, split, console)
    blocks = group_dimensions(dimensions, block)
    offsets = np.linspace(value_range[0], value_range[1], steps)
    original = chosen.images[index]
    z_mean, _ = encode_images(trained, original[None])
    grid = traversal_grid(z_mean[0], blocks, offsets)
    decoded = decode_latents(trained, grid.reshape(-1, trained.z_dim)).reshape(len(blocks), steps,
                                                                               *trained.image_shape)
    rows = [np.concatenate([original[None] / 255.0, row]) for row in decoded]
    block_tag = f"_block{block}" if block > 1 else ""
    name = f"traverse_{split}{index}_{tag}{block_tag}.png"
    title = (f"{trained.paths.name}: {split} image {index}, offsets {value_range[0]:g}..{value_range[1]:g} added to "
             f"{'blocks of ' + str(block) if block > 1 else 'single'} dimensions ({how})")
    column_labels = ["input"] + [f"{offset:+.3g}" for offset in offsets]
    picture = labelled_rows(output_path(out, trained.paths.explore, name), rows,
                            [block_label(item) for item in blocks], title, column_labels)
    points_file = write_latent_file(with_suffix(picture, ".h5"), {"z": grid.reshape(-1, trained.z_dim),
                                                                  "z_mean": z_mean},
                                    attrs={**trained.provenance(), "kind": "traversal", "split": split,
                                           "index": index, "blocks": [list(item) for item in blocks],
                                           "offsets": offsets.tolist()})
    summary = (f"Traversed {len(blocks)} {'blocks' if block > 1 else 'dimensions'} x {steps} steps around {split} "
               f"image {index} with {trained.paths.root} -> {picture} (points in {points_file.name})")
    return CommandResult(summary, [picture, points_file], {"blocks": blocks, "grid": grid, "centre": z_mean[0]})
