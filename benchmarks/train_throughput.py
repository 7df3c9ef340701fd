"""Training throughput of `vae train` against the hand-written Keras reference, side by side.

    python benchmarks/train_throughput.py [--rounds 3] [--epochs 2] [--n 60000]

Both sides train the same 4-layer conv VAE (the reference's `--arch seed`: encoder filters
32,64,64,64, kernels 3, strides 1,2,2,1, LeakyReLU, z_dim 12, mirrored decoder, BCE summed
over pixels + KL) on the same Fashion-MNIST images with batch size 128, one warm-up epoch,
then `--epochs` timed epochs. vaecli's side is the real training step of `vae train`: the
config, model builder, compile settings and tf.data pipeline it uses. Runs alternate
(vaecli, reference, vaecli, ...) in fresh processes so machine noise hits both alike; the
ratio of medians is printed last.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "bench" / "keras_ref_vae.py"
DATA = "/usr/share/datasets/fashion-mnist"


def run_vaecli(epochs: int, num_images: int, data: str, overrides: list[str]) -> None:
    """One measurement of vaecli's training step; prints images_per_s=... like the reference."""
    from vaecli.config import validate
    from vaecli.data.pipeline import steps_per_epoch, training_batches
    from vaecli.data.sources import SOURCES
    from vaecli.io.yaml_config import apply_overrides
    from vaecli.models.factory import build_autoencoder
    from vaecli.runtime.tensorflow import configured_runtime, import_tensorflow

    config = validate(
        apply_overrides(
            {
                "name": "bench",
                "data": {"source": "fashion_mnist", "path": data},
                "model": {
                    "kind": "vae",
                    "z_dim": 12,
                    "encoder": {"filters": [32, 64, 64, 64], "kernel_sizes": [3] * 4, "strides": [1, 2, 2, 1]},
                    "decoder": {"filters": [64, 64, 32, 1], "kernel_sizes": [3] * 4, "strides": [1, 2, 2, 1]},
                },
                "loss": {"reconstruction": "bce", "reduction": "sum", "kl_factor": 1.0},
                "train": {"batch_size": 128, "learning_rate": 1e-3, "epochs": epochs + 1},
            },
            overrides,
        )
    )
    import_tensorflow()
    with configured_runtime(config) as acceleration:
        images = SOURCES["fashion_mnist"].load(config.data).train_images[:num_images]
        steps = steps_per_epoch(len(images), config.train.batch_size)
        model = build_autoencoder(config, images.shape[1:], steps, acceleration.jit_compile)
        batches = training_batches(images, config.train.batch_size, config.train_seed, 0, epochs + 1)
        model.fit(batches, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)  # warm-up: tracing
        started = time.perf_counter()
        model.fit(batches, epochs=epochs + 1, initial_epoch=1, steps_per_epoch=steps, verbose=0, shuffle=False)
        seconds = time.perf_counter() - started
    print(f"vaecli precision={acceleration.precision_policy} images_per_s={epochs * len(images) / seconds:.0f}")


def measure(command: list[str]) -> float:
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    match = re.search(r"images_per_s=(\d+)", result.stdout)
    if result.returncode or not match:
        sys.exit(f"benchmark command failed: {' '.join(command)}\n{result.stdout}\n{result.stderr[-2000:]}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n", type=int, default=60000, help="training images")
    parser.add_argument("--data", default=DATA, help="folder with Fashion-MNIST IDX files")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        help="config override for vaecli's side, e.g. --set train.mixed_precision=off",
    )
    parser.add_argument(
        "--reference-flag",
        action="append",
        default=[],
        dest="reference_flags",
        help="extra flag for the reference, e.g. --reference-flag=--bf16",
    )
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        run_vaecli(args.epochs, args.n, args.data, args.overrides)
        return
    common = ["--epochs", str(args.epochs), "--n", str(args.n), "--data", args.data]
    ours, theirs = [], []
    for round_number in range(1, args.rounds + 1):
        sets = [f"--set={item}" for item in args.overrides]
        ours.append(measure([sys.executable, __file__, "--inner", *common, *sets]))
        theirs.append(
            measure(
                [sys.executable, str(REFERENCE), "--arch", "seed", "--batch", "128", *common, *args.reference_flags]
            )
        )
        print(
            f"round {round_number}: vaecli {ours[-1]:.0f} img/s, reference {theirs[-1]:.0f} img/s, "
            f"ratio {ours[-1] / theirs[-1]:.2f}",
            flush=True,
        )
    ratio = statistics.median(ours) / statistics.median(theirs)
    print(f"median: vaecli {statistics.median(ours):.0f} img/s, reference {statistics.median(theirs):.0f} img/s")
    print(f"ratio vaecli/reference = {ratio:.2f} (>= 1.0 means vaecli is at least as fast)")


if __name__ == "__main__":
    main()
