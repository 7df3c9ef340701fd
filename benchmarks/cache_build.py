"""Image-folder cache build and cached training against keras.utils.image_dataset_from_directory.

    python benchmarks/cache_build.py [--n 3000] [--folder DIR] [--epochs 1] [--model small|celeba] [--rounds 3]
                                     [--image-size 96]

On a generated folder of 178x218 JPEGs (CelebA's size), each step runs in a fresh process:

  build        `vae data prepare`'s work: decode, crop, resize to 96x96 (--image-size) into the uint8 HDF5 cache,
               on every core (images/s)
  keras        one epoch of image_dataset_from_directory decoding and resizing the same folder
               to the same size (centre crop to a square, AUTOTUNE parallelism) (images/s)
  stream       vaecli's streamed pipeline reading the cache, no model: epochs after the first (images/s)
  train-cache  one timed training epoch of the same model fed by the cache stream
  train-keras  one timed training epoch fed by the Keras pipeline (re-decoding every epoch)

Both training sides use the real vaecli model and train step; a warm-up epoch (tracing)
precedes the timed one. The ratios are printed last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IMAGE_SIZE = 96  # --image-size: 64 lets libjpeg decode CelebA's 148-pixel face box at 1/2 scale
CELEBA_CROP = [40, 15, 148, 148]
MODELS = {  # the celeba_z200 stacks, and a small one for which the input pipeline matters most
    "celeba": {
        "z_dim": 200,
        "encoder": {"filters": [32, 64, 64, 64], "kernel_sizes": [3] * 4, "strides": [2] * 4},
        "decoder": {"filters": [64, 64, 32, 3], "kernel_sizes": [3] * 4, "strides": [2] * 4},
    },
    "small": {
        "z_dim": 200,
        "encoder": {"filters": [8, 16, 16, 16], "kernel_sizes": [3] * 4, "strides": [2] * 4},
        "decoder": {"filters": [16, 16, 8, 3], "kernel_sizes": [3] * 4, "strides": [2] * 4},
    },
}


def make_config(folder: str, cache: str, model: str):
    from vaecli.config import validate

    return validate(
        {
            "name": "bench",
            "data": {
                "source": "image_folder",
                "path": folder,
                "image_size": IMAGE_SIZE,
                "crop": CELEBA_CROP,
                "cache_dir": cache,
                "test_split": 0.0,
            },
            "model": {"kind": "vae", **MODELS[model]},
            "train": {"batch_size": 128, "validation_split": 0.0, "epochs": 2},
        }
    )


def step_build(folder: str, cache: str, model: str, epochs: int) -> dict:
    import shutil

    from vaecli.data.cache import find_or_build
    from vaecli.runtime.tensorflow import import_tensorflow

    import_tensorflow()  # as the Keras step: the import (~3 s, once per command) is not a per-image cost
    shutil.rmtree(cache, ignore_errors=True)  # always a fresh build
    started = time.perf_counter()
    info = find_or_build(make_config(folder, cache, model).data)
    return {"images": info.num_images, "seconds": time.perf_counter() - started, "built": info.built}


def _keras_images(folder: str):
    """The Keras pipeline as a user would write it: decode + centre-crop to a square + resize to 96x96."""
    import keras
    import tensorflow as tf

    dataset = keras.utils.image_dataset_from_directory(
        folder,
        labels=None,
        image_size=(IMAGE_SIZE, IMAGE_SIZE),
        crop_to_aspect_ratio=True,
        batch_size=128,
        shuffle=False,
        verbose=False,
    )
    # The model takes uint8 like vaecli's pipeline; Keras yields float32 in 0..255.
    return dataset.map(lambda images: tf.cast(tf.round(images), tf.uint8)).prefetch(tf.data.AUTOTUNE)


def _cache_images(folder: str, cache: str, model: str, epochs: int):
    from vaecli.data.pipeline import training_batches
    from vaecli.data.splits import load_splits

    config = make_config(folder, cache, model)
    images = load_splits(config).train.images
    return training_batches(images, 128, 0, 0, epochs), config, len(images)


def _time_epoch(batches, count_steps: int | None = None) -> tuple[int, float]:
    started, images = time.perf_counter(), 0
    for step, batch in enumerate(batches):
        images += int(batch.shape[0])
        if count_steps is not None and step + 1 == count_steps:
            break
    return images, time.perf_counter() - started


def step_keras(folder: str, cache: str, model: str, epochs: int) -> dict:
    from vaecli.runtime.tensorflow import import_tensorflow

    import_tensorflow()
    images, seconds = _time_epoch(_keras_images(folder))
    return {"images": images, "seconds": seconds}


def step_stream(folder: str, cache: str, model: str, epochs: int) -> dict:
    """Steady state: the first epoch (start-up) is not timed, the next `epochs` are, per epoch."""
    from vaecli.data.pipeline import steps_per_epoch
    from vaecli.runtime.tensorflow import import_tensorflow

    import_tensorflow()
    batches, _, count = _cache_images(folder, cache, model, 1 + epochs)
    steps = steps_per_epoch(count, 128)
    iterator = iter(batches)
    _time_epoch(iterator, steps)
    images, seconds = _time_epoch(iterator, steps * epochs)
    return {"images": images // epochs, "seconds": seconds / epochs}


def _train(batches, steps: int, config, epochs: int) -> dict:
    from vaecli.models.factory import build_autoencoder
    from vaecli.runtime.tensorflow import configured_runtime

    with configured_runtime(config) as acceleration:
        model = build_autoencoder(config, (IMAGE_SIZE, IMAGE_SIZE, 3), steps, acceleration.jit_compile)
        model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0)  # warm-up: tracing
        started = time.perf_counter()
        model.fit(batches, epochs=1 + epochs, initial_epoch=1, steps_per_epoch=steps, verbose=0)
    return {"seconds": (time.perf_counter() - started) / epochs, "precision": acceleration.precision_policy}


def step_train_cache(folder: str, cache: str, model: str, epochs: int) -> dict:
    from vaecli.data.pipeline import steps_per_epoch
    from vaecli.runtime.tensorflow import import_tensorflow

    import_tensorflow()
    batches, config, count = _cache_images(folder, cache, model, epochs + 1)
    return {"images": count, **_train(batches, steps_per_epoch(count, 128), config, epochs)}


def step_train_keras(folder: str, cache: str, model: str, epochs: int) -> dict:
    from vaecli.runtime.tensorflow import import_tensorflow

    import_tensorflow()
    batches = _keras_images(folder)
    steps = int(batches.cardinality())
    count = sum(1 for _ in Path(folder).glob("*.jpg"))
    return {"images": count, **_train(batches.repeat(), steps, make_config(folder, cache, model), epochs)}


STEPS = {
    "build": step_build,
    "keras": step_keras,
    "stream": step_stream,
    "train-cache": step_train_cache,
    "train-keras": step_train_keras,
}


def run_step(name: str, folder: str, cache: str, model: str, epochs: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "--step",
        name,
        "--folder",
        folder,
        "--cache",
        cache,
        "--model",
        model,
        "--epochs",
        str(epochs),
        "--image-size",
        str(IMAGE_SIZE),
    ]
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    if result.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    global IMAGE_SIZE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="JPEGs to generate (when --folder is not given)")
    parser.add_argument("--folder", help="an existing folder of JPEGs (flat) instead of a generated one")
    parser.add_argument("--cache", help="cache folder (default: a temporary one)")
    parser.add_argument("--epochs", type=int, default=1, help="timed training epochs per side")
    parser.add_argument("--model", choices=sorted(MODELS), default="small")
    parser.add_argument("--steps", default="build,keras,stream,train-cache,train-keras")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions; medians are compared")
    parser.add_argument("--image-size", type=int, default=96, help="output pixels (square; 64 or 96)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    IMAGE_SIZE = arguments.image_size
    if arguments.step:
        print(json.dumps(STEPS[arguments.step](arguments.folder, arguments.cache, arguments.model, arguments.epochs)))
        return
    scratch = Path(tempfile.mkdtemp(prefix="vaecli_bench_"))
    folder = arguments.folder
    if folder is None:
        from tests.helpers import write_jpeg_folder

        folder = str(scratch / "photos")
        started = time.perf_counter()
        write_jpeg_folder(Path(folder), arguments.n)
        print(f"generated {arguments.n} 178x218 JPEGs in {time.perf_counter() - started:.1f} s -> {folder}")
    cache = arguments.cache or str(scratch / "cache")
    results: dict[str, list[dict]] = {}
    for _ in range(arguments.rounds):  # interleaved rounds: machine noise hits every step alike
        for name in arguments.steps.split(","):
            result = run_step(name, folder, cache, arguments.model, arguments.epochs)
            results.setdefault(name, []).append(result)
            rate = result["images"] / result["seconds"]
            print(f"{name:12s} {result['images']:6d} images  {result['seconds']:7.2f} s  {rate:8.0f} images/s")
    seconds = {name: statistics.median(result["seconds"] for result in runs) for name, runs in results.items()}
    print("medians (s): " + ", ".join(f"{name} {value:.2f}" for name, value in seconds.items()))
    if {"build", "keras"} <= seconds.keys():
        print(f"cache build vs one Keras decoding epoch: {seconds['keras'] / seconds['build']:.2f}x")
    if {"stream", "keras"} <= seconds.keys():
        print(f"steady cache epoch vs Keras decoding epoch: {seconds['keras'] / seconds['stream']:.1f}x")
    if {"train-cache", "train-keras"} <= seconds.keys():
        print(
            f"training epoch from the cache vs from the Keras pipeline ({arguments.model} model): "
            f"{seconds['train-keras'] / seconds['train-cache']:.2f}x"
        )


if __name__ == "__main__":
    main()
