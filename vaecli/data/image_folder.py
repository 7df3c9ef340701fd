"""Image folders: a stable recursive scan, the preprocessing settings, and Pillow's decoding of one file.

No TensorFlow here: config validation imports this module. The cache build decodes with
TensorFlow (folder_decoding) and comes to Pillow only for files TensorFlow refuses: anything
Pillow can open becomes RGB (grey, palette, RGBA, CMYK and 16-bit files are converted;
transparent pixels are flattened onto data.background, white by default);
anything it cannot (truncated, empty, not an image, a wrong extension hiding something else,
more than MAX_DECODE_PIXELS pixels) is reported as a one-line reason and skipped by the caller.

The scan follows symbolic links but enters each folder once (a link to a parent folder is not a
loop) and keeps each file once (two names of one picture would otherwise be cached twice, and
could land in both the training and the test split); a folder it cannot read is reported, not fatal.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image

    from vaecli.config import DataConfig

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
JPEG_SUFFIXES = (".jpg", ".jpeg")
DEFAULT_IMAGE_SIZE = 64  # pixels, when data.image_size is not given
# A file decoded whole needs 3 bytes a pixel, and resizing it 12 more (float32), on every decoding thread:
# 50 megapixels (a 8660x5770 photo) is ~750 MB a thread. Larger files are skipped, JPEGs first shrunk in
# the DCT domain (1/2 .. 1/8) where that brings them under it. One 20990x29700 PNG took 5 GB before.
MAX_DECODE_PIXELS = 50_000_000


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
    background: tuple[int, int, int] = (255, 255, 255)  # RGB that transparent pixels are flattened onto

    @classmethod
    def from_config(cls, data_config: DataConfig) -> Preprocessing:
        crop = data_config.crop if data_config.crop == "center" else tuple(data_config.crop)
        # a tuple of 4: DataConfig checked data.crop's length
        return cls(data_config.image_size or DEFAULT_IMAGE_SIZE, data_config.channels, crop, data_config.background_rgb)  # type: ignore[arg-type]

    @property
    def num_channels(self) -> int:
        return 3 if self.channels == "rgb" else 1

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.image_size, self.image_size, self.num_channels

    def describe(self) -> dict:
        return {
            **asdict(self),
            "crop": self.crop if self.crop == "center" else list(self.crop),
            "background": list(self.background),
        }


def scan_folder(root: Path, limit: int | None = None, problems: list[tuple[str, str]] | None = None) -> list[FileEntry]:
    """Every image file under root (recursively), sorted by relative path; the first `limit` of them.

    Sorting whole relative paths (not per-directory walk order) makes the order independent of
    the file system, so the same folder gives the same cache and the same splits everywhere.
    A file reached under several names (symbolic or hard links) is kept once, under its first
    name in that order. Folders and links that cannot be read are appended to problems as
    (relative path, reason).
    """
    found: list[tuple[str, os.stat_result]] = []
    visited: set[tuple[int, int]] = set()  # (device, inode) of each folder entered
    stack = [root]
    while stack:
        folder = stack.pop()
        relative_folder = folder.relative_to(root).as_posix()
        try:
            status = folder.stat()
            if (status.st_dev, status.st_ino) in visited:
                continue  # a link back to a folder already scanned
            visited.add((status.st_dev, status.st_ino))
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as error:
            _note(problems, relative_folder + "/", f"unreadable folder: {error.strerror or error}")
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=True):
                    stack.append(Path(entry.path))
                elif entry.name.lower().endswith(IMAGE_SUFFIXES) and entry.is_file(follow_symlinks=True):
                    found.append((Path(entry.path).relative_to(root).as_posix(), entry.stat(follow_symlinks=True)))
            except OSError as error:  # a link loop (a -> a), a link into an unreadable place
                _note(problems, Path(entry.path).relative_to(root).as_posix(), f"unreadable: {error.strerror or error}")
    found.sort(key=lambda item: item[0])
    unique, seen = [], set()
    for relative, status in found:
        if (status.st_dev, status.st_ino) not in seen:
            seen.add((status.st_dev, status.st_ino))
            unique.append(FileEntry(relative, status.st_size, status.st_mtime_ns))
    return unique[:limit] if limit is not None else unique


def _note(problems: list[tuple[str, str]] | None, where: str, reason: str) -> None:
    if problems is not None:
        problems.append((where, reason))


def _to_eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer or float grey images -> 8-bit "L" (PIL's own convert would clip at 255)."""
    from PIL import Image

    pixels = np.asarray(image, np.float64)
    top = 65535.0 if image.mode.startswith("I;16") or pixels.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(pixels * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")


def _convert_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Any PIL mode -> "RGB"; transparent pixels (RGBA, LA, palette or grey with a transparent colour) are
    flattened onto background, not dropped to whatever colour they hide (black, for most line art)."""
    from PIL import Image

    if image.mode.startswith("I") or image.mode == "F":
        image = _to_eight_bit(image)
    if "transparency" in image.info or image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        page = Image.new("RGBA", image.size, (*background, 255))
        return Image.alpha_composite(page, image.convert("RGBA")).convert("RGB")
    return image.convert("RGB")


def _crop_box(width: int, height: int, crop: str | tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(left, upper, right, lower) for PIL; ValueError if an explicit box does not fit the image."""
    if isinstance(crop, str):  # "center"
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return left, top, left + side, top + side
    top, left, box_height, box_width = crop
    if top + box_height > height or left + box_width > width:
        raise ValueError(f"the {width}x{height} image is smaller than the crop box {list(crop)}")
    return left, top, left + box_width, top + box_height


def too_large(width: int, height: int) -> str | None:
    """The skip reason of an image too large to decode whole, or None."""
    if width * height <= MAX_DECODE_PIXELS:
        return None
    return _too_large_reason(f"{width}x{height} is {width * height:,} pixels")


def _too_large_reason(size: str) -> str:
    limit = f"{MAX_DECODE_PIXELS:,} (vaecli.data.image_folder.MAX_DECODE_PIXELS)"
    return f"too large to decode: {size}, over the limit of {limit}"


def _bomb_reason(error: Exception) -> str:
    """Pillow refuses to open images over 2 x Image.MAX_IMAGE_PIXELS before we can read their size."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    return _too_large_reason(f"{int(found[1]):,} pixels" if found else "its size")


def header_problem(path: str | Path) -> str | None:
    """Read only the header: the skip reason of a file too large to decode whole, or None (also when the
    header cannot be read: the decoder will say why)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: we decide below
            with Image.open(path) as image:
                if image.format == "JPEG":
                    image.draft("RGB", _draft_size(*image.size))  # only changes the reported size
                return too_large(*image.size)
    except Image.DecompressionBombError as error:
        return _bomb_reason(error)
    except Exception:  # noqa: BLE001  unreadable: the decoders report it
        return None


def _draft_size(width: int, height: int) -> tuple[int, int]:
    """The size to ask a JPEG's DCT scaling for so it decodes under MAX_DECODE_PIXELS (if 1/8 allows)."""
    if width * height <= MAX_DECODE_PIXELS:
        return width, height
    scale = math.sqrt(MAX_DECODE_PIXELS / (width * height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def decode_rgb(
    path: str | Path, crop: str | tuple[int, int, int, int], background: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray | str:
    """The cropped RGB uint8 (H, W, 3) pixels of a file, or a one-line reason why it cannot be used.

    The fallback for files TensorFlow's decoders refuse (folder_decoding), and the source of the
    reason logged for each file nothing can read. Nothing over MAX_DECODE_PIXELS is decoded:
    a large JPEG is decoded at 1/2 .. 1/8 scale, anything else that large is refused.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                width, height = image.size
                box = _crop_box(width, height, crop)
                if image.format == "JPEG":
                    image.draft("RGB", _draft_size(width, height))
                problem = too_large(*image.size)
                if problem:
                    return problem
                scale_x, scale_y = image.size[0] / width, image.size[1] / height
                box = (
                    round(box[0] * scale_x),
                    round(box[1] * scale_y),
                    round(box[2] * scale_x),
                    round(box[3] * scale_y),
                )
                image.load()  # decodes now: a truncated file fails here, inside the try
                return np.asarray(_convert_rgb(image.crop(box), background), np.uint8)
    except Exception as error:  # noqa: BLE001  any failure of a single file only skips that file
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            return "empty file"
        if isinstance(error, Image.DecompressionBombError):
            return _bomb_reason(error)
        message = str(error).splitlines()[0] if str(error) else ""
        return f"{type(error).__name__}: {message}"[:300]
