"""Configs that describe an impossible model: conv stacks of mismatched lengths, strides that do not divide the
image, a decoder that would not give back the input's shape, kernels larger than the image a layer sees.

Checked when a config is validated (vaecli.config.validate), before anything is built: no Keras here.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vaecli.config import ConvStack, ExperimentConfig, ModelConfig


def architecture_problems(config: ExperimentConfig) -> list[str]:
    """Checks that need several fields: stack lengths, and decoder output == input shape."""
    from vaecli.data.sources import image_shape

    model = config.model
    problems = []
    for side in ("encoder", "decoder"):
        stack: ConvStack = getattr(model, side)
        lengths = {len(stack.filters), len(stack.kernel_sizes), len(stack.strides)}
        if len(lengths) > 1:
            problems.append(
                f"model.{side}: filters, kernel_sizes and strides must have the same length "
                f"(got {len(stack.filters)}, {len(stack.kernel_sizes)}, {len(stack.strides)})"
            )
        for key in ("filters", "kernel_sizes", "strides"):
            if any(value < 1 for value in getattr(stack, key)):
                problems.append(f"model.{side}.{key}: every value must be at least 1")
    if problems:
        return problems
    try:
        height, width, channels = image_shape(config.data)
    except ValueError as error:
        return [f"data: {error}"]
    encoder_stride = math.prod(model.encoder.strides)
    if height % encoder_stride or width % encoder_stride:
        return [f"model.encoder.strides: their product {encoder_stride} must divide the image size {height}x{width}"]
    decoded = (
        height // encoder_stride * math.prod(model.decoder.strides),
        width // encoder_stride * math.prod(model.decoder.strides),
    )
    if decoded != (height, width):
        problems.append(
            f"model.decoder.strides: the decoder would output {decoded[0]}x{decoded[1]} images "
            f"but the data is {height}x{width} (the decoder's stride product must equal the "
            f"encoder's, {encoder_stride})"
        )
    problems += _kernel_problems(model, height, width)
    if config.task.kind == "recolor" and channels != 3:
        problems.append(f"task.kind: recolor needs colour images, but {config.data.source} gives {channels} channel(s)")
    if model.decoder.filters[-1] != channels:
        problems.append(
            f"model.decoder.filters: the last layer must have {channels} filter(s), one per "
            f"image channel of {config.data.source}, got {model.decoder.filters[-1]}"
        )
    return problems


def _kernel_problems(model: ModelConfig, height: int, width: int) -> list[str]:
    """A kernel larger than the image its layer sees only multiplies padding (and takes hours per epoch)."""
    problems = []
    side = min(height, width)
    for index, (kernel, stride) in enumerate(zip(model.encoder.kernel_sizes, model.encoder.strides)):
        if kernel > side:
            problems.append(
                f"model.encoder.kernel_sizes: layer {index} has a {kernel}x{kernel} kernel but its input is only "
                f"{side}x{side} pixels; use a kernel no larger than its input"
            )
        side = -(-side // stride)
    for index, (kernel, stride) in enumerate(zip(model.decoder.kernel_sizes, model.decoder.strides)):
        if kernel > side * stride:
            problems.append(
                f"model.decoder.kernel_sizes: layer {index} has a {kernel}x{kernel} kernel but its output is only "
                f"{side * stride}x{side * stride} pixels; use a kernel no larger than its output"
            )
        side *= stride
    return problems
