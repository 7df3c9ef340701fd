"""The GPU-box workload, rehearsed: configs/celeba_z200.yaml on N CelebA-sized face JPEGs for about S steps.

    python benchmarks/celeba_scale.py                          # N 20,000, S 600: a GPU box
    python benchmarks/celeba_scale.py --images 600 --steps 8   # a laptop CPU, in a few minutes

Writes N synthetic faces as 178x218 JPEGs named like CelebA's img_align_celeba/ (000001.jpg ...),
builds the image cache with `vae data prepare` (crop and resize to 96x96, as the config says),
then trains the unchanged config (96x96, z_dim 200, batch 128) in a child process for
ceil(S / steps per epoch) epochs, and reports: cache build time and size, images/s of the
first epoch (tracing, XLA compilation) and of the later ones, peak RSS, peak GPU memory (TF's
allocator, when there is a GPU), checkpoint and model sizes, and the device, precision and XLA
settings `vae train` chose ("auto"). The same command runs on a CPU and on a GPU box; nothing to
edit. Everything goes to a scratch folder (--scratch) that is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = ROOT / "configs" / "celeba_z200.yaml"

# Runs in the child: train, then read the process's own peaks (RSS from the kernel, GPU from TF's allocator).
TRAIN = """
import json, resource, sys
import vaecli
run = vaecli.train(sys.argv[1], overrides=sys.argv[3:], name="celeba_scale", runs_dir=sys.argv[2], quiet=True)
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
gpu_peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] if gpus else None
parameters = {name: int(model.count_params()) for name, model in (("encoder", run.encoder), ("decoder", run.decoder))}
print("RESULT " + json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                              "gpu_peak_bytes": gpu_peak, "parameters": parameters}))
"""


def overrides(folder: Path, cache: Path, epochs: int) -> list[str]:
    return [f"data.path={folder}", f"data.cache_dir={cache}", f"train.epochs={epochs}"]


def run(command: list[str], what: str) -> tuple[str, float]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"{what} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout, time.perf_counter() - started


def steps_per_epoch(manifest: dict, batch_size: int) -> int:
    return math.ceil(manifest["data"]["train"] / batch_size)


def megabytes(path: Path) -> float:
    return path.stat().st_size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20000, help="N: JPEGs to write (178x218)")
    parser.add_argument("--steps", type=int, default=600, help="S: training steps (whole epochs, at least S)")
    parser.add_argument("--scratch", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    arguments = parser.parse_args()
    from tests.helpers import CELEBA_SIZE, write_jpeg_folder
    from vaecli.config import load_config

    scratch = arguments.scratch or Path(tempfile.mkdtemp(prefix="vaecli_celeba_scale_"))
    folder, cache, runs = scratch / "img_align_celeba", scratch / "cache", scratch / "runs"
    started = time.perf_counter()
    if not folder.is_dir() or len(list(folder.glob("*.jpg"))) != arguments.images:
        write_jpeg_folder(folder, arguments.images, size=CELEBA_SIZE)
    jpeg_mb = sum(path.stat().st_size for path in folder.glob("*.jpg")) / 2**20
    print(
        f"{arguments.images:,} JPEGs {CELEBA_SIZE[0]}x{CELEBA_SIZE[1]} ({jpeg_mb:,.0f} MB) in {folder}: "
        f"{time.perf_counter() - started:.1f} s"
    )

    config = load_config(CONFIG, overrides(folder, cache, 1))
    prepare = [sys.executable, "-m", "vaecli.cli", "data", "prepare", str(CONFIG)]
    for override in overrides(folder, cache, 1):
        prepare += ["--set", override]
    _, seconds = run(prepare, "vae data prepare")
    cache_mb = sum(path.stat().st_size for path in cache.rglob("*.h5")) / 2**20
    print(f"cache built in {seconds:.1f} s ({arguments.images / seconds:,.0f} images/s), {cache_mb:,.0f} MB")

    # Epochs for at least S steps: the split sizes come from the config (validation_split, test_split).
    held_out = round(arguments.images * config.data.test_split)
    train_images = arguments.images - held_out - round((arguments.images - held_out) * config.train.validation_split)
    epochs = max(1, math.ceil(arguments.steps / math.ceil(train_images / config.train.batch_size)))
    output, seconds = run(
        [sys.executable, "-c", TRAIN, str(CONFIG), str(runs), *overrides(folder, cache, epochs)], "vae train"
    )
    result = json.loads(output.split("RESULT ", 1)[1])
    report(runs / "celeba_scale", result, seconds, config.train.batch_size, scratch)


def report(run_folder: Path, result: dict, seconds: float, batch_size: int, scratch: Path) -> None:
    manifest = json.loads((run_folder / "manifest.json").read_text())
    rows = [json.loads(line) for line in (run_folder / "metrics.jsonl").read_text().splitlines()]
    steps = steps_per_epoch(manifest, batch_size)
    later = [row["images_per_second"] for row in rows[1:]]
    print(
        f"trained {len(rows)} epoch(s) x {steps} steps of {batch_size} ({manifest['data']['train']:,} training images) "
        f"in {seconds:.1f} s (process start, data, tracing included)"
    )
    print(
        f"images/s: first epoch {rows[0]['images_per_second']:,.0f} (tracing, compilation)"
        + (f", later epochs median {statistics.median(later):,.0f}" if later else "")
    )
    print(f"final loss {rows[-1]['loss']:,.1f}, val_loss {rows[-1].get('val_loss', float('nan')):,.1f} nats/image")
    print(
        f"peak RSS {result['rss_kb'] / 1024:,.0f} MB"
        + (
            f"; peak GPU memory {result['gpu_peak_bytes'] / 2**20:,.0f} MB (TensorFlow's allocator)"
            if result["gpu_peak_bytes"] is not None
            else "; no GPU"
        )
    )
    print(
        f"checkpoint {megabytes(run_folder / 'checkpoints' / 'last.h5'):,.1f} MB; encoder.keras "
        f"{megabytes(run_folder / 'encoder.keras'):,.1f} MB ({result['parameters']['encoder']:,} parameters), "
        f"decoder.keras {megabytes(run_folder / 'decoder.keras'):,.1f} MB "
        f"({result['parameters']['decoder']:,} parameters)"
    )
    print(
        f"device {manifest['device']}, precision {manifest['precision_policy']}, XLA {manifest['jit_compile']}, "
        f"deterministic {manifest['deterministic']}, threads {manifest.get('threads')}"
    )
    print(f"scratch folder {scratch}")


if __name__ == "__main__":
    main()
