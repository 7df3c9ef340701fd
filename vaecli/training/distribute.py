"""train.distribute: which tf.distribute strategy trains the model.

    none          the default strategy: one device (the first GPU, or the CPU)
    mirrored      MirroredStrategy over every GPU of this machine; on a machine without GPUs,
                  over its logical CPU devices when more than one is configured (how the tests
                  check that a mirrored run matches a single-device run)
    multi_worker  MultiWorkerMirroredStrategy over the machines $TF_CONFIG lists; it must be
                  created before TensorFlow starts its runtime, so `train` creates it first

`train.batch_size` is always the global batch: each of R replicas gets batch_size / R images,
and AutoEncoder.train_step scales its loss so the applied gradient is the global-batch mean.
"""

from __future__ import annotations

import json
import os
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from vaecli.errors import ConfigError

if TYPE_CHECKING:
    import tensorflow as tf


def _mirrored() -> tf.distribute.MirroredStrategy:
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices=cpus)


def _multi_worker() -> tf.distribute.MultiWorkerMirroredStrategy:
    from vaecli.runtime.tensorflow import import_tensorflow, quiet_stderr

    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster")
    except ValueError:
        raise ConfigError("train.distribute multi_worker: $TF_CONFIG is not valid JSON") from None
    if not cluster:
        raise ConfigError(
            "train.distribute multi_worker needs $TF_CONFIG describing the cluster and this worker's "
            "task (see https://www.tensorflow.org/guide/distributed_training)"
        )
    with quiet_stderr():  # the runtime starts here, with its chatter; it waits for every worker to join
        return import_tensorflow(start_runtime=False).distribute.MultiWorkerMirroredStrategy()


STRATEGIES = {"none": lambda: None, "mirrored": _mirrored, "multi_worker": _multi_worker}


def make_strategy(name: str) -> tf.distribute.Strategy | None:
    """The tf.distribute strategy for train.distribute, or None for a single device."""
    return STRATEGIES[name]()


def strategy_scope(strategy: tf.distribute.Strategy | None) -> AbstractContextManager[Any]:
    """strategy.scope(), or a do-nothing context for a single device (the exact single-device code path)."""
    return nullcontext() if strategy is None else strategy.scope()


def describe(strategy: tf.distribute.Strategy | None) -> dict:
    """What the manifest records about distribution."""
    if strategy is None:
        return {"strategy": "none", "replicas": 1}
    return {
        "strategy": type(strategy).__name__,
        "replicas": int(strategy.num_replicas_in_sync),
        "devices": list(getattr(strategy.extended, "worker_devices", [])),
    }


def check_even_first_batches(
    strategy: tf.distribute.Strategy | None, batch_size: int, split_sizes: dict[str, int]
) -> None:
    """ConfigError unless the first batch of each split divides evenly over the replicas.

    Keras builds a distributed model from the first batch averaged over the replicas, which
    fails on unequal shares (later uneven batches, such as an epoch's last, are fine).
    """
    replicas = describe(strategy)["replicas"]
    for split, size in split_sizes.items():
        first = min(batch_size, size)
        if size and first % replicas:
            raise ConfigError(
                f"train.batch_size: the first {split} batch holds {first} images, which do not split "
                f"evenly over the {replicas} replicas of train.distribute; use a multiple of {replicas}"
                + (f" no larger than the {size} {split} images" if size < batch_size else "")
            )


def collective_safe(batches: tf.data.Dataset) -> tf.data.Dataset:
    """The batches as float16 (0..255 exactly, twice the bytes of uint8) under MultiWorkerMirroredStrategy.

    Keras builds a distributed model from the mean of the first batch over all workers, and the
    collective all-reduce between machines has no uint8.
    """
    import tensorflow as tf

    def to_float16(*parts: tf.Tensor) -> tf.Tensor | tuple[tf.Tensor, ...]:
        cast = tuple(tf.cast(part, tf.float16) for part in parts)
        return cast if len(cast) > 1 else cast[0]

    return batches.map(to_float16)
