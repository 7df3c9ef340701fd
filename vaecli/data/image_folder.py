"""Image folders: a stable recursive scan, and decoding one file into a preprocessed uint8 array.

No TensorFlow and nothing heavy here: the cache builder's worker processes import this module
(spawned, not forked, so a parent that already runs TensorFlow is safe), and config validation
asks it nothing. Decoding follows one rule: anything PIL can open becomes the configured
RGB or grey image (grey, palette, RGBA, CMYK and 16-bit files are converted); anything it
cannot (truncated, empty, not an image, a wrong extension hiding something else) is reported
as a one-line reason and skipped by the caller.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
DEFAULT_IMAGE_SIZE = 64  # pixels, when data.image_size is not given


@dataclass(frozen=True)
class FileEntry:
    relative_path: str  # POSIX-style, relative to the scanned root: the cache does not care where the folder is
    size: int  # bytes
    mtime_ns: int


@dataclass(frozen=True)
class Preprocessing:
    image_size: int  # output pixels, square
    channels: str  # "rgb" or "grayscale"
    crop: str | tuple[int, int, int, int]  # "center" or (top, left, height, width) in source pixels

    @classmethod
    def from_config(cls, data_config) -> Preprocessing:
        crop = data_config.crop if data_config.crop == "center" else tuple(data_config.crop)
        return cls(data_config.image_size or DEFAULT_IMAGE_SIZE, data_config.channels, crop)

    @property
    def num_channels(self) -> int:
        return 3 if self.channels == "rgb" else 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.image_size, self.image_size, self.num_channels

    def describe(self) -> dict:
        return {**asdict(self), "crop": self.crop if self.crop == "center" else list(self.crop)}


def scan_folder(root: Path, limit: int | None = None) -> list[FileEntry]:
    """Every image file under root (recursively), sorted by relative path; the first `limit` of them.

    Sorting whole relative paths (not per-directory walk order) makes the order independent of
    the file system, so the same folder gives the same cache and the same splits everywhere.
    """
    found = []
    stack = [root]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(Path(entry.path))
                elif entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file(follow_symlinks=True):
                    stat = entry.stat(follow_symlinks=True)
                    relative = Path(entry.path).relative_to(root).as_posix()
                    found.append(FileEntry(relative, stat.st_size, stat.st_mtime_ns))
    found.sort(key=lambda item: item.relative_path)
    return found[:limit] if limit is not None else found


def _to_eight_bit(image):
    """16-bit and 32-bit integer or float grey images -> 8-bit "L" (PIL's own convert would clip at 255)."""
    from PIL import Image

    pixels = np.asarray(image, np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or pixels.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(pixels * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")


def _convert_mode(image, channels: str):
    """Any PIL mode -> "RGB" or "L"; transparent palette images go through RGBA so PIL does not warn."""
    if image.mode.startswith("I") or image.mode == "F":
        image = _to_eight_bit(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB" if channels == "rgb" else "L")


def _crop_box(width: int, height: int, crop) -> tuple[int, int, int, int]:
    """(left, upper, right, lower) for PIL; ValueError if an explicit box does not fit the image."""
    if crop == "center":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return left, top, left + side, top + side
    top, left, box_height, box_width = crop
    if top + box_height > height or left + box_width > width:
        raise ValueError(f"the {width}x{height} image is smaller than the crop box {list(crop)}")
    return left, top, left + box_width, top + box_height


def _draft_scale(image, box: tuple[int, int, int, int], image_size: int) -> tuple[int, int, int, int]:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the crop still covers image_size pixels.

    Decoding a JPEG in the DCT domain at reduced scale is several times cheaper than decoding it
    whole and shrinking afterwards. Returns the crop box in the reduced image's pixels.
    """
    if image.format != "JPEG":
        return box
    crop_side = min(box[2] - box[0], box[3] - box[1])
    scale = 1
    while scale < 8 and crop_side // (scale * 2) >= image_size:
        scale *= 2
    if scale == 1:
        return box
    full_width, full_height = image.size
    image.draft(image.mode, (-(-full_width // scale), -(-full_height // scale)))  # sizes rounded up
    ratio_x, ratio_y = image.size[0] / full_width, image.size[1] / full_height
    return (round(box[0] * ratio_x), round(box[1] * ratio_y), round(box[2] * ratio_x), round(box[3] * ratio_y))


def decode_file(path: str | Path, preprocessing: Preprocessing) -> np.ndarray | str:
    """The preprocessed uint8 (H, W, C) image, or a one-line reason why the file cannot be used."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            box = _crop_box(*image.size, preprocessing.crop)
            box = _draft_scale(image, box, preprocessing.image_size)
            image.load()  # decodes now: a truncated file fails here, inside the try
            image = _convert_mode(image, preprocessing.channels)
            size = (preprocessing.image_size, preprocessing.image_size)
            # crop first: resize(box=...) would blend in pixels from outside the box at its edges
            image = image.crop(box).resize(size, Image.Resampling.BILINEAR)  # antialiased when shrinking
            return np.asarray(image, np.uint8).reshape(preprocessing.shape)
    except Exception as error:  # noqa: BLE001  any failure of a single file only skips that file
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            return "empty file"
        message = str(error).splitlines()[0] if str(error) else ""
        return f"{type(error).__name__}: {message}"[:300]


def decode_chunk(task: tuple[str, list[str], Preprocessing]) -> list[np.ndarray | str]:
    """Worker entry point: decode a list of files relative to a root, in order."""
    root, relative_paths, preprocessing = task
    return [decode_file(os.path.join(root, relative), preprocessing) for relative in relative_paths]
