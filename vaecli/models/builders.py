"""Functional conv encoder and decoder built from the model config.

The vocabulary is the one of the Generative Deep Learning book: lists of conv filters,
kernel sizes and strides; each block is Conv -> [BatchNorm] -> activation -> [Dropout].
The decoder mirrors the encoder with Conv2DTranspose blocks; its last block has one filter
per image channel and no activation (its output, "decoder_logits", are the logits every loss
is computed from: vaecli.losses), followed by a separate sigmoid layer ("decoder_images"), so
the saved decoder outputs images in [0, 1]. Runs saved before that split end in a
Conv2DTranspose with a sigmoid activation; `decoder_logits_model` handles both layouts.

Every random layer gets its own seed, derived from train.seed and the layer's name
(`layer_seed`): dropout masks of different layers, and the sampling noise, are independent.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Any, Callable

import keras
from keras import layers

if TYPE_CHECKING:
    from vaecli.config import ExperimentConfig

LOGITS_LAYER, IMAGES_LAYER = "decoder_logits", "decoder_images"


def layer_seed(seed: int, name: str) -> int:
    """A 31-bit seed for the layer `name`, derived from train.seed: distinct layers draw distinct streams."""
    digest = hashlib.sha256(f"{seed}/{name}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _activation_layers(config: ExperimentConfig, name: str) -> list[layers.Layer]:
    """Activation and optional dropout; selu pairs with AlphaDropout to keep self-normalisation."""
    model = config.model
    if model.activation == "leaky_relu":
        block = [layers.LeakyReLU(negative_slope=0.3, name=f"{name}_act")]
    else:
        block = [layers.Activation(model.activation, name=f"{name}_act")]
    if model.dropout > 0:
        dropout = layers.AlphaDropout if model.activation == "selu" else layers.Dropout
        block.append(
            dropout(model.dropout, seed=layer_seed(config.train_seed, f"{name}_dropout"), name=f"{name}_dropout")
        )
    return block


def _kernel_initializer(config: ExperimentConfig) -> str:
    return "lecun_normal" if config.model.activation == "selu" else "glorot_uniform"


def _conv_block(
    x: keras.KerasTensor,
    config: ExperimentConfig,
    conv_class: type[layers.Layer],
    filters: int,
    kernel_size: int,
    strides: int,
    name: str,
) -> keras.KerasTensor:
    x = conv_class(
        filters, kernel_size, strides=strides, padding="same", kernel_initializer=_kernel_initializer(config), name=name
    )(x)
    if config.model.batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    for layer in _activation_layers(config, name):
        x = layer(x)
    return x


def build_encoder(config: ExperimentConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """Images in [0, 1] -> z_mean (and z_log_var for a VAE), each (batch, z_dim)."""
    stack = config.model.encoder
    images = keras.Input(image_shape, name="images")
    x = images
    for index, (filters, kernel, stride) in enumerate(zip(stack.filters, stack.kernel_sizes, stack.strides)):
        x = _conv_block(x, config, layers.Conv2D, filters, kernel, stride, f"encoder_conv_{index}")
    x = layers.Flatten(name="flatten")(x)
    # Latent heads stay float32 under mixed precision: exp(z_log_var) overflows float16 easily.
    z_mean = layers.Dense(config.model.z_dim, dtype="float32", name="z_mean")(x)
    if config.model.kind == "ae":
        return keras.Model(images, z_mean, name="encoder")
    z_log_var = layers.Dense(config.model.z_dim, dtype="float32", name="z_log_var")(x)
    return keras.Model(images, [z_mean, z_log_var], name="encoder")


def build_decoder(config: ExperimentConfig, image_shape: tuple[int, int, int]) -> keras.Model:
    """z (batch, z_dim) -> images in [0, 1] of image_shape, through a layer of logits (decoder_logits_model)."""
    encoder_stack, stack = config.model.encoder, config.model.decoder
    stride = math.prod(encoder_stack.strides)
    start_shape = (image_shape[0] // stride, image_shape[1] // stride, encoder_stack.filters[-1])
    z = keras.Input((config.model.z_dim,), name="z")
    x = layers.Dense(math.prod(start_shape), kernel_initializer=_kernel_initializer(config), name="decoder_dense")(z)
    x = layers.Reshape(start_shape, name="reshape")(x)
    blocks = list(zip(stack.filters, stack.kernel_sizes, stack.strides))
    for index, (filters, kernel, stride) in enumerate(blocks[:-1]):
        x = _conv_block(x, config, layers.Conv2DTranspose, filters, kernel, stride, f"decoder_conv_t_{index}")
    filters, kernel, stride = blocks[-1]
    # float32 even under mixed precision: the losses are computed from these logits.
    logits = layers.Conv2DTranspose(
        filters, kernel, strides=stride, padding="same", dtype="float32", name=LOGITS_LAYER
    )(x)
    images = layers.Activation("sigmoid", dtype="float32", name=IMAGES_LAYER)(logits)
    return keras.Model(z, images, name="decoder")


def _is_sigmoid(function: Callable[..., Any] | None) -> bool:
    return function is keras.activations.sigmoid or getattr(function, "__name__", "") == "sigmoid"


def decoder_logits_model(decoder: keras.Model) -> keras.Model:
    """z -> the decoder's logits (pre-sigmoid), sharing the decoder's layers and weights.

    New layout: the input of the final sigmoid layer. Old layout (a last layer with a sigmoid
    activation built in): a copy of that layer without its activation, with its weights, on the
    same input, so runs saved before the split are measured with the same exact likelihood.
    """
    last = decoder.layers[-1]
    if isinstance(last, layers.Activation) and _is_sigmoid(last.activation):
        return keras.Model(decoder.inputs[0], last.input, name="decoder_logits")
    if _is_sigmoid(getattr(last, "activation", None)):
        linear = type(last).from_config({**last.get_config(), "activation": "linear", "name": f"{last.name}_logits"})
        logits = linear(last.input)
        linear.set_weights(last.get_weights())
        return keras.Model(decoder.inputs[0], logits, name="decoder_logits")
    raise ValueError(
        f"the decoder's last layer {last.name!r} is not a sigmoid; vaecli decoders end in one (images in [0, 1])"
    )
