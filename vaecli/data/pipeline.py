"""tf.data pipelines over uint8 images: in-memory arrays, or an image folder's cache streamed from disk.

Images stay uint8 until the batch reaches the model (a quarter of float32's memory and
copy cost); the model scales them to [0, 1]. The training order of epoch e is a function of
(seed, e) only, so a resumed run sees exactly the batches an uninterrupted one would have
seen, with no iterator state to save.

In memory (ndarray): a stateless shuffle of every row per epoch, gathered from one constant.
Streamed (CachedImages, an image folder): the epoch's order is a seeded permutation of blocks
of contiguous rows (fast sequential HDF5 reads), shuffled again within groups of blocks, read
by a Python generator a few batches ahead of the model. Memory holds one group of blocks
(STREAM_BLOCK_IMAGES x STREAM_GROUP_BLOCKS images) a few times over, whatever the size of the data set.

With a task that corrupts its input (denoise, recolor) every element is an (input, target) pair.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from vaecli.data.tasks import VALIDATION_EPOCH, has_corruption, input_target_pairs

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from vaecli.config import TaskConfig
    from vaecli.data.cached_images import CachedImages

STREAM_BLOCK_IMAGES = 256  # contiguous rows read at once: 7 MB at 96x96x3, one sequential HDF5 read
STREAM_GROUP_BLOCKS = 8  # blocks shuffled together: 2,048 images, 57 MB at 96x96x3


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    return math.ceil(num_images / batch_size)


def _in_memory(images: np.ndarray | CachedImages) -> TypeIs[np.ndarray]:
    return isinstance(images, np.ndarray)


def _finish(batches: tf.data.Dataset, task_config: TaskConfig | None, seed: int) -> tf.data.Dataset:
    """(images, epoch, batch index) -> images, or (input, target) pairs for a corrupting task."""
    if has_corruption(task_config):
        batches = input_target_pairs(batches, task_config, seed)
    else:
        batches = batches.map(lambda images, epoch, batch_index: images)
    options = tf.data.Options()
    # Several workers (train.distribute: multi_worker) each take their share of the batches.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def _in_memory_training(
    images: np.ndarray, batch_size: int, seed: int, first_epoch: int, last_epoch: int
) -> tf.data.Dataset:
    all_images = tf.constant(images)
    num_images = len(images)

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num_images, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        rows = tf.data.Dataset.from_tensor_slices(order).batch(batch_size).enumerate()
        return rows.map(lambda batch_index, batch_rows: (tf.gather(all_images, batch_rows), epoch, batch_index))

    return tf.data.Dataset.range(first_epoch, last_epoch).flat_map(epoch_batches)


def streamed_epoch(images: CachedImages, batch_size: int, seed: int, epoch: int) -> Iterator[np.ndarray]:
    """The batches of one epoch of a lazy image array, in the order fixed by (seed, epoch), stacked
    a group of blocks at a time: arrays of shape (batches, batch_size, H, W, C); the partial last
    batch comes alone, as (1, its size, H, W, C)."""
    rng = np.random.default_rng([seed, epoch])
    block_starts = np.arange(0, len(images), STREAM_BLOCK_IMAGES)
    block_order = rng.permutation(len(block_starts))
    leftover = np.empty((0, *images.shape[1:]), np.uint8)
    for group_start in range(0, len(block_order), STREAM_GROUP_BLOCKS):
        starts = block_starts[block_order[group_start : group_start + STREAM_GROUP_BLOCKS]]
        pool = np.concatenate([leftover, *(images[start : start + STREAM_BLOCK_IMAGES] for start in starts)])
        order = rng.permutation(len(pool))
        full = len(pool) // batch_size * batch_size
        if full:
            yield pool[order[:full]].reshape(full // batch_size, batch_size, *pool.shape[1:])
        leftover = pool[order[full:]]
    if len(leftover):
        yield leftover[np.newaxis]  # the partial last batch: every image is seen once per epoch


def _streamed_training(
    images: CachedImages, batch_size: int, seed: int, first_epoch: int, last_epoch: int
) -> tf.data.Dataset:
    # One generator element per group of batches, not per batch: from_generator costs ~3 ms an
    # element (the GIL, a copy), which held the stream to ~22,000 images/s at 96x96.
    def generate() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        for epoch in range(first_epoch, last_epoch):
            batch_index = 0
            for group in streamed_epoch(images, batch_size, seed, epoch):
                indices = np.arange(batch_index, batch_index + len(group))
                yield group, np.full(len(group), epoch), indices
                batch_index += len(group)

    signature = (
        tf.TensorSpec((None, None, *images.shape[1:]), tf.uint8),
        tf.TensorSpec((None,), tf.int64),
        tf.TensorSpec((None,), tf.int64),
    )
    batches = tf.data.Dataset.from_generator(generate, output_signature=signature).unbatch()
    return _with_length(batches, (last_epoch - first_epoch) * steps_per_epoch(len(images), batch_size))


def _with_length(batches: tf.data.Dataset, num_batches: int) -> tf.data.Dataset:
    """Declaring the length lets Keras run validation without guessing (and warning) where it ends."""
    return batches.apply(tf.data.experimental.assert_cardinality(num_batches))


def training_batches(
    images: np.ndarray | CachedImages,
    batch_size: int,
    seed: int,
    first_epoch: int,
    last_epoch: int,
    task_config: TaskConfig | None = None,
) -> tf.data.Dataset:
    """All batches of epochs first_epoch .. last_epoch-1, back to back (fit() takes steps_per_epoch).

    The last batch of an epoch may be partial: every image is seen once per epoch. images is a
    uint8 ndarray (held as one constant) or a lazy CachedImages (streamed from its file).
    """
    if _in_memory(images):
        batches = _in_memory_training(images, batch_size, seed, first_epoch, last_epoch)
    else:
        batches = _streamed_training(images, batch_size, seed, first_epoch, last_epoch)
    return _finish(batches, task_config, seed)


def ordered_batches(
    images: np.ndarray | CachedImages, batch_size: int, task_config: TaskConfig | None = None, seed: int = 0
) -> tf.data.Dataset:
    """Batches in array order (validation, encoding): slices, not per-image elements.

    With a corrupting task the corruption is the same every time (the validation "epoch").
    """
    if _in_memory(images):
        all_images = tf.constant(images)
        starts = tf.data.Dataset.range(0, len(images), batch_size).enumerate()
        batches = starts.map(
            lambda batch_index, start: (
                all_images[start : start + batch_size],
                tf.constant(VALIDATION_EPOCH, tf.int64),
                batch_index,
            )
        )
    else:

        def generate() -> Iterator[tuple[np.ndarray, int, int]]:
            for batch_index, start in enumerate(range(0, len(images), batch_size)):
                yield images[start : start + batch_size], VALIDATION_EPOCH, batch_index

        signature = (
            tf.TensorSpec((None, *images.shape[1:]), tf.uint8),
            tf.TensorSpec((), tf.int64),
            tf.TensorSpec((), tf.int64),
        )
        batches = _with_length(
            tf.data.Dataset.from_generator(generate, output_signature=signature),
            steps_per_epoch(len(images), batch_size),
        )
    return _finish(batches, task_config, seed)
