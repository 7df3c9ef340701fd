"""Train / validation / test splits of a source, as uint8 arrays with labels and source indices."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from vaecli.data.sources import SOURCES, ImageSet
from vaecli.errors import DataError

if TYPE_CHECKING:
    from vaecli.config import ExperimentConfig
    from vaecli.data.cached_images import CachedImages

SPLIT_NAMES = ("train", "validation", "test")


@dataclass(frozen=True)
class ImageSplit:
    images: np.ndarray | CachedImages  # uint8 (N, H, W, C); image folders: indexes alike, reads on demand
    labels: dict[str, np.ndarray]  # name -> (N,)
    index: np.ndarray  # row of each image in the source's own split (train pool or test)

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class DataSplits:
    train: ImageSplit
    validation: ImageSplit
    test: ImageSplit
    fingerprint: str  # sha256 of the images actually used, so runs can tell if their data changed
    source: ImageSet = field(repr=False, compare=False)  # what was split (evaluate's feature space trains on it)

    def split(self, name: str) -> ImageSplit:
        return getattr(self, name)


def _take(images: np.ndarray | CachedImages, labels: dict[str, np.ndarray], rows: np.ndarray) -> ImageSplit:
    chosen = images[rows] if isinstance(images, np.ndarray) else images.take(rows)  # lazy stays lazy
    return ImageSplit(chosen, {name: values[rows] for name, values in labels.items()}, rows)


def fingerprint(*arrays: np.ndarray | CachedImages) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()[:16]


def load_splits(config: ExperimentConfig, image_set: ImageSet | None = None) -> DataSplits:
    """Load the configured source (unless image_set is it, already loaded) and split its training
    pool into train and validation.

    The split permutation depends only on the top-level seed, so every run with the same data
    config and seed sees the same validation images.
    """
    image_set = image_set or SOURCES[config.data.source].load(config.data)
    pool_size = len(image_set.train_images)
    if config.data.limit is not None:
        pool_size = min(pool_size, config.data.limit)
    num_validation = int(round(pool_size * config.train.validation_split))
    if pool_size - num_validation < 1:
        raise DataError(f"data: {pool_size} training images leave none for training after the validation split")
    order = np.random.default_rng(config.seed).permutation(pool_size)
    validation_rows = np.sort(order[:num_validation])
    train_rows = np.sort(order[num_validation:])
    train = _take(image_set.train_images, image_set.train_labels, train_rows)
    validation = _take(image_set.train_images, image_set.train_labels, validation_rows)
    test = _take(image_set.test_images, image_set.test_labels, np.arange(len(image_set.test_images)))
    if image_set.fingerprint is not None:  # a 100k-image cache is not re-hashed: its key plus the row choice
        digest = hashlib.sha256(image_set.fingerprint.encode())
        for part in (train, validation, test):
            digest.update(np.ascontiguousarray(part.index, np.int64).data)
        return DataSplits(train, validation, test, digest.hexdigest()[:16], image_set)
    return DataSplits(train, validation, test, fingerprint(train.images, validation.images, test.images), image_set)
