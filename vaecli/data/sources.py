"""Named data sources: where each data set lives and how to read it into uint8 arrays.

A source returns an ImageSet (train pool and test split as uint8 NHWC plus labels). Files are
searched for in a fixed order (explicit path, $VAECLI_DATA, the Keras cache, system folders)
and, when absent, downloaded through Keras; offline, the error lists every place tried.
No TensorFlow here: `config.py` asks this module for image shapes at validation time.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from vaecli.data.image_folder import DEFAULT_IMAGE_SIZE
from vaecli.errors import DataError

if TYPE_CHECKING:
    from vaecli.config import DataConfig
    from vaecli.data.cache import CacheInfo
    from vaecli.data.cached_images import CachedImages


@dataclass(frozen=True)
class ImageSet:
    """A whole data set in memory: images uint8 (N, H, W, C); labels name -> (N,) array."""

    train_images: np.ndarray | CachedImages  # image folders: same indexing, read from the cache on demand
    train_labels: dict[str, np.ndarray]
    test_images: np.ndarray | CachedImages
    test_labels: dict[str, np.ndarray]
    fingerprint: str | None = None  # set when hashing the pixels would be slow (a cache's own fingerprint)


@dataclass(frozen=True)
class Source:
    load: Callable[[DataConfig], ImageSet]
    native_shape: tuple[int, int, int] | None  # None: any square size (procedural data)
    channels: int
    label_names: tuple[str, ...] = ()  # class names for the "label" array, if any
    # (DataConfig) -> (H, W, C), for sources whose shape the config sets
    shape: Callable[[DataConfig], tuple[int, int, int]] | None = None


def image_shape(data_config: DataConfig) -> tuple[int, int, int]:
    """(height, width, channels) the model sees for this data config; ValueError if impossible."""
    source = SOURCES[data_config.source]
    if source.shape is not None:
        return source.shape(data_config)
    if source.native_shape is None:
        size = data_config.image_size or DEFAULT_IMAGE_SIZE
        return size, size, source.channels
    height, width, channels = source.native_shape
    if data_config.image_size not in (None, height):
        raise ValueError(f"{data_config.source} images are {height}x{width}; remove image_size or set it to {height}")
    return source.native_shape


def _load_synthetic(data_config: DataConfig) -> ImageSet:
    """The procedural faces; with data.limit only that many training images are drawn (the first N of the
    full set: image i depends only on the seed and i), so a huge num_images with a small limit is cheap."""
    from vaecli.data.synthetic import generate_faces
    from vaecli.runtime.memory import check_images_fit

    size = data_config.image_size or DEFAULT_IMAGE_SIZE
    pool = data_config.num_images if data_config.limit is None else min(data_config.num_images, data_config.limit)
    check_images_fit(
        pool + data_config.num_test_images,
        (size, size, 3),
        "data",
        "lower data.num_images, data.num_test_images or data.image_size, or set data.limit",
        copies=2,  # the generated arrays, and the train/validation split taken from them
    )
    train_images, train_labels = generate_faces(pool, size, seed=0)
    # A different generator seed keeps the test faces disjoint from the training pool.
    test_images, test_labels = generate_faces(data_config.num_test_images, size, seed=1)
    return ImageSet(train_images, train_labels, test_images, test_labels)


def _candidate_folders(data_config: DataConfig, folder_name: str, system_folder: str | None) -> list[Path]:
    """Where to look, in order. An explicit data.path is the only place looked at."""
    if data_config.path:
        return [Path(data_config.path).expanduser()]
    places = []
    if os.environ.get("VAECLI_DATA"):
        root = Path(os.environ["VAECLI_DATA"]).expanduser()
        places += [root / folder_name, root]
    places.append(Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets" / folder_name)
    if system_folder:
        places.append(Path(system_folder))
    return places


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): the MNIST family's format."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
        magic = int.from_bytes(raw[:4], "big")
        num_dims = magic & 0xFF
        if magic >> 8 != 0x08 or num_dims not in (1, 3):  # 0x08: unsigned bytes
            raise ValueError("bad magic number")
        dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(num_dims)]
        return np.frombuffer(raw, np.uint8, offset=4 + 4 * num_dims).reshape(dims)
    except (OSError, ValueError, EOFError) as error:
        raise DataError(f"{path}: not a readable IDX file ({error})") from None


def _find_idx_folder(places: list[Path]) -> Path | None:
    for place in places:
        if any((place / f"train-images-idx3-ubyte{ext}").is_file() for ext in ("", ".gz")):
            return place
    return None


def _idx_file(folder: Path, stem: str) -> Path:
    plain = folder / stem
    return plain if plain.is_file() else folder / f"{stem}.gz"


def _load_idx_folder(folder: Path) -> ImageSet:
    arrays = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _read_idx(_idx_file(folder, f"{prefix}-images-idx3-ubyte"))
        labels = _read_idx(_idx_file(folder, f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or len(images) != len(labels):
            raise DataError(f"{folder}: {prefix} images and labels do not match ({images.shape}, {labels.shape})")
        arrays[split] = (images[..., None], {"label": labels.astype(np.int64)})
    return ImageSet(*arrays["train"], *arrays["test"])


def _download_error(name: str, places: list[Path], reason: str) -> DataError:
    tried = ", ".join(str(place) for place in places)
    return DataError(
        f"{name}: data set not found (looked in {tried}) and the download failed: {reason}",
        "Set data.path or $VAECLI_DATA to a folder holding its files.",
    )


def _keras_download(name: str, places: list[Path]) -> tuple:
    if data_offline():
        raise _download_error(name, places, "downloads are off ($VAECLI_OFFLINE is set)")
    try:
        import keras

        return getattr(keras.datasets, name).load_data()
    except Exception as error:  # any network or archive failure becomes one clear line
        reason = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:200]}"
        raise _download_error(name, places, reason) from None


def data_offline() -> bool:
    return os.environ.get("VAECLI_OFFLINE", "") not in ("", "0")


def _make_idx_loader(name: str, folder_name: str, system_folder: str | None) -> Callable[[DataConfig], ImageSet]:
    def load(data_config: DataConfig) -> ImageSet:
        places = _candidate_folders(data_config, folder_name, system_folder)
        folder = _find_idx_folder(places)
        if folder is not None:
            return _load_idx_folder(folder)
        keras_npz = Path("~/.keras/datasets/mnist.npz").expanduser()
        if name == "mnist" and not data_config.path and keras_npz.is_file():
            return _from_arrays(*_read_mnist_npz(keras_npz))
        if data_config.path:
            raise DataError(f"data.path: {places[0]} holds no train-images-idx3-ubyte[.gz] for {name}")
        return _from_arrays(*_keras_download(name, places))

    return load


def _read_mnist_npz(path: Path) -> tuple:
    with np.load(path) as archive:
        return (archive["x_train"], archive["y_train"]), (archive["x_test"], archive["y_test"])


def _from_arrays(train: tuple, test: tuple) -> ImageSet:
    """From Keras' (x, y) tuples; grey images gain a channel axis."""

    def images(array: np.ndarray) -> np.ndarray:
        return array[..., None] if array.ndim == 3 else array

    return ImageSet(
        images(train[0]),
        {"label": np.asarray(train[1]).reshape(-1).astype(np.int64)},
        images(test[0]),
        {"label": np.asarray(test[1]).reshape(-1).astype(np.int64)},
    )


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as handle:
            batch = pickle.load(handle, encoding="bytes")
        images = np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return images, np.asarray(batch[b"labels"], np.int64)
    except (OSError, KeyError, ValueError, pickle.UnpicklingError, EOFError) as error:
        raise DataError(f"{path}: not a readable CIFAR-10 batch ({error})") from None


