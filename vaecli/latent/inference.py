"""Batched inference of a run's encoder and decoder on NumPy arrays, and the splits they encode.

Every latent-space command and the evaluation go through these: uint8 images are scaled as
the training model scales them, batches are bounded, and the results are float32 arrays.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from vaecli.errors import LatentError
from vaecli.progress import progress_bar

if TYPE_CHECKING:
    from vaecli.run import Run

BATCH_SIZE = 256  # images per encoder/decoder call: large enough to keep a CPU busy, small on memory
SPLITS = ("train", "validation", "test", "all")


def _in_batches(count: int, batch_size: int, on_batch: Callable[[int], None] | None):
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        yield start, stop
        if on_batch is not None:
            on_batch(stop - start)


def encode_images(
    run: Run, images: np.ndarray, batch_size: int = BATCH_SIZE, on_batch: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (N, H, W, C) -> (z_mean, z_log_var) float32 (N, z_dim); z_log_var None for an AE.

    uint8 images are scaled as the training model scales them (uint8 / 255); float images are
    taken as already in [0, 1] (decoded images fed back without rounding). on_batch(number of
    images just encoded) drives a progress bar.
    """
    import keras

    from vaecli.images import checked_images

    images = checked_images(images, run.image_shape)
    count = len(images)
    z_mean = np.empty((count, run.z_dim), np.float32)
    z_log_var = np.empty((count, run.z_dim), np.float32) if run.is_vae else None
    for start, stop in _in_batches(count, batch_size, on_batch):
        batch = np.asarray(images[start:stop]).astype(np.float32)
        if images.dtype == np.uint8:  # the same scaling the training model applies (vaecli.models.AutoEncoder)
            batch /= 255.0
        outputs = run.encoder(batch, training=False)  # eager call: no retracing per batch size
        if z_log_var is None:
            z_mean[start:stop] = keras.ops.convert_to_numpy(outputs)
        else:
            z_mean[start:stop] = keras.ops.convert_to_numpy(outputs[0])
            z_log_var[start:stop] = keras.ops.convert_to_numpy(outputs[1])
    return z_mean, z_log_var


def decode_latents(
    run: Run, z: np.ndarray, batch_size: int = BATCH_SIZE, on_batch: Callable[[int], None] | None = None
) -> np.ndarray:
    """Latent points (N, z_dim) -> float32 images (N, H, W, C) in [0, 1]."""
    return _decode_with(run.decoder, run.image_shape, z, batch_size, on_batch)


def decode_logits(
    run: Run, z: np.ndarray, batch_size: int = BATCH_SIZE, on_batch: Callable[[int], None] | None = None
) -> np.ndarray:
    """Latent points (N, z_dim) -> float32 decoder logits (N, H, W, C): what every likelihood is computed from."""
    return _decode_with(run.decoder_logits, run.image_shape, z, batch_size, on_batch)


def _decode_with(network, image_shape, z, batch_size: int, on_batch) -> np.ndarray:
    import keras

    z = np.asarray(z, np.float32)
    outputs = np.empty((len(z), *image_shape), np.float32)
    for start, stop in _in_batches(len(z), batch_size, on_batch):
        outputs[start:stop] = keras.ops.convert_to_numpy(network(z[start:stop], training=False))
    return outputs


def encode_with_progress(run: Run, images: np.ndarray, console, description: str):
    with progress_bar(console, len(images), description) as advance:
        return encode_images(run, images, on_batch=advance)


def load_split(run: Run, split: str, limit: int | None = None, splits=None):
    """(ImageSplit, per-row split codes or None, fingerprint, warnings) for train/validation/test/all,
    from the run's data (or from splits, when the caller has loaded them already)."""
    from vaecli.data.splits import SPLIT_NAMES, ImageSplit, load_splits

    if split not in SPLITS:
        raise LatentError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    if limit is not None and limit < 1:
        raise LatentError(f"--limit must be at least 1, got {limit}")
    splits = splits or load_splits(run.config)
    warnings = []
    recorded = run.manifest.fingerprint
    if recorded is not None and splits.fingerprint != recorded:
        warnings.append(
            f"the data set changed since {run.paths.root} was trained (fingerprint {recorded} -> {splits.fingerprint})"
        )
    if split != "all":
        chosen, codes = splits.split(split), None
    else:
        parts = [splits.split(name) for name in SPLIT_NAMES]
        chosen = ImageSplit(
            np.concatenate([part.images for part in parts]),
            {name: np.concatenate([part.labels[name] for part in parts]) for name in parts[0].labels},
            np.concatenate([part.index for part in parts]),
        )
        codes = np.concatenate([np.full(len(part), code, np.uint8) for code, part in enumerate(parts)])
    if limit is not None:
        chosen = ImageSplit(
            chosen.images[:limit],
            {name: values[:limit] for name, values in chosen.labels.items()},
            chosen.index[:limit],
        )
        codes = None if codes is None else codes[:limit]
    if len(chosen) == 0:
        raise LatentError(f"the {split} split of {run.paths.root} holds no images")
    return chosen, codes, splits.fingerprint, warnings
