"""What the tests share: the real `vae` (in-process and as its own process), tiny real configs and the runs they
train, generated image folders, hostile environments (real tmpfs mounts, full disks, pids of dead processes)
and the helpers of kill-and-resume tests. Fixtures live in conftest.py; benchmarks use the image folders too.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]  # the repository
FASHION_MNIST = Path(os.environ.get("VAECLI_FASHION_MNIST", "/usr/share/datasets/fashion-mnist"))
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]  # as vaecli.io.atomic names this machine
SEGFAULT = -11  # returncode of a process killed by SIGSEGV (a shell shows it as 139)
TIMING_KEYS = ("seconds", "images_per_second")  # metrics.jsonl columns that differ between identical runs


# ------------------------------------------------------------------------------------------ the real `vae`


def vae(*args):
    """Run the real `vae` command line in-process (typer's CliRunner); arguments may be paths or numbers."""
    from typer.testing import CliRunner

    from vaecli.cli import app

    return CliRunner().invoke(app, [str(arg) for arg in args])


def vae_process(*args, environment: dict | None = None, **popen) -> subprocess.Popen:
    """The real `vae` as its own process (python -m vaecli.cli), output merged: for kills, signals and races."""
    return subprocess.Popen(
        [sys.executable, "-m", "vaecli.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(environment or {})},
        **popen,
    )


def ok(*args) -> str:
    """`vae *args` must succeed; returns its output."""
    result = vae(*args)
    assert result.exit_code == 0, result.output
    return result.output


def run_vae(*args, timeout: float = 300, limit_address_space: int | None = None, **kwargs):
    """`python -m vaecli.cli ARGS` in a real subprocess: (returncode, output). A segfault shows as SEGFAULT."""

    def limit():  # pragma: no cover  (runs in the child)
        if limit_address_space:
            resource.setrlimit(resource.RLIMIT_AS, (limit_address_space, limit_address_space))

    result = subprocess.run(
        [sys.executable, "-m", "vaecli.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        preexec_fn=limit if limit_address_space else None,
        **kwargs,
    )
    return result.returncode, result.stdout + result.stderr


def finish(process: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    """Wait for a vae_process: (returncode, output)."""
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def assert_one_clean_line(code: int, output: str, fragment: str, expected_code: int = 2) -> None:
    """The promise of every hostile case: its exit code, one `error:` line holding fragment, no traceback."""
    assert code == expected_code, output
    assert "Traceback" not in output, output
    lines = error_lines(output)
    assert len(lines) == 1, output
    assert fragment in lines[0], output


def one_line_failure(*args, fragments=()) -> str:
    """`vae *args` exits 2 with one error line holding every fragment, and no traceback; returns that line."""
    result = vae(*args)
    assert_one_clean_line(result.exit_code, result.output, "")
    line = error_lines(result.output)[0]
    for fragment in fragments:
        assert fragment in line, line
    return line


# --------------------------------------------------------------------------------- configs and their runs


def tiny_config(**sections) -> dict:
    """A real VAE config small enough to train an epoch in well under a second."""
    config = {
        "name": "tiny",
        "seed": 3,
        "data": {"source": "synthetic", "image_size": 16, "num_images": 640, "num_test_images": 64},
        "model": {
            "kind": "vae",
            "z_dim": 4,
            "encoder": {"filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2]},
            "decoder": {"filters": [16, 3], "kernel_sizes": [3, 3], "strides": [2, 2]},
        },
        "loss": {"reconstruction": "bce", "kl_factor": 1.0},
        # float32 on every CPU: tests compare numbers at float32 precision; the bfloat16 path is forced on where a
        # test exercises it (mixed_precision "on", or VAECLI_CPU_BFLOAT16=1 for "auto").
        "train": {
            "epochs": 3,
            "batch_size": 100,
            "learning_rate": 3e-3,
            "validation_split": 0.1,
            "mixed_precision": False,
        },
        "output": {"image_every": 1, "grid_images": 8},
    }
    for section, values in sections.items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    return config


def train_run(folder: Path, config: dict) -> Path:
    """Train config with the real `vae train` into folder/runs; returns the run folder."""
    path = folder / f"{config['name']}.yaml"
    path.write_text(json.dumps(config))
    ok("train", path, "--runs-dir", folder / "runs", "--quiet")
    return folder / "runs" / config["name"]


def manifest(run: Path) -> dict:
    """The run's manifest.json, or {} while it is not written yet or being replaced."""
    try:
        return json.loads((run / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def metric_rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def comparable(run: Path) -> list[dict]:
    """The metrics rows without their timings: equal for runs that trained the same steps."""
    return [{key: value for key, value in row.items() if key not in TIMING_KEYS} for row in metric_rows(run)]


def checkpoint_epoch(run: Path) -> int:
    import h5py

    try:
        with h5py.File(run / "checkpoints" / "last.h5", "r") as handle:
            return int(handle.attrs["epoch"])
    except (OSError, KeyError):
        return 0


def weights(run: Path) -> list[np.ndarray]:
    """Every model and optimizer array of the run's last checkpoint."""
    import h5py

    with h5py.File(run / "checkpoints" / "last.h5", "r") as handle:
        return [handle[group][key][()] for group in ("model", "optimizer") for key in sorted(handle[group])]


def wait_until(condition, timeout: float, process: subprocess.Popen | None = None, what: str = "") -> None:
    """Poll condition; a failure when process ends first or timeout seconds pass."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended before {what}:\n{process.stdout.read() if process.stdout else ''}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def wait_for_checkpoint(process: subprocess.Popen, run: Path, timeout: float = 180) -> None:
    wait_until(lambda: checkpoint_epoch(run) >= 1, timeout, process, "its first checkpoint")


def killed_after_first_checkpoint(config: Path, run: Path) -> None:
    """Start `vae train config` (which trains into run) as its own process; SIGKILL it once its first checkpoint
    exists."""
    import signal

    process = vae_process("train", config, "--runs-dir", run.parent, "-q")
    wait_for_checkpoint(process, run)
    process.send_signal(signal.SIGKILL)
    process.wait()


def copied(run: Path, folder: Path) -> Path:
    """A copy of run in folder/runs, to damage without touching the original."""
    import shutil

    return Path(shutil.copytree(run, folder / "runs" / run.name))


# ------------------------------------------------------------------------------------------ image folders


CELEBA_SIZE = (178, 218)  # width, height of CelebA's aligned images


def face_pixels(count: int, width: int, height: int, seed: int = 0) -> np.ndarray:
    """Smooth, varied uint8 RGB pictures (synthetic faces stretched to width x height)."""
    from vaecli.data.synthetic import generate_faces

    faces, _ = generate_faces(count, 32, seed=seed)
    stretched = [np.asarray(Image.fromarray(face).resize((width, height), Image.BILINEAR)) for face in faces]
    return np.stack(stretched)


def write_jpeg_folder(
    folder: Path, count: int, size: tuple[int, int] = CELEBA_SIZE, seed: int = 0, per_subfolder: int | None = None
) -> list[Path]:
    """count JPEGs named 000001.jpg ... (CelebA style), optionally spread over subfolders."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    batch = 256
    for start in range(0, count, batch):
        pixels = face_pixels(min(batch, count - start), *size, seed=seed + start)
        for offset, image in enumerate(pixels):
            index = start + offset
            parent = folder / f"part{index // per_subfolder:03d}" if per_subfolder else folder
            parent.mkdir(exist_ok=True)
            path = parent / f"{index + 1:06d}.jpg"
            Image.fromarray(image).save(path, quality=90)
            paths.append(path)
    return paths


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


GOOD_FILES = (
    "a_rgb.jpg",
    "b_rgb.png",
    "c_rgb.bmp",
    "d_palette.gif",
    "e_rgb.webp",
    "f_grey.png",
    "g_palette_transparent.png",
    "h_rgba.png",
    "i_cmyk.jpg",
    "j_sixteen_bit.png",
    "nested/deeper/k_upper.JPG",
    "l_jpeg_named.png",
)
BAD_FILES = {"m_truncated.jpg": "truncated", "n_empty.jpg": "empty", "o_text.jpg": "text"}


def write_messy_folder(folder: Path) -> dict[str, np.ndarray]:
    """Every kind of file a real folder holds; returns the RGB pixels each good file should decode to."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nested" / "deeper").mkdir(parents=True)
    rgb = face_pixels(1, 40, 48, seed=7)[0]
    image = Image.fromarray(rgb)
    image.save(folder / "a_rgb.jpg", quality=95)
    image.save(folder / "b_rgb.png")
    image.save(folder / "c_rgb.bmp")
    image.quantize(64).save(folder / "d_palette.gif")
    image.save(folder / "e_rgb.webp", lossless=True)
    image.convert("L").save(folder / "f_grey.png")
    palette = image.quantize(32)
    palette.info["transparency"] = 0
    palette.save(folder / "g_palette_transparent.png", transparency=0)
    image.convert("RGBA").save(folder / "h_rgba.png")
    image.convert("CMYK").save(folder / "i_cmyk.jpg", quality=95)
    sixteen = rgb[..., 0].astype(np.uint16) * 257  # full 16-bit range: 255 * 257 = 65535
    Image.fromarray(sixteen).save(folder / "j_sixteen_bit.png")
    image.save(folder / "nested" / "deeper" / "k_upper.JPG", quality=95)
    (folder / "l_jpeg_named.png").write_bytes(_jpeg_bytes(image))  # a JPEG under a .png name still decodes
    whole = _jpeg_bytes(image)
    (folder / "m_truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "n_empty.jpg").write_bytes(b"")
    (folder / "o_text.jpg").write_text("this is not an image\n")
    (folder / "readme.txt").write_text("not an image suffix: never scanned\n")
    return {"rgb": rgb, "grey": np.asarray(image.convert("L")), "sixteen": rgb[..., 0]}


def cached(info) -> tuple[list[str], np.ndarray]:
    """(file names, images) of a built image-folder cache (vaecli.data.cache.CacheInfo)."""
    import h5py

    with h5py.File(info.path, "r") as handle:
        return [name.decode() for name in handle["files"][:]], handle["images"][: handle.attrs["num_images"]]


def write_huge_png(path: Path, width: int, height: int) -> Path:
    """A width x height RGB PNG written row by row (a few MB on disk, never whole in memory): white with a
    black square in the middle."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    white = b"\0" + b"\xff" * (3 * width)  # filter byte 0, then the pixels
    middle = (
        b"\0" + b"\xff" * (3 * (width // 3)) + b"\0" * (3 * (width - 2 * (width // 3))) + b"\xff" * (3 * (width // 3))
    )
    compressor = zlib.compressobj(1)
    with open(path, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        data = bytearray()
        for row in range(height):
            data += compressor.compress(middle if height // 3 <= row < 2 * height // 3 else white)
            if len(data) > 1 << 20:
                handle.write(chunk(b"IDAT", bytes(data)))
                data.clear()
        data += compressor.flush()
        handle.write(chunk(b"IDAT", bytes(data)) + chunk(b"IEND", b""))
    return path


# ------------------------------------------------------------------------------------ hostile environments


@contextmanager
def mounted_tmpfs(folder: Path, size: str = "3m", inodes: int | None = None, read_only: bool = False):
    """A real tmpfs of `size` at folder (root only, as in CI), unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    options = ",".join([f"size={size}", *([f"nr_inodes={inodes}"] if inodes else []), *(["ro"] if read_only else [])])
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True
    )
    if result.returncode:
        message = f"cannot mount a tmpfs (needs root): {result.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill_disk(folder: Path, leave: int = 0) -> Path:
    """Write a file that leaves `leave` bytes free on folder's file system."""
    filler = folder / "filler"
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(filler, "wb") as handle:
        handle.truncate(0)
        remaining = max(0, free - leave)
        while remaining > 0:
            chunk = min(remaining, 1 << 20)
            try:
                handle.write(b"\0" * chunk)
                handle.flush()
            except OSError:
                break
            remaining -= chunk
    return filler


def dead_pid() -> int:
    """The pid of a process that has exited (as a killed writer's would be)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def temporary_name(target: str, pid: int, suffix: str = "", host: str = HOST_TAG) -> str:
    """The name atomic_path gives the temporary of target, for a writer with this pid on host."""
    return f".{target}.{host}-{pid}-k2j3h4g5{suffix or Path(target).suffix}"
