"""The AE/VAE model a config describes, compiled with its optimizer: what `vae train` fits.

Called inside strategy.scope() to train on several devices: the variables are mirrored then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

    from vaecli.config import ExperimentConfig, TrainConfig
    from vaecli.models.autoencoder import AutoEncoder

# At most this many steps are fused into one call of the compiled train function (fewer
# Python round trips); the progress bar moves in these strides.
MAX_STEPS_PER_EXECUTION = 8


def learning_rate_schedule(
    train_config: TrainConfig, steps_per_epoch: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    import keras

    if train_config.schedule == "step":
        return keras.optimizers.schedules.ExponentialDecay(
            train_config.learning_rate,
            decay_steps=train_config.decay_every * steps_per_epoch,
            decay_rate=train_config.decay_factor,
            staircase=True,
        )
    if train_config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            train_config.learning_rate,
            decay_steps=train_config.epochs * steps_per_epoch,
            alpha=train_config.min_learning_rate / train_config.learning_rate,
        )
    return train_config.learning_rate


def steps_per_execution(steps_per_epoch: int) -> int:
    """The largest divisor of steps_per_epoch up to MAX_STEPS_PER_EXECUTION.

    Keras runs whole executions, so a stride that does not divide the epoch would take
    batches from the next epoch of our back-to-back batch stream.
    """
    return max(d for d in range(1, MAX_STEPS_PER_EXECUTION + 1) if steps_per_epoch % d == 0)


def build_autoencoder(
    config: ExperimentConfig, image_shape: tuple[int, int, int], steps_per_epoch: int, jit_compile: bool = False
) -> AutoEncoder:
    """The compiled AutoEncoder for a config (weights initialised from the seed set beforehand).

    Called inside strategy.scope() to train on several devices: the variables are mirrored then.
    """
    import keras
    import tensorflow as tf

    from vaecli.losses import KLObjective
    from vaecli.models import AutoEncoder, build_decoder, build_encoder
    from vaecli.models.builders import layer_seed

    model = AutoEncoder(
        build_encoder(config, image_shape),
        build_decoder(config, image_shape),
        kind=config.model.kind,
        reconstruction=config.loss.reconstruction,
        reduction=config.loss.reduction,
        kl_objective=KLObjective.from_config(config, steps_per_epoch),
        seed=layer_seed(config.train_seed, "sampling"),
    )
    optimizer = keras.optimizers.Adam(learning_rate_schedule(config.train, steps_per_epoch))
    # Keras 3.15 fails to run fused multi-step executions on a distributed iterator ("You must feed a
    # value for placeholder tensor ... while/cond"), so under a tf.distribute strategy each call runs one step.
    fused_steps = 1 if tf.distribute.has_strategy() else steps_per_execution(steps_per_epoch)
    model.compile(optimizer=optimizer, jit_compile=jit_compile, steps_per_execution=fused_steps)
    return model
