"""CachedImages: some rows of an HDF5 image cache, indexed like a uint8 array but read on demand.

An image folder's split can be far larger than RAM as float32 (100,000 96x96 RGB images are
2.8 GB as uint8, 11 GB as float32), so ImageSplit.images is one of these instead of an
ndarray. Indexing (an int, a slice, an integer or boolean array) returns a plain ndarray;
len(), .shape, .dtype and np.asarray(...) work as for an array, so code written for arrays
(grids, the latent-space commands) keeps working.

The caches vaecli writes store the images as one contiguous uint8 array inside the file, so
rows are read straight from the file at their byte offset, each run of consecutive rows with
one read call: about 500,000 images/s at 96x96 from the page cache, against ~100,000 for
HDF5's own per-image chunk reads. Other layouts go through h5py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import h5py
    import numpy.typing as npt

BLOCK_READ_SLACK = 2.0  # h5py layouts: read a covering block when it holds at most this many times the rows wanted


class CachedImages:
    def __init__(self, path: str | Path, rows: np.ndarray | None = None, dataset: str = "images"):
        self.path, self.dataset_name = Path(path), dataset
        self._handle: h5py.File | None = None
        with self._open() as handle:
            stored = handle[dataset]
            self._image_shape = tuple(int(size) for size in stored.shape[1:])
            # a cache's rows past num_images belong to skipped files and were never written
            total = int(handle.attrs.get("num_images", stored.shape[0]))
            self._offset = _raw_offset(stored)
        self.rows = np.arange(total, dtype=np.int64) if rows is None else np.asarray(rows, np.int64)

    def _open(self):
        import h5py

        return h5py.File(self.path, "r")

    @property
    def _dataset(self):
        if self._handle is None:  # opened on first read, per process (h5py handles are not fork-safe)
            self._handle = self._open()
        return self._handle[self.dataset_name]

    def __getstate__(self):
        return {key: value for key, value in self.__dict__.items() if key != "_handle"} | {"_handle": None}

    shape = property(lambda self: (len(self.rows), *self._image_shape))
    dtype = property(lambda self: np.dtype(np.uint8))
    ndim = property(lambda self: 1 + len(self._image_shape))
    size = property(lambda self: int(np.prod(self.shape)))

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"CachedImages({str(self.path)!r}, {len(self)} rows of {self._image_shape})"

    def take(self, positions: npt.ArrayLike) -> CachedImages:
        """A lazy subset (positions into this one), nothing read."""
        subset = CachedImages.__new__(CachedImages)
        subset.__dict__.update(self.__getstate__())
        subset.rows = self.rows[np.asarray(positions, np.int64)]
        return subset

    def __getitem__(self, key: slice | npt.ArrayLike) -> np.ndarray:
        if isinstance(key, tuple):  # images[rows, ...]: rows first, the rest on the loaded array
            return self[key[0]][(slice(None),) + tuple(key[1:])]
        if isinstance(key, (int, np.integer)):
            position = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= position < len(self):
                raise IndexError(f"index {key} is out of range for {len(self)} images")
            return self.read_rows(self.rows[position : position + 1])[0]
        if isinstance(key, slice):
            return self.read_rows(self.rows[key])
        return self.read_rows(self.rows[np.asarray(key)])

    def read_rows(self, file_rows: np.ndarray) -> np.ndarray:
        """Images at these rows of the file, in the order given."""
        file_rows = np.asarray(file_rows, np.int64).reshape(-1)
        if len(file_rows) == 0:
            return np.empty((0, *self._image_shape), np.uint8)
        unique, inverse = np.unique(file_rows, return_inverse=True)
        chosen = self._read_raw(unique) if self._offset is not None else self._read_selection(unique)
        return chosen if len(unique) == len(file_rows) and np.array_equal(unique, file_rows) else chosen[inverse]

    def _read_raw(self, unique_rows: np.ndarray) -> np.ndarray:
        """Runs of consecutive rows, one positional read each, straight into the result.

        A descriptor per call (a few microseconds, against milliseconds of reading): nothing to
        leak or share between threads and processes.
        """
        images = np.empty((len(unique_rows), *self._image_shape), np.uint8)
        flat = images.reshape(len(unique_rows), -1)
        row_bytes = flat.shape[1]
        run_starts = np.flatnonzero(np.diff(unique_rows, prepend=-2) != 1)
        offset = self._offset
        assert offset is not None  # called only for data stored raw (see __getitem__)
        descriptor = os.open(self.path, os.O_RDONLY)
        try:
            for start, end in zip(run_starts.tolist(), [*run_starts[1:].tolist(), len(unique_rows)]):
                _read_exactly(
                    descriptor,
                    offset + int(unique_rows[start]) * row_bytes,
                    flat[start:end].data.cast("B"),
                    self.path,
                )
        finally:
            os.close(descriptor)
        return images

    def _read_selection(self, unique_rows: np.ndarray) -> np.ndarray:
        """Any other layout: one covering block when dense enough, else row by row."""
        first, last = int(unique_rows[0]), int(unique_rows[-1])
        if last - first + 1 <= BLOCK_READ_SLACK * len(unique_rows):
            block = self._dataset[first : last + 1]
            return block if len(unique_rows) == len(block) else block[unique_rows - first]
        return np.stack([self._dataset[row] for row in unique_rows.tolist()])

    def __array__(self, dtype=None, copy=None):
        array = self.read_rows(self.rows)
        return array if dtype is None else array.astype(dtype)

    def astype(self, dtype: npt.DTypeLike) -> np.ndarray:
        return np.asarray(self).astype(dtype)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _raw_offset(dataset: h5py.Dataset) -> int | None:
    """The byte offset of a contiguous, unfiltered uint8 dataset's data in its file; None otherwise
    (and on systems without positional reads)."""
    if (
        dataset.chunks is not None
        or dataset.dtype != np.uint8
        or dataset.compression is not None
        or not hasattr(os, "preadv")
    ):
        return None
    return dataset.id.get_offset()  # None while nothing is written


def _read_exactly(descriptor: int, offset: int, buffer: memoryview, path: Path) -> None:
    """Fill buffer from the file at offset (a read may return short)."""
    while len(buffer):
        count = os.preadv(descriptor, [buffer], offset)
        if not count:
            raise OSError(
                f"{path} ends before byte {offset + len(buffer):,}: a truncated image cache (delete it "
                f"to have it rebuilt)"
            )
        buffer, offset = buffer[count:], offset + count
