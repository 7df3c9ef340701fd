"""`vae interpolate`: decode a path between the encodings of two images, originals at the ends.

runs/NAME/explore/interpolate_test3_test17_slerp.png + .h5      the strip and its latent path
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard, cast

import numpy as np

from vaecli.errors import LatentError
from vaecli.latent.files import write_latent_file
from vaecli.latent.geometry import INTERPOLATIONS
from vaecli.results import Result, output_path, with_suffix
from vaecli.runs.run import decode_latents, encode_images, load_split

if TYPE_CHECKING:
    from vaecli.data.splits import ImageSplit
    from vaecli.runs.run import Run


@dataclass
class Interpolation(Result):
    method: str
    endpoints: np.ndarray  # (2, z_dim) z_mean of the two images
    path: np.ndarray  # (steps, z_dim) the decoded points, both endpoints included
    images: np.ndarray  # (steps, H, W, C) float32 in [0, 1]
    originals: np.ndarray  # (2, H, W, C) uint8, the two images


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
    image = image.crop((left, top, left + crop_width, top + crop_height)).resize(
        (width, height), Image.Resampling.LANCZOS
    )
    return np.asarray(image, np.uint8).reshape(height, width, channels)


def _is_index(value: object) -> TypeGuard[int | np.integer | str]:
    return isinstance(value, (int, np.integer)) or (isinstance(value, str) and value.lstrip("-").isdigit())


def resolve_endpoint(
    run: Run, value: int | str | Path | np.ndarray, chosen: ImageSplit | None, split: str, argument: str
) -> tuple[np.ndarray, str]:
    """(uint8 image, short name for file names) for an index into the split, an image file or an image array;
    argument: the caller's name for value (start or end)."""
    if isinstance(value, np.ndarray):
        from vaecli.images import checked_images, to_uint8

        if value.ndim != 3:
            raise LatentError(
                f"{argument}: an image array must have the run's shape {run.image_shape}, got {value.shape}",
                arguments=(argument,),
            )
        return to_uint8(checked_images(value, run.image_shape, name=f"{argument} image")[0]), "array"
    if _is_index(value):
        assert chosen is not None  # the caller loads the split whenever an endpoint is an index
        index = int(value)
        if not 0 <= index < len(chosen):
            raise LatentError(
                f"{argument} {value}: the {split} split has {len(chosen)} images (indices 0..{len(chosen) - 1})",
                arguments=(argument,),
            )
        return chosen.images[index], f"{split}{index}"
    path = Path(cast("str | Path", value))  # an int is an index (above)
    if not path.is_file():
        raise LatentError(
            f"{argument} {value}: neither an index into the {split} split nor an image file", arguments=(argument,)
        )
    return load_image_file(path, run.image_shape), path.stem


def interpolate(
    run: Run,
    start: int | str | Path | np.ndarray,
    end: int | str | Path | np.ndarray,
    *,
    steps: int = 10,
    method: str = "linear",
    split: str = "test",
    save: bool = False,
    out: str | Path | None = None,
) -> Interpolation:
    """Decode `steps` points on a path between the encodings of two images (`vae interpolate`): an Interpolation;
    when save, the strip and the path.

    start and end are each an index into split, an image file, or an image array (H, W, C).

    Example:
        >>> walk = run.interpolate(3, 17, method="slerp")
        >>> walk.path.shape, walk.images.shape
        ((10, 32), (10, 32, 32, 3))
    """
    if method not in INTERPOLATIONS:
        raise LatentError(f"unknown method {method!r} (choose from {', '.join(INTERPOLATIONS)})", arguments=("method",))
    chosen = load_split(run, split)[0] if _is_index(start) or _is_index(end) else None
    first, first_name = resolve_endpoint(run, start, chosen, split, "start")
    last, last_name = resolve_endpoint(run, end, chosen, split, "end")
    z_mean, _ = encode_images(run, np.stack([first, last]))
    path = INTERPOLATIONS[method](z_mean[0], z_mean[1], steps)
    walk = Interpolation(method, z_mean, path, decode_latents(run, path), np.stack([first, last]))
    walk.summary = f"Interpolated {first_name} -> {last_name} ({method}, {steps} steps) with {run.paths.root}"
    if save:
        _save(run, walk, start, end, split, f"interpolate_{first_name}_{last_name}_{method}.png", out)
    return walk


def _save(
    run: Run,
    walk: Interpolation,
    start: int | str | Path | np.ndarray,
    end: int | str | Path | np.ndarray,
    split: str,
    name: str,
    out: str | Path | None,
) -> None:
    from vaecli.images import make_grid, save_png

    strip = np.concatenate([walk.originals[:1] / 255.0, walk.images, walk.originals[1:] / 255.0])
    picture = save_png(output_path(out, run.paths.explore, name), make_grid(strip, columns=len(strip)))
    points_file = write_latent_file(
        with_suffix(picture, ".h5"),
        {"z": walk.path, "z_mean": walk.endpoints},
        attrs={
            **run.provenance(),
            "kind": "interpolation",
            "method": walk.method,
            "from": str(start),
            "to": str(end),
            "split": split,
            "steps": len(walk.path),
        },
    )
    walk.files = [picture, points_file]
    walk.summary += f" -> {picture} (path in {points_file.name})"
