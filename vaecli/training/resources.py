"""Memory a config asks for, against the memory this process may use: refuse the absurd before it starts.

A model with 100,000 filters in its first layer, or 20,000 synthetic images of 1024x1024, does
not fail cleanly: TensorFlow or NumPy try to allocate hundreds of GB and the process is killed
(SIGSEGV under an address-space limit), leaving a run marked RUNNING. These estimates are
plain arithmetic on the config (no TensorFlow), made before anything is written, and err on
the low side: only what cannot possibly fit is refused, with the numbers.

    parameters     conv kernels + biases (+ batch-norm), the dense layers at both ends;
                   4 copies of float32 while training: weights, gradients, Adam's two moments
    activations    every layer output of one batch (conv, batch-norm, activation, dropout),
                   float32, kept for the backward pass, which needs about as much again
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from vaecli.errors import ResourceError
from vaecli.io.atomic import human_bytes
from vaecli.runtime.memory import FLOAT_BYTES, available_memory

if TYPE_CHECKING:
    from vaecli.config import ExperimentConfig

TRAINING_COPIES = 4  # weights, gradients, Adam m and v
BACKWARD_FACTOR = 2  # the backward pass holds gradients as large as the activations it goes through


def _conv_layers(config: ExperimentConfig, shape: tuple[int, int, int]) -> list[tuple[int, int, int, int]]:
    """(input channels, output channels, kernel, output pixels) of each conv layer, encoder then decoder."""
    height, width, channels = shape
    layers = []
    stack = config.model.encoder
    for filters, kernel, stride in zip(stack.filters, stack.kernel_sizes, stack.strides):
        height, width = math.ceil(height / stride), math.ceil(width / stride)  # padding "same"
        layers.append((channels, filters, kernel, height * width))
        channels = filters
    stack = config.model.decoder
    for filters, kernel, stride in zip(stack.filters, stack.kernel_sizes, stack.strides):
        height, width = height * stride, width * stride
        layers.append((channels, filters, kernel, height * width))
        channels = filters
    return layers


def model_size(config: ExperimentConfig, shape: tuple[int, int, int]) -> tuple[int, int]:
    """(parameters, activation values per image) of the model the config describes (as Keras counts them:
    batch-norm's moving statistics included; the decoder's last layer has no batch-norm)."""
    model = config.model
    batch_norm = int(model.batch_norm)
    outputs_per_block = 2 + batch_norm + int(model.dropout > 0)  # conv, [bn], activation, [dropout]
    layers = _conv_layers(config, shape)
    parameters = activations = 0
    for index, (channels_in, channels_out, kernel, pixels) in enumerate(layers):
        last = index == len(layers) - 1  # the sigmoid output layer: conv only
        parameters += kernel * kernel * channels_in * channels_out + channels_out * (1 + 4 * batch_norm * (not last))
        activations += pixels * channels_out * (1 if last else outputs_per_block)
    height, width, _ = shape
    stride = math.prod(model.encoder.strides)
    flat = math.ceil(height / stride) * math.ceil(width / stride) * model.encoder.filters[-1]
    heads = 2 if model.kind == "vae" else 1
    parameters += flat * model.z_dim * heads + model.z_dim * heads  # z_mean (and z_log_var)
    parameters += model.z_dim * flat + flat  # the decoder's dense layer
    activations += 2 * flat + model.z_dim * 3
    return parameters, activations


def check_model_fits(config: ExperimentConfig) -> None:
    """ResourceError when training this model cannot fit in this process's memory, with the numbers."""
    from vaecli.data.sources import image_shape

    shape = image_shape(config.data)
    parameters, activations = model_size(config, shape)
    batch = config.train.batch_size
    weights_bytes = parameters * FLOAT_BYTES * TRAINING_COPIES
    activation_bytes = activations * batch * FLOAT_BYTES * BACKWARD_FACTOR
    available, limit = available_memory()
    if weights_bytes + activation_bytes <= available:
        return
    raise ResourceError(
        f"model: training needs about {human_bytes(weights_bytes + activation_bytes)} of memory "
        f"({human_bytes(activation_bytes)} of activations for a batch of {batch} "
        f"{shape[0]}x{shape[1]}x{shape[2]} images, {human_bytes(weights_bytes)} for {parameters:,} parameters "
        f"with their gradients and optimizer state), but only {human_bytes(available)} is available ({limit}); "
        f"use fewer model.encoder.filters / model.decoder.filters, larger strides or a smaller train.batch_size"
    )
