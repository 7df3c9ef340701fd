"""A 4-run sweep one run after another vs `--jobs 2`, side by side: does sharing the machine pay?

    python benchmarks/sweep_parallel.py [--jobs 2] [--rounds 1] [--images 4000] [--epochs 3] [--image-size 32]

Both sweeps train the same 4 grid points (loss.kl_factor x model.z_dim) of a quickstart-shaped
VAE on the built-in synthetic faces, each from scratch in its own runs folder:

    serial   `vae sweep` without --jobs: one process, runs one after another, TensorFlow on every core
    parallel `vae sweep --jobs N`: N `vae train` processes at a time, each with cores / N threads

and prints wall-clock seconds of each, their ratio, and the largest relative difference between the
two sweeps' final validation losses (the thread count moves the last float32 bits). With --rounds R
the two alternate R times (fresh folders each time), so that a busy neighbour slows both alike;
the ratio of the medians is the answer. On a GPU box,
`--devices auto` is what to time instead (one run per GPU); this script measures the CPU case.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GRID = ["--set", "loss.kl_factor=1e-3,1", "--set", "model.z_dim=16,32"]


def write_config(folder: Path, images: int, epochs: int, image_size: int) -> Path:
    config = yaml.safe_load((ROOT / "configs" / "quickstart.yaml").read_text())
    config["name"] = "bench"
    config["data"].update({"num_images": images, "image_size": image_size})
    config["train"]["epochs"] = epochs
    config["output"]["image_every"] = epochs
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def timed_sweep(config: Path, runs: Path, extra: list[str]) -> float:
    command = [sys.executable, "-m", "vaecli.cli", "sweep", str(config), *GRID, "--runs-dir", str(runs), *extra]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds


def final_val_losses(runs: Path) -> dict[str, float]:
    record = json.loads((runs / "sweeps" / "bench.json").read_text())
    return {
        run["name"]: json.loads((runs / run["name"] / "manifest.json").read_text())["final_metrics"]["val_loss"]
        for run in record["runs"]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=32)
    arguments = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vaecli_sweep_parallel_"))
    config = write_config(scratch, arguments.images, arguments.epochs, arguments.image_size)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"4 runs: {arguments.images:,} synthetic {arguments.image_size}x{arguments.image_size} faces, "
        f"{arguments.epochs} epochs each, {cores} cores"
    )
    threads = max(1, cores // arguments.jobs)
    serial_times, parallel_times = [], []
    for round_number in range(1, arguments.rounds + 1):
        serial_times.append(timed_sweep(config, scratch / f"serial{round_number}", []))
        parallel_times.append(timed_sweep(config, scratch / f"parallel{round_number}", ["--jobs", str(arguments.jobs)]))
        print(
            f"round {round_number}: serial (one process, {cores} threads) {serial_times[-1]:7.1f} s | "
            f"--jobs {arguments.jobs} ({threads} thread(s) per run) {parallel_times[-1]:7.1f} s | "
            f"ratio {serial_times[-1] / parallel_times[-1]:.2f}x"
        )
    serial, parallel = statistics.median(serial_times), statistics.median(parallel_times)
    print(f"median: serial {serial:.1f} s, --jobs {arguments.jobs} {parallel:.1f} s, ratio {serial / parallel:.2f}x")
    losses = final_val_losses(scratch / "serial1"), final_val_losses(scratch / "parallel1")
    worst = max(abs(losses[1][name] - value) / abs(value) for name, value in losses[0].items())
    print(f"largest relative difference of final val_loss, serial vs --jobs {arguments.jobs}: {worst:.1e}")
    print(f"scratch folder {scratch}")


if __name__ == "__main__":
    main()
