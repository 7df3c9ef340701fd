"""Functional conv encoder and decoder built from the model config.

The vocabulary is the one of the Generative Deep Learning book: lists of conv filters,
kernel sizes and strides; each block is Conv -> [BatchNorm] -> activation -> [Dropout].
The decoder mirrors the encoder with Conv2DTranspose blocks; its last block has one filter
per image channel and a sigmoid, so it outputs images in [0, 1].
"""

from __future__ import annotations

import math

import keras
from keras import layers


def _activation_layers(config, name: str) -> list[layers.Layer]:
    """Activation and optional dropout; selu pairs with AlphaDropout to keep self-normalisation."""
    model = config.model
    if model.activation == "leaky_relu":
        block = [layers.LeakyReLU(negative_slope=0.3, name=f"{name}_act")]
    else:
        block = [layers.Activation(model.activation, name=f"{name}_act")]
    if model.dropout > 0:
        dropout = layers.AlphaDropout if model.activation == "selu" else layers.Dropout
        block.append(dropout(model.dropout, seed=config.train_seed, name=f"{name}_dropout"))
    return block


def _kernel_initializer(config) -> str:
    return "lecun_normal" if config.model.activation == "selu" else "glorot_uniform"


def _conv_block(x, config, conv_class, filters, kernel_size, strides, name):
    x = conv_class(
        filters, kernel_size, strides=strides, padding="same", kernel_initializer=_kernel_initializer(config), name=name
    )(x)
    if config.model.batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    for layer in _activation_layers(config, name):
        x = layer(x)
    return x


def build_encoder(config, image_shape: tuple[int, int, int]) -> keras.Model:
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


def build_decoder(config, image_shape: tuple[int, int, int]) -> keras.Model:
    """z (batch, z_dim) -> images in [0, 1] of image_shape."""
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
    images = layers.Conv2DTranspose(
        filters,
        kernel,
        strides=stride,
        padding="same",
        activation="sigmoid",
        dtype="float32",
        name=f"decoder_conv_t_{len(blocks) - 1}",
    )(x)
    return keras.Model(z, images, name="decoder")