def _load_cifar10(data_config: DataConfig) -> ImageSet:
    places = _candidate_folders(data_config, "cifar-10-batches-py", None)
    for place in places:
        if (place / "data_batch_1").is_file():
            parts = [_read_cifar_batch(place / f"data_batch_{i}") for i in range(1, 6)]
            test_images, test_labels = _read_cifar_batch(place / "test_batch")
            return ImageSet(
                np.concatenate([p[0] for p in parts]),
                {"label": np.concatenate([p[1] for p in parts])},
                test_images,
                {"label": test_labels},
            )
    if data_config.path:
        raise DataError(f"data.path: {places[0]} holds no CIFAR-10 batches (data_batch_1 ... test_batch)")
    return _from_arrays(*_keras_download("cifar10", places))


IMAGE_FOLDER_TEST_SEED = 0  # fixed, not the experiment seed: runs with different seeds share one test split


def _image_folder_shape(data_config: DataConfig) -> tuple[int, int, int]:
    from vaecli.data.image_folder import Preprocessing

    return Preprocessing.from_config(data_config).shape


def load_image_folder(data_config: DataConfig, info: CacheInfo | None = None) -> ImageSet:
    """The folder's decoded cache (info from find_or_build, else found or built here), split into a
    training pool and a test split.

    The images stay on disk (CachedImages); the test rows are a seeded fraction of the folder.
    """
    from vaecli.data.cache import find_or_build
    from vaecli.data.cached_images import CachedImages

    info = info or find_or_build(data_config)
    every_image = CachedImages(info.path)
    order = np.random.default_rng(IMAGE_FOLDER_TEST_SEED).permutation(info.num_images)
    num_test = round(info.num_images * data_config.test_split)
    if info.num_images - num_test < 2:
        raise DataError(f"data.path: {info.num_images} usable image(s) in {data_config.path} are too few to train on")
    test_rows, pool_rows = np.sort(order[:num_test]), np.sort(order[num_test:])
    labels = {}
    if data_config.labels:  # known factors (vaecli.data.labels): one row per cached file, refused otherwise
        from vaecli.data.labels import cached_files, read_labels

        labels = read_labels(data_config.labels, cached_files(info.path)[: info.num_images])
    return ImageSet(
        every_image.take(pool_rows),
        {name: values[pool_rows] for name, values in labels.items()},
        every_image.take(test_rows),
        {name: values[test_rows] for name, values in labels.items()},
        fingerprint=info.fingerprint,
    )


FASHION_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

SOURCES: dict[str, Source] = {
    "synthetic": Source(_load_synthetic, None, 3),
    "mnist": Source(_make_idx_loader("mnist", "mnist", None), (28, 28, 1), 1, tuple("0123456789")),
    "fashion_mnist": Source(
        _make_idx_loader("fashion_mnist", "fashion-mnist", "/usr/share/datasets/fashion-mnist"),
        (28, 28, 1),
        1,
        FASHION_CLASSES,
    ),
    "cifar10": Source(_load_cifar10, (32, 32, 3), 3, CIFAR10_CLASSES),
    "image_folder": Source(load_image_folder, None, 3, shape=_image_folder_shape),
}
