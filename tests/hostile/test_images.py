"""Hostile image folders (issue 13): symlink loops, symlinked duplicates, unreadable subfolders, line art on
transparency, a picture too large to decode, and a real 8,000-file clip-art folder (Debian's openclipart-png)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers import cached, tiny_config, write_huge_png
from vaecli.config import validate
from vaecli.data.cache import find_or_build
from vaecli.data.image_folder import decode_rgb, scan_folder

CLIP_ART = Path("/usr/share/openclipart/png")


def folder_data(folder, cache, **data):
    config = tiny_config(
        data={"source": "image_folder", "path": str(folder), "image_size": 16, "cache_dir": str(cache), **data}
    )
    return validate(config).data


def flat_pictures(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        Image.fromarray(np.full((24, 24, 3), 30 * index, np.uint8)).save(folder / f"p{index}.png")
    return folder


def test_symlink_loops_are_entered_once_and_reported(tmp_path):
    photos = flat_pictures(tmp_path / "photos", 3)
    (photos / "sub").mkdir()
    Image.fromarray(np.zeros((24, 24, 3), np.uint8)).save(photos / "sub" / "deep.png")
    (photos / "sub" / "up").symlink_to("..")  # a loop through the parent
    (photos / "self.png").symlink_to("self.png")  # a link to itself: ELOOP
    info = find_or_build(folder_data(photos, tmp_path / "cache"))
    names, images = cached(info)
    assert names == ["p0.png", "p1.png", "p2.png", "sub/deep.png"] and images.shape[0] == 4
    log = dict(line.split("\t") for line in info.skip_log.read_text().splitlines())
    assert log == {"self.png": "unreadable: Too many levels of symbolic links"} and info.num_skipped == 1


def test_symlinked_and_hard_linked_duplicates_are_cached_once(tmp_path):
    photos = flat_pictures(tmp_path / "photos", 4)
    (photos / "again").mkdir()
    (photos / "again" / "p1.png").symlink_to(photos / "p1.png")
    os.link(photos / "p2.png", photos / "z_hard_link.png")
    (photos / "mirror").symlink_to(photos)  # the whole folder a second time (and a loop)
    entries = scan_folder(photos)
    assert [entry.relative_path for entry in entries] == ["again/p1.png", "p0.png", "p2.png", "p3.png"]
    info = find_or_build(folder_data(photos, tmp_path / "cache"))
    assert info.num_images == 4 and len(np.unique(cached(info)[1].reshape(4, -1), axis=0)) == 4


def _scan_as_nobody(photos: Path) -> tuple[list[str], list]:
    """scan_folder in a forked child that runs as `nobody` (as root every folder is readable)."""
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover  (the child)
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            problems: list = []
            names = [entry.relative_path for entry in scan_folder(photos, None, problems)]
            os.write(writer, json.dumps([names, problems]).encode())
        finally:
            os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as pipe:
        text = pipe.read()
    os.waitpid(child, 0)
    return tuple(json.loads(text))  # type: ignore[return-value]


def test_an_unreadable_subfolder_is_reported_not_fatal(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root, to read the folder as nobody")
    base = Path(tempfile.mkdtemp(prefix="vaecli-unreadable-", dir="/tmp"))
    try:
        base.chmod(0o755)
        photos = flat_pictures(base / "photos", 3)
        flat_pictures(photos / "secret", 2).chmod(0o000)
        names, problems = _scan_as_nobody(photos)
        assert names == ["p0.png", "p1.png", "p2.png"]
        assert problems == [["secret/", "unreadable folder: Permission denied"]]
    finally:
        (base / "photos" / "secret").chmod(0o755)
        shutil.rmtree(base)


def line_art(path: Path) -> None:
    """A black ring on a transparent page, as clip art is drawn."""
    pixels = np.zeros((32, 32, 4), np.uint8)
    yy, xx = np.mgrid[:32, :32]
    ring = np.abs(np.hypot(yy - 15.5, xx - 15.5) - 10) < 2
    pixels[ring] = (0, 0, 0, 255)
    Image.fromarray(pixels, "RGBA").save(path)


@pytest.mark.parametrize("background, page", [("white", 255), ("black", 0), ([0, 128, 255], (0, 128, 255))])
def test_transparency_is_flattened_onto_the_background(tmp_path, background, page):
    photos = tmp_path / "photos"
    photos.mkdir()
    line_art(photos / "ring_rgba.png")  # decoded by TensorFlow
    Image.open(photos / "ring_rgba.png").convert("LA").save(photos / "ring_grey_alpha.png")
    Image.open(photos / "ring_rgba.png").convert("RGBA").save(photos / "ring.gif")  # Pillow's palette + transparency
    info = find_or_build(folder_data(photos, tmp_path / "cache", background=background))
    names, images = cached(info)
    assert names == ["ring.gif", "ring_grey_alpha.png", "ring_rgba.png"]
    for name, image in zip(names, images):
        assert np.all(image[0, 0] == page) and np.all(image[8, 8] == page), name  # the page, not black
        assert image[:, :, :].min() < 60, name  # the ring is still there
    by_pillow = decode_rgb(photos / "ring_rgba.png", "center", (255, 255, 255) if background == "white" else (0, 0, 0))
    assert isinstance(by_pillow, np.ndarray) and by_pillow.shape == (32, 32, 3)


@pytest.mark.slow
def test_a_picture_too_large_to_decode_is_skipped_with_bounded_memory(tmp_path):
    photos = flat_pictures(tmp_path / "photos", 3)
    write_huge_png(photos / "huge.png", 12000, 10000)  # 120 megapixels in 1.6 MB: decoding it took 2 GB
    config = tmp_path / "huge.yaml"
    config.write_text(json.dumps(tiny_config(data={"source": "image_folder", "path": str(photos), "image_size": 16,
                                                   "cache_dir": str(tmp_path / "cache")})))  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = subprocess.run(
        [sys.executable, "-m", "vaecli.cli", "data", "prepare", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    peak_megabytes = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Cached 3 images" in result.stdout and "skipped 1 unreadable file(s)" in result.stdout
    assert peak_megabytes < 1300 or before / 1024 >= 1300, peak_megabytes  # 2,035 MB before, ~600 MB now
    log = next((tmp_path / "cache").glob("*.skipped.txt")).read_text()
    assert "huge.png\ttoo large to decode: 12000x10000 is 120,000,000 pixels, over the limit of 50,000,000" in log


def test_the_real_clip_art_folder(tmp_path):
    """Debian's openclipart-png: 6,900 PNGs (most of them line art on transparency) and 1,221 symlinks."""
    if not CLIP_ART.is_dir():
        message = f"{CLIP_ART} not found (apt-get install openclipart-png)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    problems: list = []
    entries = scan_folder(CLIP_ART, None, problems)
    links = sum(1 for path in CLIP_ART.rglob("*.png") if path.is_symlink())
    assert links > 1000 and len(entries) == sum(1 for path in CLIP_ART.rglob("*.png")) - links and not problems
    white = find_or_build(folder_data(CLIP_ART, tmp_path / "white", limit=120))
    black = find_or_build(folder_data(CLIP_ART, tmp_path / "black", limit=120, background="black"))
    white_means, black_means = (cached(info)[1].reshape(120, -1).mean(axis=1) for info in (white, black))
    assert white.num_images == 120 and np.median(white_means) > 170  # pages, as the pictures are drawn
    assert np.median(black_means) < np.median(white_means) - 80  # what flattening onto black did
