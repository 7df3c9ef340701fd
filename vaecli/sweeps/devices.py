"""Which GPUs a parallel sweep may use, and how many CPU threads each run gets: without importing TensorFlow.

GPU ids are the ones CUDA_VISIBLE_DEVICES takes (nvidia-smi's numbering). When this process
already has CUDA_VISIBLE_DEVICES set, exactly the ids listed there are visible: a sweep started
inside a job that was given GPUs 2 and 3 uses 2 and 3.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass

from vaecli.errors import ConfigError

NVIDIA_SMI_TIMEOUT = 20  # seconds; a hung driver should not hang the sweep
GPU_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)


def visible_gpus() -> list[str]:
    """The GPU ids this process may hand out: CUDA_VISIBLE_DEVICES, else `nvidia-smi -L`, else TensorFlow."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [device.strip() for device in listed.split(",") if device.strip() and device.strip() != "-1"]
    if shutil.which("nvidia-smi"):
        try:
            result = subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT, check=False
            )
            return GPU_LINE.findall(result.stdout) if result.returncode == 0 else []
        except (OSError, subprocess.SubprocessError):
            return []
    return _tensorflow_gpus()


def _tensorflow_gpus() -> list[str]:
    """No nvidia-smi (a container with the driver libraries only): ask TensorFlow, in a child process.

    A child, so this process never initialises CUDA (a parent holding a GPU context would
    take memory on every GPU its children then use).
    """
    import sys

    code = "import tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))"
    try:
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            check=False,
        )
        count = int(result.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return []
    return [str(index) for index in range(count)]


def parse_devices(text: str | None, visible: list[str] | None = None) -> list[str] | None:
    """--devices: None (not given), 'auto' (every visible GPU; [] on a machine without one) or '0,1,3'.

    ConfigError for an id this machine does not show, a repeated id or something that is not an id.
    """
    if text is None:
        return None
    text = text.strip()
    if text == "auto":
        return list(visible_gpus() if visible is None else visible)
    devices = [device.strip() for device in text.split(",")]
    if not all(device.isdigit() for device in devices):
        raise ConfigError(
            f"devices {text}: expected 'auto' or GPU ids separated by commas, e.g. 0,1,2,3", arguments=("devices",)
        )
    repeated = sorted(device for device, count in Counter(devices).items() if count > 1)
    if repeated:
        raise ConfigError(
            f"devices {text}: GPU {', '.join(repeated)} given twice; each run gets a GPU of its own",
            arguments=("devices",),
        )
    visible = visible_gpus() if visible is None else visible
    missing = [device for device in devices if device not in visible]
    if missing:
        shown = f"{len(visible)} GPU{'s' * (len(visible) != 1)}" + (f" ({', '.join(visible)})" if visible else "")
        raise ConfigError(
            f"devices {text}: GPU {', '.join(missing)} is not visible; this machine shows {shown} "
            f"(nvidia-smi -L, CUDA_VISIBLE_DEVICES)",
            arguments=("devices",),
        )
    return devices


def cpu_cores() -> int:
    """The cores this process may run on (its affinity mask: what a container or taskset allows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_share(jobs: int, cores: int | None = None) -> int:
    """TensorFlow threads per run when `jobs` runs share this CPU: the cores divided evenly, at least one."""
    return max(1, (cores or cpu_cores()) // jobs)


@dataclass
class DevicePool:
    """Hands GPUs to runs: the least busy one first, so with --jobs <= GPUs every run has a GPU to itself."""

    devices: list[str]

    def __post_init__(self) -> None:
        self.busy: Counter = Counter({device: 0 for device in self.devices})

    def take(self) -> str | None:
        if not self.devices:
            return None
        device = min(self.devices, key=lambda candidate: (self.busy[candidate], self.devices.index(candidate)))
        self.busy[device] += 1
        return device

    def give_back(self, device: str | None) -> None:
        if device is not None:
            self.busy[device] -= 1
