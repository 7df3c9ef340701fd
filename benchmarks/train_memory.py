"""Peak RSS of `vae train` on image-folder caches of different sizes: memory must not grow with the data.

    python benchmarks/train_memory.py [--sizes 10000,50000] [--epochs 1] [--image-size 96]

For each size N, a cache of N synthetic 96x96 RGB faces is written straight into the HDF5
format `vae data prepare` produces (decoding N real JPEGs would only add time), keyed to a
folder of N placeholder files so that `vae train` finds and reuses it. Then the real `vae train`
runs in a child process (small conv stacks, z_dim 200, batch 128, validation and grids on), and
its peak resident set size is read from the kernel (getrusage of the waited child).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WRITE_BLOCK = 1024  # images written per HDF5 call


def write_synthetic_cache(folder: Path, cache: Path, num_images: int, image_size: int) -> Path:
    """N placeholder files and the complete cache their fingerprint names; returns the config path."""
    import h5py

    from vaecli.config import validate
    from vaecli.data.cache import FORMAT_VERSION, cache_folder, fingerprint, scan
    from vaecli.data.synthetic import generate_faces

    folder.mkdir(parents=True)
    for index in range(num_images):
        (folder / f"{index + 1:06d}.jpg").touch()
    config = {
        "name": f"memory_{num_images}",
        "data": {"source": "image_folder", "path": str(folder), "image_size": image_size, "cache_dir": str(cache)},
        "model": {
            "kind": "vae",
            "z_dim": 200,
            "encoder": {"filters": [8, 16, 16, 16], "kernel_sizes": [3] * 4, "strides": [2] * 4},
            "decoder": {"filters": [16, 16, 8, 3], "kernel_sizes": [3] * 4, "strides": [2] * 4},
        },
        "train": {"epochs": 1, "batch_size": 128, "validation_split": 0.05},
        "output": {"grid_images": 32},
    }
    data_config = validate(config).data
    _, entries, preprocessing = scan(data_config)
    key = fingerprint(entries, preprocessing)
    target = cache_folder(data_config) / f"image_folder-{key}.h5"
    target.parent.mkdir(parents=True, exist_ok=True)
    faces, _ = generate_faces(WRITE_BLOCK, image_size, seed=0)
    with h5py.File(target, "w") as handle:
        images = handle.create_dataset("images", (num_images, image_size, image_size, 3), np.uint8)  # contiguous
        for start in range(0, num_images, WRITE_BLOCK):
            count = min(WRITE_BLOCK, num_images - start)
            images[start : start + count] = np.roll(faces, start // WRITE_BLOCK, axis=2)[:count]
        handle.create_dataset("files", data=[entry.relative_path for entry in entries], dtype=h5py.string_dtype())
        handle.attrs.update(
            {
                "fingerprint": key,
                "format_version": FORMAT_VERSION,
                "num_images": num_images,
                "num_skipped": 0,
                "num_files": num_images,
                "complete": True,
            }
        )
    target.with_suffix(".skipped.txt").write_text("")
    config_path = folder.parent / f"memory_{num_images}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    return config_path


MEASURE = (
    "import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)"
)


def peak_rss_of_training(config_path: Path, runs: Path, epochs: int) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of `vae train` on the config, in a fresh process tree."""
    command = [
        sys.executable,
        "-m",
        "vaecli.cli",
        "train",
        str(config_path),
        "--runs-dir",
        str(runs),
        "-q",
        "--set",
        f"train.epochs={epochs}",
    ]
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", MEASURE, *command], check=False, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    peak_kb, code = result.stdout.split()[-2:]
    if code != "0":
        raise SystemExit(f"vae train failed:\n{result.stdout}\n{result.stderr}")
    return int(peak_kb) / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=96)
    arguments = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="vaecli_memory_"))
    peaks = {}
    for size in (int(value) for value in arguments.sizes.split(",")):
        started = time.perf_counter()
        config_path = write_synthetic_cache(scratch / f"folder_{size}", scratch / "cache", size, arguments.image_size)
        written = time.perf_counter() - started
        peaks[size], seconds = peak_rss_of_training(config_path, scratch / "runs", arguments.epochs)
        uint8_mb = size * arguments.image_size**2 * 3 / 2**20
        print(
            f"{size:7d} images ({uint8_mb:,.0f} MB as uint8, {4 * uint8_mb:,.0f} MB as float32): cache written in "
            f"{written:.1f} s; vae train {arguments.epochs} epoch(s) in {seconds:.1f} s, peak RSS {peaks[size]:,.0f} MB"
        )
    sizes = sorted(peaks)
    print(
        f"peak RSS ratio {sizes[-1]} vs {sizes[0]} images: {peaks[sizes[-1]] / peaks[sizes[0]]:.3f}; "
        f"scratch folder {scratch}"
    )


if __name__ == "__main__":
    main()
