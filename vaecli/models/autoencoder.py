"""The AE/VAE keras.Model: custom train_step/test_step with the losses of vaecli.losses.

Logged values are `reconstruction_loss` and `kl_loss` (unweighted, batch means weighted by
batch size so a partial last batch counts by its images) and `loss`, computed from those
two, so every logged epoch satisfies loss == reconstruction_loss + kl_factor * kl_loss.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers, ops

from vaecli.losses import kl_divergence, reconstruction_loss


@keras.saving.register_keras_serializable(package="vaecli")
class Sampling(layers.Layer):
    """z = z_mean + exp(z_log_var / 2) * eps, with its own seed generator (checkpointed)."""

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


class AutoEncoder(keras.Model):
    """Encoder + decoder trained on uint8 image batches. kind "ae" has no KL and no sampling."""

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        kind: str = "vae",
        reconstruction: str = "bce",
        reduction: str = "sum",
        kl_factor: float = 1.0,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.kind, self.reconstruction, self.reduction = kind, reconstruction, reduction
        self.kl_factor = float(kl_factor)
        # float32 even under mixed precision: z carries the latent code at full precision.
        self.sampling = Sampling(seed, dtype="float32", name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.reconstruction_tracker, self.kl_tracker]

    def build(self, input_shape=None):
        """Nothing to create: the encoder and decoder arrive built (Keras' distributed fit calls this)."""
        self.built = True

    def encode(self, images, training=False):
        """(z_mean, z_log_var); z_log_var is None for an AE."""
        if self.kind == "ae":
            return self.encoder(images, training=training), None
        z_mean, z_log_var = self.encoder(images, training=training)
        return z_mean, z_log_var

    def call(self, images, training=False):
        z_mean, z_log_var = self.encode(images, training=training)
        z = z_mean if z_log_var is None else self.sampling([z_mean, z_log_var])
        return self.decoder(z, training=training)

    def per_image_losses(self, batch, training):
        """(reconstruction, kl), one value per image of the batch.

        batch is a uint8 image tensor (input = target) or an (input, target) pair of them
        (denoise, recolor): the model encodes the input and is scored against the target.
        """
        inputs, targets = batch if isinstance(batch, (tuple, list)) else (batch, batch)
        images = ops.cast(inputs, "float32") / 255.0  # uint8 until here: cheap input pipeline
        target_images = images if targets is inputs else ops.cast(targets, "float32") / 255.0
        z_mean, z_log_var = self.encode(images, training=training)
        if z_log_var is None:
            z, kl = z_mean, ops.zeros(ops.shape(z_mean)[:1])
        else:
            z = self.sampling([z_mean, z_log_var])
            kl = kl_divergence(z_mean, z_log_var)
        reconstructions = ops.cast(self.decoder(z, training=training), "float32")
        return reconstruction_loss(target_images, reconstructions, self.reconstruction, self.reduction), kl

    @staticmethod
    def _replicas() -> int:
        return tf.distribute.get_strategy().num_replicas_in_sync

    @staticmethod
    def _sum_over_replicas(values: list):
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, values)

    def _global_means(self, reconstruction, kl):
        """(reconstruction mean, kl mean, image count) over the global batch, across every replica:
        one all-reduce per step, for the logs (no gradient flows through it) and the loss's count."""
        count = ops.cast(ops.shape(reconstruction)[0], "float32")
        if self._replicas() == 1:
            return ops.mean(reconstruction), ops.mean(kl), count
        sums = [ops.stop_gradient(ops.sum(reconstruction)), ops.stop_gradient(ops.sum(kl)), count]
        reconstruction_sum, kl_sum, count = self._sum_over_replicas(sums)
        return reconstruction_sum / count, kl_sum / count, count

    def _update_trackers(self, reconstruction_mean, kl_mean, count):
        """Track global-batch means weighted by batch size (a partial last batch counts by its images).

        Under a distribution strategy every replica adds the same global values, so each
        replica's tracker holds the global mean and Keras' mean over replicas changes nothing.
        """
        self.reconstruction_tracker.update_state(reconstruction_mean, sample_weight=count)
        self.kl_tracker.update_state(kl_mean, sample_weight=count)
        reconstruction_mean, kl_mean = self.reconstruction_tracker.result(), self.kl_tracker.result()
        logs = {
            "loss": reconstruction_mean + self.kl_factor * kl_mean,
            "reconstruction_loss": reconstruction_mean,
            "kl_loss": kl_mean,
        }
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3 averages logs over the workers along axis 0, which a scalar lacks
            # (tensorflow/tensorflow#72388); the mean of the workers' equal values is that value.
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            reconstruction, kl = self.per_image_losses(batch, training=True)
            means = self._global_means(reconstruction, kl)
            # The mean over the global batch: Keras' optimizer sums gradients over replicas, so each
            # replica contributes the sum of its images' losses divided by the global image count.
            loss = (ops.sum(reconstruction) + self.kl_factor * ops.sum(kl)) / means[2]
            scaled_loss = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_trackers(*means)

    def test_step(self, batch):
        reconstruction, kl = self.per_image_losses(batch, training=False)
        return self._update_trackers(*self._global_means(reconstruction, kl))
