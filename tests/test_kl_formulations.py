"""The four ways of attaching the KL term that a well-known TF2 VAE article series compares give the
loss and the gradients of `vae`'s custom train_step, on the same batch, weights and noise.

    (a) a custom encoder-side layer that calls add_loss(KL) while sampling z
    (b) mu and log_var passed out as a second model output, with a KL "loss" on it
    (c) add_loss(KL) on the full model (in Keras 3 symbolic add_loss on a functional model is
        gone, so the full model is a small subclass that calls self.add_loss in call)
    (d) vaecli.models.AutoEncoder: a custom train_step with GradientTape (ours)

(a)-(c) train through Keras' own train_step (compile + fit), with the reconstruction loss written
as those articles write it: keras.losses.binary_crossentropy on the decoder's probabilities,
which averages over the channel axis. One SGD step with learning rate 1 moves every weight by
minus its gradient, so comparing the weights after the step compares the gradients.

The mapping onto `vae`'s config: the articles' total `r * mean_pixels(BCE) + KL` (a reconstruction
factor r, e.g. 1000) is `loss.reduction: mean` with `loss.kl_factor: 1 / r`, times r; their
summed form `sum_pixels(BCE) + beta * KL` is `loss.reduction: sum`, `loss.kl_factor: beta`.
"""

import numpy as np
import pytest

from tests.helpers import tiny_config

pytestmark = pytest.mark.slow

BATCH, SHAPE = 16, (16, 16, 3)


def networks(config):
    """An encoder and a decoder with fixed initial weights, built afresh (so each formulation owns its copy)."""
    import keras

    from vaecli.models import build_decoder, build_encoder

    keras.utils.set_random_seed(11)
    return build_encoder(config, SHAPE), build_decoder(config, SHAPE)


def reconstruction_loss(reduction: str):
    """The articles' per-image reconstruction loss from probabilities (BCE averaged over channels by Keras)."""
    import keras
    from keras import ops

    def loss(images, probabilities):
        per_pixel = keras.losses.binary_crossentropy(images, probabilities)  # (batch, H, W): mean over channels
        if reduction == "sum":
            return SHAPE[-1] * ops.sum(per_pixel, axis=(1, 2))
        return ops.mean(per_pixel, axis=(1, 2))

    return loss


def kl(z_mean, z_log_var):
    from keras import ops

    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def formulations(config, epsilon, kl_factor, reduction):
    """name -> (model, fit inputs, fit targets, its encoder, its decoder) for (a), (b), (c)."""
    import keras
    from keras import layers, ops

    class SamplingWithKL(layers.Layer):  # (a)
        def call(self, inputs):
            z_mean, z_log_var = inputs
            self.add_loss(kl_factor * ops.mean(kl(z_mean, z_log_var)))
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class FullModelAddLoss(keras.Model):  # (c)
        def __init__(self, encoder, decoder):
            super().__init__()
            self.encoder, self.decoder = encoder, decoder

        def call(self, images):
            z_mean, z_log_var = self.encoder(images)
            self.add_loss(kl_factor * ops.mean(kl(z_mean, z_log_var)))
            return self.decoder(z_mean + ops.exp(0.5 * z_log_var) * epsilon)

    def kl_on_output(unused_targets, posterior):  # (b): the output is [z_mean | z_log_var]
        z_mean, z_log_var = ops.split(posterior, 2, axis=-1)
        return kl(z_mean, z_log_var)

    built = {}
    encoder, decoder = networks(config)
    images = keras.Input(SHAPE)
    z_mean, z_log_var = encoder(images)
    model = keras.Model(images, decoder(SamplingWithKL()([z_mean, z_log_var])))
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=reconstruction_loss(reduction))
    built["a: encoder layer add_loss"] = (model, None, encoder, decoder)

    encoder, decoder = networks(config)
    images = keras.Input(SHAPE)
    z_mean, z_log_var = encoder(images)
    z = layers.Lambda(lambda pair: pair[0] + ops.exp(0.5 * pair[1]) * epsilon)([z_mean, z_log_var])
    model = keras.Model(images, [decoder(z), layers.Concatenate()([z_mean, z_log_var])])
    model.compile(
        optimizer=keras.optimizers.SGD(1.0),
        loss=[reconstruction_loss(reduction), kl_on_output],
        loss_weights=[1.0, kl_factor],
    )
    built["b: mu, log_var as an output"] = (model, "posterior", encoder, decoder)

    encoder, decoder = networks(config)
    model = FullModelAddLoss(encoder, decoder)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=reconstruction_loss(reduction))
    built["c: model add_loss"] = (model, None, encoder, decoder)
    return built


def weights(encoder, decoder) -> list[np.ndarray]:
    return [np.array(value) for value in encoder.get_weights() + decoder.get_weights()]


def one_step(model, images, targets) -> float:
    history = model.fit(images, targets, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
    return float(history.history["loss"][0])


def ours(config, epsilon, batch_uint8) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """(d): vaecli's AutoEncoder with its Sampling layer replaced by the same fixed noise."""
    import keras
    import tensorflow as tf
    from keras import layers, ops

    from vaecli.losses import KLObjective
    from vaecli.models import AutoEncoder

    class FixedNoise(layers.Layer):
        def call(self, inputs):
            return inputs[0] + ops.exp(0.5 * inputs[1]) * epsilon

    encoder, decoder = networks(config)
    loss = config.loss
    model = AutoEncoder(
        encoder, decoder, reduction=loss.reduction, kl_objective=KLObjective(kl_factor=loss.kl_factor), seed=0
    )
    model.sampling = FixedNoise()
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    before = weights(encoder, decoder)
    history = model.fit(tf.data.Dataset.from_tensors(batch_uint8), epochs=1, shuffle=False, verbose=0)
    return float(history.history["loss"][0]), before, weights(encoder, decoder)


@pytest.mark.parametrize("reduction, kl_factor", [("sum", 1.0), ("mean", 1e-3)])
def test_the_four_kl_formulations_give_the_same_loss_and_gradients(reduction, kl_factor):
    from vaecli.config import validate

    config = validate(tiny_config(loss={"reduction": reduction, "kl_factor": kl_factor}))
    rng = np.random.default_rng(2)
    batch_uint8 = rng.integers(0, 256, (BATCH, *SHAPE), dtype=np.uint8)
    images = batch_uint8.astype(np.float32) / 255.0
    epsilon = rng.standard_normal((BATCH, config.model.z_dim)).astype(np.float32)

    our_loss, start, our_end = ours(config, epsilon, batch_uint8)
    our_gradients = [before - after for before, after in zip(start, our_end)]
    for name, (model, extra, encoder, decoder) in formulations(config, epsilon, kl_factor, reduction).items():
        assert all(np.array_equal(mine, theirs) for mine, theirs in zip(weights(encoder, decoder), start)), name
        targets = images if extra is None else [images, np.zeros((BATCH, 2 * config.model.z_dim), np.float32)]
        assert one_step(model, images, targets) == pytest.approx(our_loss, rel=1e-5), name
        gradients = [before - after for before, after in zip(start, weights(encoder, decoder))]
        for mine, theirs, weight in zip(our_gradients, gradients, start):
            # w - g is rounded to float32: gradients are read to a few ulps of the weight, and to 1e-4 of their scale.
            resolution = 4 * np.spacing(np.abs(weight).max().astype(np.float32))
            scale = np.abs(mine).max()
            np.testing.assert_allclose(theirs, mine, rtol=1e-3, atol=max(1e-4 * scale, resolution), err_msg=name)
        assert max(np.abs(gradient).max() for gradient in gradients) > 1e3 * resolution  # real gradients, not noise
