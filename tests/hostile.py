"""Helpers of the hostile-input tests: real tmpfs mounts, real subprocesses, pids of processes that are gone."""

from __future__ import annotations

import hashlib
import os
import resource
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]  # as vaecli.io.atomic names this machine

SEGFAULT = -11  # returncode of a process killed by SIGSEGV (a shell shows it as 139)


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


def dead_pid() -> int:
    """The pid of a process that has exited (as a killed writer's would be)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def temporary_name(target: str, pid: int, suffix: str = "", host: str = HOST_TAG) -> str:
    """The name atomic_path gives the temporary of target, for a writer with this pid on host."""
    return f".{target}.{host}-{pid}-k2j3h4g5{suffix or Path(target).suffix}"


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def assert_one_clean_line(code: int, output: str, fragment: str, expected_code: int = 2) -> None:
    """The promise of every hostile case: its exit code, one `error:` line holding fragment, no traceback."""
    assert code == expected_code, output
    assert "Traceback" not in output, output
    lines = error_lines(output)
    assert len(lines) == 1, output
    assert fragment in lines[0], output


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
