"""Image folders: a stable recursive scan, the preprocessing settings, and Pillow's decoding of one file.

No TensorFlow here: config validation imports this module. The cache build decodes with
TensorFlow (folder_decoding) and comes to Pillow only for files TensorFlow refuses: anything
Pillow can open becomes RGB (grey, palette, RGBA, CMYK and 16-bit files are converted);
anything it cannot (truncated, empty, not an image, a wrong extension hiding something else)
is reported as a one-line reason and skipped by the caller.
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


def _convert_rgb(image):
    """Any PIL mode -> "RGB"; transparent palette images go through RGBA so PIL does not warn."""
    if image.mode.startswith("I") or image.mode == "F":
        image = _to_eight_bit(image)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image.convert("RGB")


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


def decode_rgb(path: str | Path, crop) -> np.ndarray | str:
    """The cropped RGB uint8 (H, W, 3) pixels of a file, or a one-line reason why it cannot be used.

    The fallback for files TensorFlow's decoders refuse (folder_decoding), and the source of the
    reason logged for each file nothing can read.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            box = _crop_box(*image.size, crop)
            image.load()  # decodes now: a truncated file fails here, inside the try
            return np.asarray(_convert_rgb(image).crop(box), np.uint8)
    except Exception as error:  # noqa: BLE001  any failure of a single file only skips that file
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            return "empty file"
        message = str(error).splitlines()[0] if str(error) else ""
        return f"{type(error).__name__}: {message}"[:300]
