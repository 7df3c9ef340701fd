"""Generated image folders for tests and benchmarks: clean JPEG folders and a deliberately messy one."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

CELEBA_SIZE = (178, 218)  # width, height of CelebA's aligned images


def face_pixels(count: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth, varied uint8 RGB pictures (synthetic faces stretched to width x height)."""
    from vaecli.data.synthetic import generate_faces

    faces, _ = generate_faces(count, 32, seed=seed)
    stretched = [np.asarray(Image.fromarray(face).resize((width, height), Image.BILINEAR)) for face in faces]
    return np.stack(stretched)


def write_jpeg_folder(
    folder: Path, count: int, size: tuple[int, int] = CELEBA_SIZE, seed: int = 0, per_subfolder: int | None = None
) -> list[Path]:
    """count JPEGs named 000001.jpg ... (CelebA style), optionally spread over subfolders."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    batch = 256
    for start in range(0, count, batch):
        pixels = face_pixels(min(batch, count - start), *size, seed=seed + start)
        for offset, image in enumerate(pixels):
            index = start + offset
            parent = folder / f"part{index // per_subfolder:03d}" if per_subfolder else folder
            parent.mkdir(exist_ok=True)
            path = parent / f"{index + 1:06d}.jpg"
            Image.fromarray(image).save(path, quality=90)
            paths.append(path)
    return paths


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


GOOD_FILES = (
    "a_rgb.jpg",
    "b_rgb.png",
    "c_rgb.bmp",
    "d_palette.gif",
    "e_rgb.webp",
    "f_grey.png",
    "g_palette_transparent.png",
    "h_rgba.png",
    "i_cmyk.jpg",
    "j_sixteen_bit.png",
    "nested/deeper/k_upper.JPG",
    "l_jpeg_named.png",
)
BAD_FILES = {"m_truncated.jpg": "truncated", "n_empty.jpg": "empty", "o_text.jpg": "text"}


def write_messy_folder(folder: Path) -> dict[str, np.ndarray]:
    """Every kind of file a real folder holds; returns the RGB pixels each good file should decode to."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nested" / "deeper").mkdir(parents=True)
    rgb = face_pixels(1, 40, 48, seed=7)[0]
    image = Image.fromarray(rgb)
    image.save(folder / "a_rgb.jpg", quality=95)
    image.save(folder / "b_rgb.png")
    image.save(folder / "c_rgb.bmp")
    image.quantize(64).save(folder / "d_palette.gif")
    image.save(folder / "e_rgb.webp", lossless=True)
    image.convert("L").save(folder / "f_grey.png")
    palette = image.quantize(32)
    palette.info["transparency"] = 0
    palette.save(folder / "g_palette_transparent.png", transparency=0)
    image.convert("RGBA").save(folder / "h_rgba.png")
    image.convert("CMYK").save(folder / "i_cmyk.jpg", quality=95)
    sixteen = rgb[..., 0].astype(np.uint16) * 257  # full 16-bit range: 255 * 257 = 65535
    Image.fromarray(sixteen).save(folder / "j_sixteen_bit.png")
    image.save(folder / "nested" / "deeper" / "k_upper.JPG", quality=95)
    (folder / "l_jpeg_named.png").write_bytes(_jpeg_bytes(image))  # a JPEG under a .png name still decodes
    whole = _jpeg_bytes(image)
    (folder / "m_truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "n_empty.jpg").write_bytes(b"")
    (folder / "o_text.jpg").write_text("this is not an image\n")
    (folder / "readme.txt").write_text("not an image suffix: never scanned\n")
    return {"rgb": rgb, "grey": np.asarray(image.convert("L")), "sixteen": rgb[..., 0]}
