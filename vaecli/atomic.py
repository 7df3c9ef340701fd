"""Atomic writes and timestamps: the one way vaecli puts a file on disk.

Every file is written to a hidden temporary name beside its target (`.<name>.<random><suffix>`)
and renamed over it only when whole, so a killed process never leaves half a file: a reader
sees the old file or the new one. The temporary name starts with a dot and the target's name,
which is how `vae clean` recognises the leftovers of a process killed mid-write.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

_UMASK = os.umask(0)
os.umask(_UMASK)


def timestamp() -> str:
    """Local time with its UTC offset, as every record of vaecli writes it: 2026-12-01T09:30:00+0000."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@contextmanager
def atomic_path(target: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside target; rename it onto target only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; results should be readable like any file
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(target: Path, text: str) -> Path:
    with atomic_path(Path(target)) as temporary:
        temporary.write_text(text)
    return Path(target)


def write_json_atomic(target: Path, data: Any) -> Path:
    """Indented JSON with a final newline; NaN and Inf are refused (JSON has neither)."""
    return write_text_atomic(target, json.dumps(data, indent=2, allow_nan=False) + "\n")
