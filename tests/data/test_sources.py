"""Data sources, splits and the tf.data pipeline, on generated and real files."""

import gzip

import numpy as np
import pytest

from tests.helpers import tiny_config
from vaecli.config import validate
from vaecli.data.sources import SOURCES, image_shape
from vaecli.data.splits import load_splits
from vaecli.data.synthetic import ATTRIBUTE_NAMES, generate_faces
from vaecli.errors import DataError


def test_synthetic_faces_are_deterministic_rgb_with_attributes():
    images, attributes = generate_faces(50, 32, seed=4)
    again, _ = generate_faces(50, 32, seed=4)
    other, _ = generate_faces(50, 32, seed=5)
    assert images.shape == (50, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, again) and not np.array_equal(images, other)
    assert set(ATTRIBUTE_NAMES) >= {"smile", "hair_colour", "glasses", "face_x", "face_y", "face_size", "background"}
    assert all(len(attributes[name]) == 50 for name in ATTRIBUTE_NAMES)
    assert set(np.unique(attributes["glasses"])) == {0, 1}
    # Faces are drawn, not noise: neighbouring pixels mostly agree.
    assert np.abs(np.diff(images.astype(int), axis=1)).mean() < 20


def test_synthetic_attributes_show_in_pixels():
    images, attributes = generate_faces(400, 32, seed=0)
    # Background colour categories differ in the corner pixel colour on average.
    corners = images[:, 0, 0].astype(float)
    means = [corners[attributes["background"] == value].mean(axis=0) for value in np.unique(attributes["background"])]
    assert min(np.abs(a - b).sum() for i, a in enumerate(means) for b in means[i + 1 :]) > 20


def write_idx(folder, prefix, images, labels):
    folder.mkdir(parents=True, exist_ok=True)
    header = (0x0803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in images.shape)
    with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(header + images.tobytes())
    header = (0x0801).to_bytes(4, "big") + len(labels).to_bytes(4, "big")
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(header + labels.tobytes())  # plain, not gzipped


