"""`vae evaluate` against an independent float64 NumPy recomputation from the saved models.

    python benchmarks/numpy_reference.py runs/quickstart [--split test] [--limit N]

Reads encoder.keras and decoder.keras (Keras only to read the layers' weights and settings),
runs both networks again in float64 NumPy with code written here from the layer definitions
(SAME-padded convolutions and transposed convolutions, dense, batch norm, activations), and
computes, per image, the analytic KL of the posterior and the Bernoulli reconstruction loss
(BCE from the decoder's logits, no clipping) of decoding z_mean. Prints both means next to
what `vae evaluate` reports for the same images, and exits 1 if either differs by more than
1e-3 nats per image.

A run trained in float32 agrees to about 1e-5 nats. A run trained with mixed precision
(bfloat16 convolutions, `train.mixed_precision`) is evaluated as it trained, in bfloat16,
and differs from float64 by bfloat16's rounding (about 3e-3 nats of KL on the quickstart).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

TOLERANCE_NATS = 1e-3
BATCH = 128


def same_padding(size: int, kernel: int, stride: int, out: int) -> int:
    """Leading padding of TensorFlow's SAME convolution from `out` to `size` positions (the rest trails)."""
    return max((size - 1) * stride + kernel - out, 0) // 2


def conv2d(x, kernel, bias, stride: int):
    """SAME 2-D convolution, NHWC; kernel (kh, kw, in, out)."""
    batch, height, width, _ = x.shape
    kh, kw, _, channels = kernel.shape
    out_h, out_w = math.ceil(height / stride), math.ceil(width / stride)
    top = same_padding(out_h, kh, stride, height)
    left = same_padding(out_w, kw, stride, width)
    padded = np.zeros((batch, (out_h - 1) * stride + kh, (out_w - 1) * stride + kw, x.shape[3]))
    rows, cols = min(height, padded.shape[1] - top), min(width, padded.shape[2] - left)
    padded[:, top : top + rows, left : left + cols] = x[:, :rows, :cols]
    y = np.zeros((batch, out_h, out_w, channels))
    for i in range(kh):
        for j in range(kw):
            window = padded[:, i : i + (out_h - 1) * stride + 1 : stride, j : j + (out_w - 1) * stride + 1 : stride]
            y += window @ kernel[i, j]
    return y + bias


def conv2d_transpose(x, kernel, bias, stride: int):
    """SAME transposed convolution (the adjoint of conv2d from the output size), NHWC; kernel (kh, kw, out, in)."""
    batch, height, width, _ = x.shape
    kh, kw, channels, _ = kernel.shape
    out_h, out_w = height * stride, width * stride
    top, left = same_padding(height, kh, stride, out_h), same_padding(width, kw, stride, out_w)
    span_h, span_w = max((height - 1) * stride + kh, top + out_h), max((width - 1) * stride + kw, left + out_w)
    canvas = np.zeros((batch, span_h, span_w, channels))
    for i in range(kh):
        for j in range(kw):
            canvas[:, i : i + (height - 1) * stride + 1 : stride, j : j + (width - 1) * stride + 1 : stride] += (
                x @ kernel[i, j].T
            )
    return canvas[:, top : top + out_h, left : left + out_w] + bias


ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "selu": lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
}


def _activation_name(layer) -> str:
    activation = layer.get_config().get("activation", "linear")
    return activation if isinstance(activation, str) else activation.get("config", {}).get("name", "linear")


