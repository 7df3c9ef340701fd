"""What this process may hold: physical memory, ulimit -v and a cgroup limit; checked before big arrays are made."""

from __future__ import annotations

import math
import os
import resource
from contextlib import suppress
from pathlib import Path

from vaecli.errors import ResourceError
from vaecli.io.atomic import human_bytes

FLOAT_BYTES = 4


def available_memory() -> tuple[int, str]:
    """(bytes, what limits them): the smallest of physical memory, the address-space limit and a cgroup limit."""
    limits = []
    with suppress(ValueError, OSError):
        limits.append((os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "the memory of this machine"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        limits.append((soft, "the address-space limit of this process, ulimit -v"))
    cgroup = _cgroup_limit()
    if cgroup is not None:
        limits.append((cgroup, "the memory limit of this job's cgroup"))
    return min(limits) if limits else (1 << 62, "no limit known")


def _cgroup_limit() -> int | None:
    for path in (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes")):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < (1 << 60):
            return int(text)
    return None


def check_images_fit(
    num_images: int, shape: tuple[int, int, int], what: str, advice: str, copies: int = 1, argument: str = ""
) -> None:
    """ResourceError when num_images uint8 images of shape (times copies) cannot fit in memory; what names them
    (argument: when what is the name of the caller's argument that asked for them)."""
    needed = num_images * math.prod(shape) * copies
    available, limit = available_memory()
    if needed <= available:
        return
    raise ResourceError(
        f"{what}: {num_images:,} images of {shape[0]}x{shape[1]}x{shape[2]} need about {human_bytes(needed)} "
        f"of memory, but only {human_bytes(available)} is available ({limit}); {advice}",
        arguments=(argument,) if argument else (),
    )
