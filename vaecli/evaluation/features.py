"""Named feature spaces for the plausibility metrics: classifier, inception, pixels.

Precision, recall and the Frechet distance depend entirely on the space the images are
embedded in, so every number carries the name of its space and `vae compare` warns when
runs were measured in different ones.

- classifier: the penultimate layer (128 units) of a small CNN (three stride-2 convolutions,
  a 128-unit dense layer) trained for about 20 s on up to 20,000 images of the data set's own
  labels, once per data set, cached and reused by every run on it. Fashion-MNIST, MNIST and
  CIFAR-10 have one class label; the synthetic faces have several categorical attributes, and
  the CNN gets one softmax head per attribute (smile, hair_colour, glasses, background,
  skin_tone), so its features see every factor the generator varies, not only hair colour.
- inception: InceptionV3's 2048-d pool features (the space of FID), only from weights already
  on disk; nothing is downloaded.
- pixels: the images area-downsampled to at most 16x16, flattened: always available, crude.

The default is the first available in that order. The domain classifier comes first because
on 28x28 grey garments and 32x32 cartoon faces ImageNet features are out of domain, and
InceptionV3 at 299x299 costs minutes per thousand images on a laptop CPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from vaecli.data.labels import MAX_LABEL_CLASSES
from vaecli.errors import FeatureSpaceError
from vaecli.io.cache_root import cache_root
from vaecli.typing_aliases import Tensor

if TYPE_CHECKING:
    import keras
    from rich.console import Console

    from vaecli.config import DataConfig
    from vaecli.data.sources import ImageSet

CLASSIFIER_RECIPE = "cnn-v2"  # part of the cache key: a changed recipe never reuses old weights
CLASSIFIER_TRAIN_IMAGES = 20000  # at most this many training images: well under a minute on 2 cores
CLASSIFIER_EPOCHS = 4
CLASSIFIER_MIN_STEPS = 300  # small data sets get more epochs: 4 epochs of 640 images teach nothing
CLASSIFIER_FEATURES = 128
PIXEL_SIZE = 16  # pixels feature space: images downsampled to at most this size
INCEPTION_WEIGHTS = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_SIZE = 299
FEATURE_BATCH = 256


@dataclass
class FeatureSpace:
    name: str
    embed: Callable[[np.ndarray], np.ndarray]  # float images in [0, 1] (N, H, W, C) -> (N, D) float64
    details: dict = field(default_factory=dict)  # what the output names: dimensions, accuracy, cache path

    def describe(self) -> dict:
        return {"name": self.name, **self.details}


def class_labels(labels: dict[str, np.ndarray]) -> dict[str, int]:
    """name -> number of classes, for every integer label with 2..MAX_LABEL_CLASSES values."""
    heads = {}
    for name, values in sorted(labels.items()):
        values = np.asarray(values)
        if np.issubdtype(values.dtype, np.integer) and 2 <= len(np.unique(values)) <= MAX_LABEL_CLASSES:
            heads[name] = int(values.max()) + 1
    return heads


def _batched(function: Callable[[np.ndarray], Tensor], images: np.ndarray) -> np.ndarray:
    import keras

    parts = [
        keras.ops.convert_to_numpy(function(images[start : start + FEATURE_BATCH]))
        for start in range(0, len(images), FEATURE_BATCH)
    ]
    return np.concatenate(parts).astype(np.float64)


# ------------------------------------------------------------------------------- pixels


def _pixel_space(image_set: ImageSet, data_config: DataConfig, console: Console | None = None) -> FeatureSpace:
    from vaecli.runtime.tensorflow import import_tensorflow

    tf = import_tensorflow()
    height, width = image_set.test_images.shape[1:3]
    size = (min(height, PIXEL_SIZE), min(width, PIXEL_SIZE))

    def embed(images: np.ndarray) -> np.ndarray:
        small = tf.image.resize(np.asarray(images, np.float32), size, method="area")
        return np.asarray(small, np.float64).reshape(len(images), -1)

    return FeatureSpace(
        "pixels",
        embed,
        {
            "dimensions": size[0] * size[1] * image_set.test_images.shape[-1],
            "description": f"pixels area-downsampled to {size[0]}x{size[1]}",
        },
    )


# ---------------------------------------------------------------------------- inception


def inception_weights_path() -> Path:
    return Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "models" / INCEPTION_WEIGHTS


def _inception_space(image_set: ImageSet, data_config: DataConfig, console: Console | None = None) -> FeatureSpace:
    weights = inception_weights_path()
    if not weights.is_file():
        raise FeatureSpaceError(
            f"the inception feature space needs InceptionV3 weights at {weights} (nothing is "
            f"downloaded); copy the file there or use features classifier or pixels",
            arguments=("features",),
        )
    from vaecli.runtime.tensorflow import import_tensorflow

    tf = import_tensorflow()
    import keras

    network = keras.applications.InceptionV3(
        include_top=False, weights=str(weights), pooling="avg", input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3)
    )

    def embed(images: np.ndarray) -> np.ndarray:
        def features(batch: np.ndarray) -> Tensor:
            batch = tf.image.resize(np.asarray(batch, np.float32), (INCEPTION_SIZE, INCEPTION_SIZE), "bilinear")
            if batch.shape[-1] == 1:
                batch = tf.repeat(batch, 3, axis=-1)
            return network(batch * 2.0 - 1.0, training=False)  # inception_v3.preprocess_input: [-1, 1]

        return _batched(features, images)

    return FeatureSpace(
        "inception",
        embed,
        {
            "dimensions": 2048,
            "weights": str(weights),
            "description": "InceptionV3 pool features at 299x299 (FID space)",
        },
    )


# --------------------------------------------------------------------------- classifier


def data_key(data_config: DataConfig, image_set: ImageSet) -> str:
    """Cache key of a data set: source, image size and a hash of every image and label used.

    Independent of a run's seed and validation split, so all runs on one data set share one
    classifier and their numbers are comparable.
    """
    digest = hashlib.sha256(CLASSIFIER_RECIPE.encode())
    for array in (
        image_set.train_images,
        image_set.test_images,
        *(image_set.train_labels[name] for name in sorted(image_set.train_labels)),
    ):
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).data)
    size = image_set.test_images.shape[1]
    return f"{data_config.source}-{size}px-{digest.hexdigest()[:16]}"


def _build_classifier(image_shape: tuple[int, ...], heads: dict[str, int]) -> keras.Model:
    import keras
    from keras import layers

    images = keras.Input(image_shape, name="images")
    x = images
    for index, filters in enumerate((32, 64, 128)):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu", name=f"conv_{index}")(x)
    # Flatten, not global pooling: where things are matters (a mouth, glasses), and it raised
    # Fashion-MNIST test accuracy from 82% to 87% at the same cost.
    x = layers.Flatten(name="flatten")(x)
    features = layers.Dense(CLASSIFIER_FEATURES, activation="relu", name="features")(x)
    outputs = {
        name: layers.Dense(classes, activation="softmax", name=name)(features) for name, classes in heads.items()
    }
    return keras.Model(images, outputs, name="feature_classifier")


def train_classifier(
    image_set: ImageSet, heads: dict[str, int], seed: int = 0
) -> tuple[keras.Model, dict[str, float], float, int]:
    """Fit the CNN on (a subset of) the training pool; returns (model, test accuracy per head, seconds, epochs)."""
    import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(len(image_set.train_images))[:CLASSIFIER_TRAIN_IMAGES])
    images = image_set.train_images[rows].astype(np.float32) / 255.0
    targets = {name: np.asarray(image_set.train_labels[name])[rows] for name in heads}
    model = _build_classifier(images.shape[1:], heads)
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss={name: "sparse_categorical_crossentropy" for name in heads},
        metrics={name: ["accuracy"] for name in heads},
    )
    steps_per_epoch = -(-len(images) // 128)
    epochs = max(CLASSIFIER_EPOCHS, -(-CLASSIFIER_MIN_STEPS // steps_per_epoch))
    started = time.perf_counter()
    model.fit(images, targets, batch_size=128, epochs=epochs, verbose=0, shuffle=True)
    seconds = time.perf_counter() - started
    test_images = image_set.test_images.astype(np.float32) / 255.0
    predictions = model.predict(test_images, batch_size=FEATURE_BATCH, verbose=0)
    accuracy = {
        name: float(np.mean(np.argmax(predictions[name], axis=1) == np.asarray(image_set.test_labels[name])))
        for name in heads
    }
    return model, accuracy, seconds, epochs


def _classifier_space(image_set: ImageSet, data_config: DataConfig, console: Console | None = None) -> FeatureSpace:
    heads = class_labels(image_set.train_labels)
    if not heads:
        raise FeatureSpaceError(
            f"the classifier feature space needs class labels, and {data_config.source} has "
            f"none; use features pixels or inception",
            arguments=("features",),
        )
    from vaecli.io.atomic import atomic_path, write_text_atomic
    from vaecli.runtime.tensorflow import import_tensorflow

    import_tensorflow()
    import keras

    folder = cache_root() / "features" / data_key(data_config, image_set)
    model_file, info_file = folder / "classifier.keras", folder / "classifier.json"
    if model_file.is_file() and info_file.is_file():
        model, info = keras.models.load_model(model_file, compile=False), json.loads(info_file.read_text())
    else:
        if console is not None:
            console.print(
                f"Training the feature classifier for {data_config.source} once (cached in {folder})", highlight=False
            )
        model, accuracy, seconds, epochs = train_classifier(image_set, heads)
        with atomic_path(model_file, suffix=".keras") as temporary:
            model.save(temporary)
        info = {
            "heads": heads,
            "test_accuracy": accuracy,
            "train_images": min(CLASSIFIER_TRAIN_IMAGES, len(image_set.train_images)),
            "epochs": epochs,
            "train_seconds": round(seconds, 1),
            "recipe": CLASSIFIER_RECIPE,
        }
        write_text_atomic(info_file, json.dumps(info, indent=2) + "\n")
    extractor = keras.Model(model.inputs[0], model.get_layer("features").output)
    return FeatureSpace(
        "classifier",
        lambda images: _batched(lambda batch: extractor(batch, training=False), images),
        {
            "dimensions": CLASSIFIER_FEATURES,
            "test_accuracy": info["test_accuracy"],
            "labels": list(info["heads"]),
            "cache": str(folder),
            "description": f"penultimate layer of a CNN trained on the {data_config.source} labels "
            f"({', '.join(info['heads'])})",
        },
    )


FEATURE_SPACES: dict[str, Callable] = {
    "classifier": _classifier_space,
    "inception": _inception_space,
    "pixels": _pixel_space,
}
DEFAULT_ORDER = ("classifier", "inception", "pixels")  # best first (see the module docstring)


def load_feature_space(
    name: str | None, data_config: DataConfig, image_set: ImageSet, console: Console | None = None
) -> FeatureSpace:
    """The named feature space, or the best available one when name is None or 'auto'."""
    if name not in (None, "auto") and name not in FEATURE_SPACES:
        raise FeatureSpaceError(f"unknown feature space {name!r} (choose from auto, {', '.join(FEATURE_SPACES)})")
    candidates = DEFAULT_ORDER if name in (None, "auto") else (name,)
    problems = []
    for candidate in candidates:
        try:
            return FEATURE_SPACES[candidate](image_set, data_config, console)
        except FeatureSpaceError as error:
            if name not in (None, "auto"):
                raise
            problems.append(str(error))
    raise FeatureSpaceError("no feature space is available: " + "; ".join(problems))