def apply_layer(layer, x, logits: bool = False):
    """One Keras layer in float64 NumPy; logits=True leaves out a final sigmoid."""
    kind, weights, config = (
        type(layer).__name__,
        [w.astype(np.float64) for w in layer.get_weights()],
        layer.get_config(),
    )
    if kind in ("InputLayer", "Dropout", "AlphaDropout"):
        return x  # dropout is the identity at inference
    if kind == "Flatten":
        return x.reshape(len(x), -1)
    if kind == "Reshape":
        return x.reshape(len(x), *config["target_shape"])
    if kind == "LeakyReLU":
        return np.where(x >= 0, x, config["negative_slope"] * x)
    if kind == "BatchNormalization":
        gamma, beta, mean, variance = weights
        return gamma * (x - mean) / np.sqrt(variance + config["epsilon"]) + beta
    if kind == "Dense":
        x = x @ weights[0] + weights[1]
    elif kind == "Conv2D":
        x = conv2d(x, weights[0], weights[1], config["strides"][0])
    elif kind == "Conv2DTranspose":
        x = conv2d_transpose(x, weights[0], weights[1], config["strides"][0])
    elif kind != "Activation":
        raise ValueError(f"layer {layer.name} of type {kind} is not supported by this reference")
    name = _activation_name(layer)
    return x if (logits and name == "sigmoid") else ACTIVATIONS[name](x)


def encode(encoder, images):
    """(z_mean, z_log_var) float64: the layers up to Flatten in order, then the two dense heads."""
    features = images
    heads = {}
    for layer in encoder.layers:
        if layer.name in ("z_mean", "z_log_var"):
            heads[layer.name] = apply_layer(layer, features)
        else:
            features = apply_layer(layer, features)
    return heads["z_mean"], heads["z_log_var"]


def decode_logits(decoder, z):
    """The decoder's logits in float64: every layer in order, the final sigmoid left out (either layout)."""
    x = z
    for index, layer in enumerate(decoder.layers):
        last = index == len(decoder.layers) - 1
        x = apply_layer(layer, x, logits=last)
    return x


def reference(run_folder: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image KL and BCE of decoding z_mean, in nats, float64 throughout."""
    import keras

    encoder = keras.models.load_model(run_folder / "encoder.keras", compile=False)
    decoder = keras.models.load_model(run_folder / "decoder.keras", compile=False)
    kl, bce = [], []
    for start in range(0, len(images), BATCH):
        x = images[start : start + BATCH].astype(np.float64) / 255.0
        z_mean, z_log_var = encode(encoder, x)
        kl.append(0.5 * np.sum(z_mean**2 + np.exp(z_log_var) - 1.0 - z_log_var, axis=1))
        logits = decode_logits(decoder, z_mean)
        per_value = np.maximum(logits, 0) - logits * x + np.log1p(np.exp(-np.abs(logits)))
        bce.append(per_value.sum(axis=(1, 2, 3)))
    return {"kl": np.concatenate(kl), "bce": np.concatenate(bce)}


def compare(run_folder: Path, split: str = "test", limit: int | None = None) -> dict[str, tuple[float, float]]:
    """{"kl": (vae evaluate, NumPy), "bce": (...)}: means in nats per image over the same images."""
    from vaecli.api import load_run
    from vaecli.evaluation.evaluate import evaluate_run
    from vaecli.runs.run import load_split

    run = load_run(run_folder).require_models()
    images = load_split(run, split, limit)[0].images
    evaluated = evaluate_run(run, split, 1, 10, (1.0,), "pixels", 0, limit, save=False).evaluation["likelihood"]
    numpy_values = reference(Path(run_folder), images)
    return {
        "kl": (evaluated["kl_nats"], float(numpy_values["kl"].mean())),
        "bce": (evaluated["reconstruction"]["bce_nats"], float(numpy_values["bce"].mean())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None)
    arguments = parser.parse_args()
    from vaecli.runtime.tensorflow import import_tensorflow

    import_tensorflow()
    worst = 0.0
    for name, (evaluated, recomputed) in compare(arguments.run, arguments.split, arguments.limit).items():
        difference = abs(evaluated - recomputed)
        worst = max(worst, difference)
        print(f"{name:4s} vae evaluate {evaluated:.6f}  NumPy float64 {recomputed:.6f}  |diff| {difference:.2e} nats")
    print("agree to 1e-3 nats per image" if worst <= TOLERANCE_NATS else "DISAGREE")
    return 0 if worst <= TOLERANCE_NATS else 1


if __name__ == "__main__":
    sys.exit(main())
