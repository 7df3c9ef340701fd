"""Tasks: what the model is given and what it must produce (the `task:` section of a config).

    reconstruct   input = target = the image (the plain autoencoder)
    denoise       input = the image with Gaussian noise and/or dropped pixels, target = the clean image
    recolor       input = the grey version of a colour image (three equal channels), target = the colours

Corrupted inputs stay uint8 (rounded and clipped like any 8-bit image), so the pipeline moves a
quarter of float32's bytes and the model scales every input the same way. Noise comes from
stateless random ops seeded by (seed, epoch, batch): each epoch sees fresh corruption, yet a
resumed run sees exactly the corruption an uninterrupted one would have seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeGuard

import tensorflow as tf

if TYPE_CHECKING:
    from vaecli.config import TaskConfig

VALIDATION_EPOCH = 2**31 - 1  # the "epoch" of validation batches: one fixed corruption, comparable across epochs
GRID_EPOCH = 2**31 - 2  # the corruption shown in the image grids


def batch_seed(seed: int, epoch: int | tf.Tensor, batch_index: int | tf.Tensor) -> tf.Tensor:
    """A stateless-RNG seed (shape [2], int64) unique to (seed, epoch, batch)."""
    base = tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, tf.cast(batch_index, tf.int64))


def _grey(images: tf.Tensor) -> tf.Tensor:
    """uint8 RGB -> uint8 grey with three equal channels (ITU-R 601 luma, as PIL and tf.image use)."""
    grey = tf.image.rgb_to_grayscale(tf.cast(images, tf.float32))
    return tf.cast(tf.clip_by_value(tf.round(tf.repeat(grey, 3, axis=-1)), 0.0, 255.0), tf.uint8)


def _noisy(images: tf.Tensor, task_config: TaskConfig, seed: tf.Tensor) -> tf.Tensor:
    noise_seed, drop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    pixels = tf.cast(images, tf.float32)
    if task_config.noise_std > 0:  # std in [0, 1] pixel units, images here in 0..255
        pixels += tf.random.stateless_normal(tf.shape(pixels), noise_seed) * (255.0 * task_config.noise_std)
    if task_config.drop_fraction > 0:  # whole pixels (every channel) set to black
        shape = tf.concat([tf.shape(pixels)[:-1], [1]], axis=0)
        pixels *= tf.cast(tf.random.stateless_uniform(shape, drop_seed) >= task_config.drop_fraction, tf.float32)
    return tf.cast(tf.clip_by_value(tf.round(pixels), 0.0, 255.0), tf.uint8)


def corrupt(images: tf.Tensor, task_config: TaskConfig, seed: tf.Tensor) -> tf.Tensor:
    """The model input for a batch of clean uint8 images under this task."""
    if task_config.kind == "recolor":
        return _grey(images)
    if task_config.kind == "denoise":
        return _noisy(images, task_config, seed)
    return images


def has_corruption(task_config: TaskConfig | None) -> TypeGuard[TaskConfig]:
    """False for reconstruct: batches stay bare image tensors (the input is the target)."""
    return task_config is not None and task_config.kind != "reconstruct"


def input_target_pairs(batches: tf.data.Dataset, task_config: TaskConfig, seed: int) -> tf.data.Dataset:
    """(images, epoch, batch index) elements -> (corrupted input, clean target) pairs."""

    def pair(images: tf.Tensor, epoch: tf.Tensor, batch_index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return corrupt(images, task_config, batch_seed(seed, epoch, batch_index)), images

    return batches.map(pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
