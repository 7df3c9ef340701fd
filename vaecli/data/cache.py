"""The decoded-image cache of an image folder: built once in parallel, reused while nothing changed.

    <cache_dir>/image_folder-<fingerprint>.h5            images (files, H, W, C) uint8, contiguous, of which
                                                         the first num_images rows are used; files
                                                         (num_images,) relative paths; attrs incl. complete
    <cache_dir>/image_folder-<fingerprint>.skipped.txt   one line per unreadable file: path <TAB> reason

The fingerprint is a sha256 of the sorted relative paths, sizes and modification times of
the files, the preprocessing settings and the format version: a changed folder or setting
gives a new cache; an unchanged one is found by name and opened at once. A build writes to
`<name>.partial-<pid>` and renames it only when whole (the `complete` attribute is the last
thing written), so a killed build never leaves a cache that looks complete. A tf.data
pipeline decodes in order on every core with a bounded number of batches in flight, and each
batch goes straight to disk: memory stays flat however many images the folder holds.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaecli.data.cache_file import FORMAT_VERSION, finish, reserve, write_rows
from vaecli.data.image_folder import JPEG_SUFFIXES, FileEntry, Preprocessing, decode_rgb, header_problem, scan_folder
from vaecli.errors import DataError, OutputError
from vaecli.io.atomic import output_error
from vaecli.io.cache_root import cache_root

if TYPE_CHECKING:
    from vaecli.config import DataConfig


@dataclass(frozen=True)
class CacheInfo:
    path: Path
    fingerprint: str
    num_images: int
    num_skipped: int
    skip_log: Path
    built: bool  # False: an existing cache was reused
    seconds: float  # build time (0 when reused)

    def summary(self, folder: str | Path | None) -> str:
        skipped = (
            f"; skipped {self.num_skipped:,} unreadable file(s), listed in {self.skip_log}"
            if self.num_skipped
            else "; no unreadable files"
        )
        if not self.built:
            return f"Using cached {self.num_images:,} images of {folder} ({self.path}){skipped}"
        rate = (self.num_images + self.num_skipped) / max(self.seconds, 1e-9)
        return (
            f"Cached {self.num_images:,} images of {folder} in {self.seconds:.1f} s ({rate:,.0f} files/s) -> "
            f"{self.path}{skipped}"
        )


def cache_folder(data_config: DataConfig) -> Path:
    """data.cache_dir, else the cache root (vaecli.io.cache_root)."""
    return Path(data_config.cache_dir).expanduser() if data_config.cache_dir else cache_root()


def fingerprint(entries: list[FileEntry], preprocessing: Preprocessing) -> str:
    digest = hashlib.sha256(
        json.dumps({"format_version": FORMAT_VERSION, **preprocessing.describe()}, sort_keys=True).encode()
    )
    for entry in entries:
        digest.update(f"{entry.relative_path}\0{entry.size}\0{entry.mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def is_complete(path: Path) -> bool:
    import h5py

    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as handle:
            return bool(handle.attrs.get("complete", False)) and handle.attrs.get("format_version") == FORMAT_VERSION
    except OSError:
        return False


def scan(
    data_config: DataConfig, problems: list[tuple[str, str]] | None = None
) -> tuple[Path, list[FileEntry], Preprocessing]:
    """The folder, its image files and the preprocessing; unreadable folders and links go to problems."""
    assert data_config.path is not None  # DataConfig requires data.path of the image_folder source
    root = Path(data_config.path).expanduser()
    if not root.is_dir():
        raise DataError(f"data.path: {root} is not a folder")
    entries = scan_folder(root, data_config.limit, problems)
    if not entries:
        raise DataError(
            f"data.path: {root} holds no image files (looked recursively for .jpg, .jpeg, .png, .bmp, .gif, .webp)"
        )
    return root, entries, Preprocessing.from_config(data_config)


def find_or_build(
    data_config: DataConfig, progress: Callable[[int, int], None] | None = None, threads: int | None = None
) -> CacheInfo:
    """The complete cache for this folder and preprocessing, built if missing.

    progress(files_done, files_total) is called after each batch of a build; threads bounds the
    decoding threads (default: TensorFlow's choice, about one per core).
    """
    problems: list[tuple[str, str]] = []
    root, entries, preprocessing = scan(data_config, problems)
    key = fingerprint(entries, preprocessing)
    target = cache_folder(data_config) / f"image_folder-{key}.h5"
    skip_log = target.with_suffix(".skipped.txt")
    if is_complete(target):
        return _info(target, key, skip_log, built=False, seconds=0.0)
    from vaecli.runtime.tensorflow import import_tensorflow

    import_tensorflow()  # quietly, and before the clock starts: the build rate is about decoding
    started = time.perf_counter()
    build(root, entries, preprocessing, target, key, progress, threads, problems)
    return _info(target, key, skip_log, built=True, seconds=time.perf_counter() - started)


def _info(target: Path, key: str, skip_log: Path, built: bool, seconds: float) -> CacheInfo:
    import h5py

    with h5py.File(target, "r") as handle:
        return CacheInfo(
            target, key, int(handle.attrs["num_images"]), int(handle.attrs["num_skipped"]), skip_log, built, seconds
        )


def decode_in_order(
    root: Path, entries: list[FileEntry], preprocessing: Preprocessing, threads: int | None = None
) -> Iterator[list[tuple[FileEntry, np.ndarray | str]]]:
    """Batches of (entry, its cached image or the reason it is skipped), in file order."""
    from vaecli.data.folder_decoding import BATCH

    decoded = _decode_every_entry(root, entries, preprocessing, threads)
    while batch := list(islice(decoded, BATCH)):
        yield batch


def _decode_every_entry(
    root: Path, entries: list[FileEntry], preprocessing: Preprocessing, threads: int | None
) -> Iterator[tuple[FileEntry, np.ndarray | str]]:
    """TensorFlow decodes in parallel; the files it refuses come to Pillow here, one by one.

    Files that are not JPEGs are decoded whole by TensorFlow, so their headers are read first:
    one too large to decode goes straight to Pillow, which gives the reason it is skipped
    (as do GIFs, whose transparency only Pillow keeps).
    """
    from vaecli.data.folder_decoding import PILLOW_SUFFIXES, decoded_images, finish
    from vaecli.runtime.tensorflow import quiet_stderr

    def by_pillow(index: int) -> tuple[FileEntry, np.ndarray | str]:
        pixels = decode_rgb(root / entries[index].relative_path, preprocessing.crop, preprocessing.background)
        return entries[index], pixels if isinstance(pixels, str) else finish(pixels, preprocessing).numpy()

    paths = [str(root / entry.relative_path) for entry in entries]
    for_pillow = {
        index
        for index, path in enumerate(paths)
        if path.lower().endswith(PILLOW_SUFFIXES)
        or (not path.lower().endswith(JPEG_SUFFIXES) and header_problem(path) is not None)
    }
    following = 0  # the next index due
    with quiet_stderr(replay=False):  # libjpeg prints a line for each broken JPEG; the skip log says it better
        for index, image in decoded_images(paths, preprocessing, threads, skip=for_pillow):
            yield from (by_pillow(missing) for missing in range(following, index))
            yield entries[index], image
            following = index + 1
    yield from (by_pillow(missing) for missing in range(following, len(entries)))


def _remove_stale_partials(target: Path) -> None:
    """Partial files of builds whose process is gone (killed); a live concurrent build is left alone."""
    for partial in target.parent.glob(f"{target.stem}.*.partial-*"):  # the cache and its skip log
        try:
            os.kill(int(partial.name.rsplit("-", 1)[1]), 0)
        except (ValueError, ProcessLookupError):
            partial.unlink(missing_ok=True)
        except PermissionError:
            pass  # another user's live process


def build(
    root: Path,
    entries: list[FileEntry],
    preprocessing: Preprocessing,
    target: Path,
    key: str,
    progress: Callable[[int, int], None] | None = None,
    threads: int | None = None,
    problems: list[tuple[str, str]] | None = None,
) -> None:
    """Decode every entry into target (atomically); unreadable files (and the scan's problems) go to the skip log.

    The file's whole size is known before the first image is decoded, so the disk space is
    checked and reserved up front (see _reserve): a disk too small is one OutputError naming
    the file and the space it needs, and a disk that fills up during the build cannot stop it.
    """
    _make_folder(target.parent)
    _remove_stale_partials(target)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    partial_log = target.with_name(f"{target.stem}.skipped.txt.partial-{os.getpid()}")
    try:
        offset = reserve(partial, target, entries, preprocessing)
        with open(partial_log, "w") as log:
            log.writelines(f"{where}\t{reason}\n" for where, reason in problems or [])
            batches = decode_in_order(root, entries, preprocessing, threads)
            kept = write_rows(partial, offset, batches, len(entries), log, progress)
        if not kept:
            raise DataError(
                f"data.path: none of the {len(entries):,} image files in {root} could be decoded "
                f"(reasons in {target.with_suffix('.skipped.txt')})"
            )
        finish(partial, kept, len(entries), len(problems or []), root, key, preprocessing)
        os.replace(partial_log, target.with_suffix(".skipped.txt"))
        os.replace(partial, target)
    except DataError:
        if partial_log.exists():
            os.replace(partial_log, target.with_suffix(".skipped.txt"))  # the reasons are the useful part
        raise
    except OSError as error:
        raise output_error(target, error) from None
    finally:
        partial.unlink(missing_ok=True)
        partial_log.unlink(missing_ok=True)


def _make_folder(folder: Path) -> None:
    """data.cache_dir (or the cache root), created if missing; a file or read-only folder is one clear line."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        problem = "it is a file, not a folder" if folder.exists() or error.errno == errno.ENOTDIR else None
        raise OutputError(
            f"data.cache_dir: cannot create the cache folder {folder}: {problem or error.strerror or error}",
            errno=error.errno,
            filename=str(folder),
        ) from None
    if not os.access(folder, os.W_OK):
        raise OutputError(f"data.cache_dir: cannot write in the cache folder {folder}: permission denied")
