"""tf.data pipelines over uint8 image arrays.

Images stay uint8 until the batch reaches the model (a quarter of float32's memory and
copy cost); the model scales them to [0, 1]. The training order of epoch e is a stateless
shuffle seeded by (seed, e), so a resumed run sees exactly the batches an uninterrupted one
would have seen, with no iterator state to save.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf


def steps_per_epoch(num_images: int, batch_size: int) -> int:
    return math.ceil(num_images / batch_size)


def training_batches(images: np.ndarray, batch_size: int, seed: int, first_epoch: int, last_epoch: int
                     ) -> tf.data.Dataset:
    """All batches of epochs first_epoch .. last_epoch-1, back to back (fit() takes steps_per_epoch).

    The last batch of an epoch may be partial: every image is seen once per epoch.
    """
    all_images = tf.constant(images)
    num_images = len(images)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num_images, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        rows = tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        return rows.map(lambda batch_rows: tf.gather(all_images, batch_rows))

    batches = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(epoch_batches)
    return batches.prefetch(tf.data.AUTOTUNE)


def ordered_batches(images: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches in array order (validation, encoding): slices, not per-image elements."""
    all_images = tf.constant(images)
    starts = tf.data.Dataset.range(0, len(images), batch_size)
    return starts.map(lambda start: all_images[start:start + batch_size]).prefetch(tf.data.AUTOTUNE)
