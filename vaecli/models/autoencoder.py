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

    def __init__(self, encoder: keras.Model, decoder: keras.Model, kind: str = "vae", reconstruction: str = "bce",
                 reduction: str = "sum", kl_factor: float = 1.0, seed: int = 0, **kwargs):
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

    def compute_batch_losses(self, batch, training):
        images = ops.cast(batch, "float32") / 255.0  # uint8 until here: cheap input pipeline
        z_mean, z_log_var = self.encode(images, training=training)
        if z_log_var is None:
            z, kl = z_mean, ops.zeros(ops.shape(z_mean)[:1])
        else:
            z = self.sampling([z_mean, z_log_var])
            kl = kl_divergence(z_mean, z_log_var)
        reconstructions = ops.cast(self.decoder(z, training=training), "float32")
        reconstruction = ops.mean(reconstruction_loss(images, reconstructions, self.reconstruction, self.reduction))
        return reconstruction, ops.mean(kl)

    def _update_trackers(self, batch, reconstruction, kl):
        batch_size = ops.cast(ops.shape(batch)[0], "float32")
        self.reconstruction_tracker.update_state(reconstruction, sample_weight=batch_size)
        self.kl_tracker.update_state(kl, sample_weight=batch_size)
        reconstruction_mean, kl_mean = self.reconstruction_tracker.result(), self.kl_tracker.result()
        return {"loss": reconstruction_mean + self.kl_factor * kl_mean,
                "reconstruction_loss": reconstruction_mean, "kl_loss": kl_mean}

    def train_step(self, batch):
        with tf.GradientTape() as tape:
            reconstruction, kl = self.compute_batch_losses(batch, training=True)
            loss = reconstruction + self.kl_factor * kl
            scaled_loss = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_trackers(batch, reconstruction, kl)

    def test_step(self, batch):
        reconstruction, kl = self.compute_batch_losses(batch, training=False)
        return self._update_trackers(batch, reconstruction, kl)