def test_idx_files_are_read_from_an_explicit_path(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    test = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "fm", "train", train, np.arange(30, dtype=np.uint8) % 10)
    write_idx(tmp_path / "fm", "t10k", test, np.arange(10, dtype=np.uint8))
    config = validate(
        tiny_config(
            data={"source": "fashion_mnist", "path": str(tmp_path / "fm"), "image_size": None},
            model={"decoder": {"filters": [16, 1], "kernel_sizes": [3, 3], "strides": [2, 2]}},
        )
    )
    image_set = SOURCES["fashion_mnist"].load(config.data)
    assert np.array_equal(image_set.train_images[..., 0], train) and np.array_equal(image_set.test_images[..., 0], test)
    assert list(image_set.train_labels["label"][:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_corrupt_idx_file_is_named(tmp_path):
    folder = tmp_path / "fm"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte").write_bytes(b"garbage!" * 10)
    config = validate(
        tiny_config(
            data={"source": "mnist", "path": str(folder), "image_size": None},
            model={"decoder": {"filters": [16, 1], "kernel_sizes": [3, 3], "strides": [2, 2]}},
        )
    )
    with pytest.raises(DataError, match="train-images-idx3-ubyte: not a readable IDX file"):
        SOURCES["mnist"].load(config.data)


def test_missing_data_set_lists_every_place_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("VAECLI_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    config = validate(
        tiny_config(
            data={"source": "cifar10", "image_size": None},
            model={"encoder": {"filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2]}},
        )
    )
    with pytest.raises(DataError) as error:
        SOURCES["cifar10"].load(config.data)
    message = "\n".join(error.value.lines)
    assert str(tmp_path / "data" / "cifar-10-batches-py") in message
    assert str(tmp_path / "keras" / "datasets" / "cifar-10-batches-py") in message
    assert "downloads are off" in message and "data.path" in message


def test_image_shapes_per_source():
    assert image_shape(validate(tiny_config()).data) == (16, 16, 3)
    config = validate(
        tiny_config(
            data={"source": "cifar10", "image_size": 32},
            model={"encoder": {"filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2]}},
        )
    )
    assert image_shape(config.data) == (32, 32, 3)


def test_splits_are_disjoint_deterministic_and_limited():
    config = validate(tiny_config(data={"limit": 300}))
    splits = load_splits(config)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (270, 30, 64)
    assert not set(splits.train.index) & set(splits.validation.index)
    assert set(splits.train.index) | set(splits.validation.index) == set(range(300))
    again = load_splits(config)
    assert again.fingerprint == splits.fingerprint and np.array_equal(again.validation.index, splits.validation.index)
    assert load_splits(validate(tiny_config(seed=99, data={"limit": 300}))).fingerprint != splits.fingerprint
    assert splits.train.labels["smile"].shape == (270,)


def test_training_batches_cover_each_epoch_once_in_a_seeded_order():
    from vaecli.data.pipeline import ordered_batches, training_batches

    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1)
    batches = [b.numpy().reshape(-1) for b in training_batches(images, 4, seed=1, first_epoch=0, last_epoch=3)]
    assert [len(b) for b in batches] == [4, 4, 2] * 3  # the partial last batch is kept
    epochs = [np.concatenate(batches[i : i + 3]) for i in (0, 3, 6)]
    assert all(sorted(epoch) == list(range(10)) for epoch in epochs)
    assert not np.array_equal(epochs[0], epochs[1])
    # Resuming at epoch 2 yields exactly the batches an uninterrupted run sees in epoch 2.
    resumed = [b.numpy().reshape(-1) for b in training_batches(images, 4, seed=1, first_epoch=2, last_epoch=3)]
    assert np.array_equal(np.concatenate(resumed), epochs[2])
    assert batches[0].dtype == np.uint8
    ordered = np.concatenate([b.numpy().reshape(-1) for b in ordered_batches(images, 4)])
    assert list(ordered) == list(range(10))


def test_streamed_batches_from_a_cache_cover_each_epoch_once_in_a_seeded_order(tmp_path, monkeypatch):
    import h5py

    from vaecli.data import pipeline
    from vaecli.data.cached_images import CachedImages

    # Image i holds its own number in two bytes, so batches can be read back as row numbers.
    numbers = np.arange(1000)
    with h5py.File(tmp_path / "cache.h5", "w") as handle:
        handle["images"] = np.stack([numbers // 256, numbers % 256], axis=1).astype(np.uint8).reshape(-1, 1, 2, 1)
    rows = np.sort(np.random.default_rng(0).choice(1000, 700, replace=False))
    images = CachedImages(tmp_path / "cache.h5").take(rows)
    monkeypatch.setattr(pipeline, "STREAM_BLOCK_IMAGES", 32)  # many blocks and groups even at this size
    monkeypatch.setattr(pipeline, "STREAM_GROUP_BLOCKS", 3)

    def read(batches):
        return [b.numpy().reshape(-1, 2).astype(int) @ [256, 1] for b in batches]

    batches = read(pipeline.training_batches(images, 64, seed=1, first_epoch=0, last_epoch=3))
    per_epoch = pipeline.steps_per_epoch(700, 64)
    assert [len(b) for b in batches] == ([64] * 10 + [60]) * 3 and per_epoch == 11
    epochs = [np.concatenate(batches[i * per_epoch : (i + 1) * per_epoch]) for i in range(3)]
    assert all(sorted(epoch) == list(rows) for epoch in epochs)
    assert not np.array_equal(epochs[0], epochs[1])
    assert abs(np.corrcoef(np.arange(700), epochs[0])[0, 1]) < 0.2  # shuffled, not a rotated sorted order
    resumed = read(pipeline.training_batches(images, 64, seed=1, first_epoch=2, last_epoch=3))
    assert np.array_equal(np.concatenate(resumed), epochs[2])
    assert list(np.concatenate(read(pipeline.ordered_batches(images, 64)))) == list(rows)
