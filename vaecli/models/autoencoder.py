"""The AE/VAE keras.Model: custom train_step/test_step with the losses of vaecli.losses.

Logged per epoch (batch means weighted by batch size, so a partial last batch counts by its images):

    reconstruction_loss   from the decoder's logits (vaecli.losses.reconstruction_loss)
    kl_loss               the true KL(q(z|x) || N(0, I)), unweighted, nats per image
    kl_penalty            the KL term that entered the loss (schedule, free bits or capacity applied)
    kl_weight             the KL factor of the epoch's last training step (gamma under capacity);
                          validation is scored with that factor too
    kl_capacity           the capacity target C of that step (capacity runs only)
    loss                  reconstruction_loss + kl_penalty, computed from the two logged values
    mutual_information,   beta-TCVAE runs only (loss.tc_weight): the three terms of the KL decomposition,
    total_correlation,    nats per image, by minibatch-weighted sampling (vaecli.losses.tc_decomposition);
    dimensionwise_kl      their sum estimates kl_loss (equal in expectation), and
                          kl_penalty = kl_weight * (MI + tc_weight * TC + dimension-wise KL)

With a constant schedule and no free bits or capacity, kl_penalty = kl_factor * kl_loss.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf
from keras import layers, ops

from vaecli.losses import KLObjective, kl_per_dimension, reconstruction_loss, tc_decomposition
from vaecli.models.builders import decoder_logits_model
from vaecli.typing_aliases import Tensor


@keras.saving.register_keras_serializable(package="vaecli")
class Sampling(layers.Layer):
    """z = z_mean + exp(z_log_var / 2) * eps, with its own seed generator (checkpointed).

    Each call draws the seed pair [seed, counter] from the generator (advancing the counter)
    and folds the replica id into it, so under train.distribute every replica draws its own
    noise; folding into the counter instead would repeat the next step's noise.
    """

    def __init__(self, seed: int = 0, **kwargs: Any):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Sequence[Tensor]) -> Tensor:
        z_mean, z_log_var = inputs
        epsilon = tf.random.stateless_normal(
            tf.shape(z_mean), seed=replica_seed(self.seed_generator), dtype=z_mean.dtype
        )
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


def replica_id() -> int | tf.Tensor:
    """The replica's index in the sync group (0 outside tf.distribute, or in cross-replica context)."""
    context = tf.distribute.get_replica_context()
    return 0 if context is None else context.replica_id_in_sync_group


def replica_seed(seed_generator: keras.random.SeedGenerator) -> tf.Tensor:
    """The generator's next seed pair with this replica's id folded in (int32, as stateless ops under XLA want)."""
    seed = tf.cast(seed_generator.next(), "int64")
    folded = tf.random.experimental.stateless_fold_in(seed, tf.cast(replica_id(), "int64"))
    return tf.cast(tf.math.floormod(folded, tf.int32.max - 1), "int32")


