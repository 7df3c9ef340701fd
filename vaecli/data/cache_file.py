"""The image cache's file: an HDF5 file whose disk space is reserved before the first image is written.

libhdf5 cannot fail a write cleanly (h5py crashed the process with SIGSEGV when a build filled the disk), so
HDF5 only writes into space reserved up front (reserve); the pixels go in with plain pwrite (write_rows); the
file list and the attributes come last, `complete` the very last (finish).
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TextIO

import numpy as np

from vaecli.data.image_folder import FileEntry, Preprocessing
from vaecli.io.atomic import free_bytes, output_error, timestamp

FORMAT_VERSION = 3  # 2: decoded by TensorFlow, shrunk by area averaging; 3: contiguous images


def metadata_bytes(entries: list[FileEntry]) -> int:
    """A generous bound on everything but the pixels: the file list (HDF5 keeps each name in a heap with
    ~40 bytes of bookkeeping), attributes, and the B-trees of a chunked dataset."""
    return 2 * sum(len(entry.relative_path.encode()) + 48 for entry in entries) + (1 << 20)


def reserve(partial: Path, target: Path, entries: list[FileEntry], preprocessing: Preprocessing) -> int:
    """Create partial with room for every image and reserve its disk blocks; returns the pixels' byte offset.

    libhdf5 cannot fail a write cleanly (h5py crashed the process with SIGSEGV when a build filled
    the disk), so HDF5 only ever writes into space reserved here with posix_fallocate: the
    images dataset is allocated at creation (contiguous, never filled), the pixels are written
    at its offset with plain pwrite, and the file list and attributes at the end land in the
    reserved margin. Where fallocate only emulates reservation, the check of free space
    before anything is written still catches a disk that is too small.
    """
    import h5py

    pixels = len(entries) * int(np.prod(preprocessing.shape))
    needed = pixels + metadata_bytes(entries)
    free = free_bytes(target.parent)
    if free is not None and free < needed:
        raise output_error(target, OSError(errno.ENOSPC, "No space left on device"), needed=needed)
    creation = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    creation.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)  # place it now, at a known offset
    creation.set_fill_time(h5py.h5d.FILL_TIME_NEVER)  # and write nothing: every used row is written once
    with h5py.File(partial, "w") as handle:
        # One contiguous uint8 array, a row per file: readers read rows straight from the file at their
        # offset (cached_images). Rows past num_images (as many as files were skipped) stay unused.
        # No compression: decoded photos barely compress, and decompressing would cost every epoch.
        images = handle.create_dataset("images", (len(entries), *preprocessing.shape), np.uint8, dcpl=creation)
        offset = images.id.get_offset()
    descriptor = os.open(partial, os.O_RDWR)
    try:
        os.posix_fallocate(descriptor, 0, os.fstat(descriptor).st_size + metadata_bytes(entries))
    except OSError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise output_error(target, error, needed=needed) from None
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # no reservation on this file system
            raise
    finally:
        os.close(descriptor)
    return offset


def write_rows(
    partial: Path,
    offset: int,
    batches: Iterable[list[tuple[FileEntry, np.ndarray | str]]],
    total: int,
    log: TextIO,
    progress: Callable[[int, int], None] | None,
) -> list[str]:
    """Write each decoded image of the batches (in order) as the next row (plain pwrite) and each reason an image
    could not be decoded to log; returns the kept paths."""
    kept: list[str] = []
    num_done = 0
    descriptor = os.open(partial, os.O_RDWR)
    try:
        for batch in batches:
            images = [image for _, image in batch if isinstance(image, np.ndarray)]
            for entry, reason in batch:
                if isinstance(reason, str):
                    log.write(f"{entry.relative_path}\t{reason}\n")
            if images:
                block = np.ascontiguousarray(np.stack(images), np.uint8)
                row_bytes = block[0].nbytes
                _write_all(descriptor, block.data.cast("B"), offset + len(kept) * row_bytes)
                kept += [entry.relative_path for entry, image in batch if isinstance(image, np.ndarray)]
            num_done += len(batch)
            if progress is not None:
                progress(num_done, total)
    finally:
        os.close(descriptor)
    return kept


def _write_all(descriptor: int, data: memoryview, offset: int) -> None:
    while len(data):
        written = os.pwrite(descriptor, data, offset)
        data, offset = data[written:], offset + written


def finish(
    partial: Path,
    kept: list[str],
    num_files: int,
    num_problems: int,
    root: Path,
    key: str,
    preprocessing: Preprocessing,
) -> None:
    """The file list and the attributes, into the reserved margin; `complete` is written last."""
    import h5py

    with h5py.File(partial, "r+") as handle:
        handle.create_dataset("files", data=kept, dtype=h5py.string_dtype(), maxshape=(None,))
        handle.attrs.update(
            {
                "fingerprint": key,
                "format_version": FORMAT_VERSION,
                "source_folder": str(root),
                "preprocessing": json.dumps(preprocessing.describe()),
                "num_images": len(kept),
                "num_skipped": num_files - len(kept) + num_problems,
                "num_files": num_files,
                "created": timestamp(),
            }
        )
        handle.attrs["complete"] = True  # last: a file without it is never used