class AutoEncoder(keras.Model):
    """Encoder + decoder trained on uint8 image batches. kind "ae" has no KL and no sampling."""

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        kind: str = "vae",
        reconstruction: str = "bce",
        reduction: str = "sum",
        kl_objective: KLObjective | None = None,
        seed: int = 0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        # The same layers and weights as the decoder, ending before its sigmoid: every loss starts here.
        self.decoder_logits = decoder_logits_model(decoder)
        self.kind, self.reconstruction, self.reduction = kind, reconstruction, reduction
        self.kl_objective = kl_objective or KLObjective(kl_factor=1.0 if kind == "vae" else 0.0)
        # float32 even under mixed precision: z carries the latent code at full precision.
        self.sampling = Sampling(seed, dtype="float32", name="sampling")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        self.penalty_tracker = keras.metrics.Mean(name="kl_penalty")
        self.tc_trackers = (
            []
            if self.kl_objective.tc_weight is None
            else [
                keras.metrics.Mean(name=name)
                for name in ("mutual_information", "total_correlation", "dimensionwise_kl")
            ]
        )

    @property
    def metrics(self) -> list[keras.metrics.Mean]:
        return [self.reconstruction_tracker, self.kl_tracker, self.penalty_tracker, *self.tc_trackers]

    def build(self, input_shape: Any = None) -> None:
        """Nothing to create: the encoder and decoder arrive built (Keras' distributed fit calls this)."""
        self.built = True

    def encode(self, images: Tensor, training: bool = False) -> tuple[Tensor, Tensor | None]:
        """(z_mean, z_log_var); z_log_var is None for an AE."""
        if self.kind == "ae":
            return self.encoder(images, training=training), None
        z_mean, z_log_var = self.encoder(images, training=training)
        return z_mean, z_log_var

    def call(self, images: Tensor, training: bool = False) -> Tensor:
        z_mean, z_log_var = self.encode(images, training=training)
        z = z_mean if z_log_var is None else self.sampling([z_mean, z_log_var])
        return self.decoder(z, training=training)

    def per_image_losses(
        self,
        batch: Tensor | tuple[Tensor, Tensor],
        training: bool,
        sample: bool = True,
        latents: list[Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(reconstruction (N,), KL per dimension (N, z_dim)) for the images of the batch.

        batch is a uint8 image tensor (input = target) or an (input, target) pair of them
        (denoise, recolor): the model encodes the input and is scored against the target.
        sample=False decodes z_mean instead of a posterior sample (what `vae evaluate` measures).
        A list given as latents receives (z, z_mean, z_log_var) of a VAE (the TC decomposition's inputs).
        """
        inputs, targets = batch if isinstance(batch, (tuple, list)) else (batch, batch)
        images = ops.cast(inputs, "float32") / 255.0  # uint8 until here: cheap input pipeline
        target_images = images if targets is inputs else ops.cast(targets, "float32") / 255.0
        z_mean, z_log_var = self.encode(images, training=training)
        if z_log_var is None:
            z, kl = z_mean, ops.zeros_like(z_mean)
        else:
            z = self.sampling([z_mean, z_log_var]) if sample else z_mean
            kl = kl_per_dimension(z_mean, z_log_var)
            if latents is not None:
                latents.extend((z, z_mean, z_log_var))
        logits = ops.cast(self.decoder_logits(z, training=training), "float32")
        return reconstruction_loss(target_images, logits, self.reconstruction, self.reduction), kl

    @staticmethod
    def _replicas() -> int:
        return tf.distribute.get_strategy().num_replicas_in_sync

    @staticmethod
    def _sum_over_replicas(values: list[Tensor]) -> list[Tensor]:
        return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, values)

    def _global_means(
        self, reconstruction: Tensor, kl: Tensor, penalty: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(reconstruction mean, kl mean, penalty mean, image count) over the global batch, across every
        replica: one all-reduce per step, for the logs (no gradient flows through it) and the loss's count.
        penalty is this replica's batch-level KL term; the global one weights each replica's by its images."""
        count = ops.cast(ops.shape(reconstruction)[0], "float32")
        if self._replicas() == 1:
            return ops.mean(reconstruction), ops.mean(kl), penalty, count
        sums = [ops.sum(reconstruction), ops.sum(kl), penalty * count, count]
        reconstruction_sum, kl_sum, penalty_sum, count = self._sum_over_replicas(
            [ops.stop_gradient(value) for value in sums]
        )
        return reconstruction_sum / count, kl_sum / count, penalty_sum / count, count

    def _last_step(self) -> Tensor:
        """The index of the last training step taken (0 before any): its KL factor is the one logged, and
        the one validation uses, so kl_weight == val_kl_weight in every row."""
        return ops.maximum(self.optimizer.iterations - 1, 0)

    def _loss_and_means(
        self, batch: Tensor | tuple[Tensor, Tensor], training: bool, step: Tensor
    ) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor, Tensor]]:
        """(this replica's loss share, global means) with the KL term of optimizer step `step`."""
        latents: list[Tensor] = []
        reconstruction, kl_dimensions = self.per_image_losses(batch, training=training, latents=latents)
        local_count = ops.cast(ops.shape(reconstruction)[0], "float32")
        if self.tc_trackers and latents:
            z, z_mean, z_log_var = latents
            terms = tc_decomposition(z, z_mean, z_log_var, self.kl_objective.dataset_size)
            penalty = self.kl_objective.tc_penalty(terms, step)
            for tracker, value in zip(self.tc_trackers, terms):  # this replica's batch (MWS is per batch)
                tracker.update_state(value, sample_weight=local_count)
        else:
            penalty = self.kl_objective.penalty(ops.mean(kl_dimensions, axis=0), step)
        means = self._global_means(reconstruction, ops.sum(kl_dimensions, axis=-1), penalty)
        # The mean over the global batch: Keras' optimizer sums gradients over replicas, so each
        # replica contributes the sum of its images' losses divided by the global image count.
        loss = (ops.sum(reconstruction) + penalty * local_count) / means[3]
        return loss, means

    def _update_trackers(
        self, reconstruction_mean: Tensor, kl_mean: Tensor, penalty_mean: Tensor, count: Tensor
    ) -> dict[str, Tensor]:
        """Track global-batch means weighted by batch size (a partial last batch counts by its images).

        Under a distribution strategy every replica adds the same global values, so each
        replica's tracker holds the global mean and Keras' mean over replicas changes nothing.
        """
        self.reconstruction_tracker.update_state(reconstruction_mean, sample_weight=count)
        self.kl_tracker.update_state(kl_mean, sample_weight=count)
        self.penalty_tracker.update_state(penalty_mean, sample_weight=count)
        reconstruction_mean, penalty_mean = self.reconstruction_tracker.result(), self.penalty_tracker.result()
        step = self._last_step()  # after a training step's update: that step's factor
        logs = {
            "loss": reconstruction_mean + penalty_mean,
            "reconstruction_loss": reconstruction_mean,
            "kl_loss": self.kl_tracker.result(),
            "kl_penalty": penalty_mean,
            "kl_weight": ops.cast(self.kl_objective.weight(step), "float32"),
        }
        if self.kl_objective.capacity_nats is not None:
            logs["kl_capacity"] = ops.cast(self.kl_objective.capacity(step), "float32")
        logs.update({tracker.name: tracker.result() for tracker in self.tc_trackers})
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            # Keras 3 averages logs over the workers along axis 0, which a scalar lacks
            # (tensorflow/tensorflow#72388); the mean of the workers' equal values is that value.
            logs = {name: ops.reshape(value, (1,)) for name, value in logs.items()}
        return logs

    def train_step(self, batch: Tensor | tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        with tf.GradientTape() as tape:
            loss, means = self._loss_and_means(batch, training=True, step=self.optimizer.iterations)
            scaled_loss = self.optimizer.scale_loss(loss)  # loss scaling under mixed_float16
        gradients = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_trackers(*means)

    def test_step(self, batch: Tensor | tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        return self._update_trackers(*self._loss_and_means(batch, training=False, step=self._last_step())[1])
