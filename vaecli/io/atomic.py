"""Atomic writes and timestamps: the one way vaecli puts a file on disk.

Every file is written to a hidden temporary name beside its target and renamed over it only
when whole, so a killed process never leaves half a file: a reader sees the old file or the
new one. The temporary is `.<name>.<host>-<pid>-<random><suffix>` (host: 6 hex digits of the
machine's name): a process killed mid-write leaves one behind, and the next writer of the same
file (and `vae clean`) removes it once that process is gone. A temporary of another machine
is judged by its age only (a shared disk: its pid means nothing here).

Every failure to write (a full disk, a read-only or immutable folder, a path that is a folder
or lies under a file) is an OutputError naming the file: one line, never a traceback.
HDF5 files are built in memory and written as bytes (write_hdf5_atomic): HDF5 itself never
meets a full disk, which made h5py crash the whole process (SIGSEGV) after `No space left`.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from vaecli.errors import OutputError, first_line

_UMASK = os.umask(0)
os.umask(_UMASK)

HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
FOREIGN_STALE_SECONDS = 24 * 3600  # a temporary of another machine (or an older vaecli) is stale after a day
# .<target>.<host>-<pid>-<random><suffix>; mkstemp's random part is 8 characters of [a-z0-9_]
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.(?P<host>[0-9a-f]{6})-(?P<pid>\d+)-[a-z0-9_]{8}(?:\.[A-Za-z0-9]+)?$")


def timestamp() -> str:
    """Local time with its UTC offset, as every record of vaecli writes it: 2026-12-01T09:30:00+0000."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def human_bytes(size: float) -> str:
    """1234567 -> '1.2 MB' (decimal units, as df -H and file managers show them)."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def free_bytes(path: Path) -> int | None:
    """Free space for an unprivileged writer on the file system of path (or of its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def _reason(error: OSError) -> str:
    """One line for an OSError: its strerror, or the first line of its message (h5py's span several)."""
    return first_line(error.strerror or error)


def _no_inodes(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_favail == 0
    except OSError:
        return False


def output_error(target: Path, error: OSError, needed: int | None = None) -> OutputError:
    """The one-line OutputError for a failed write of target (a full disk says how much is needed and free)."""
    if isinstance(error, OutputError):
        return error
    target = Path(target)
    message = f"cannot write {target}: {_reason(error)}"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        free = free_bytes(target.parent)
        where = f"{human_bytes(free)} free in {target.parent}" if free is not None else f"in {target.parent}"
        if _no_inodes(target.parent) and (needed is None or free is None or free >= needed):
            detail = f"no free inodes left in {target.parent}"
        elif needed is not None:
            detail = f"it needs {human_bytes(needed)}, {where}"
        else:
            detail = where
        message = f"cannot write {target}: No space left on device ({detail})"
    elif error.errno == errno.EISDIR or target.is_dir():
        message = f"cannot write {target}: it is a folder; give a file name"
    return OutputError(message, errno=error.errno, filename=str(target))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def is_stale_temporary(path: Path) -> bool:
    """A file vaecli began writing and no process will finish: named `.TARGET.HOST-PID-XXXXXXXX[.ext]` (HOST a hash
    of the machine's name), and its process is gone (this machine) or it is a day old (another machine)."""
    try:
        age = time.time() - path.lstat().st_mtime
    except OSError:
        return False
    match = _TEMPORARY.match(path.name)
    if match is None or not path.is_file() or path.is_symlink():
        return False
    if match["host"] != HOST_TAG:
        return age > FOREIGN_STALE_SECONDS
    return not _process_alive(int(match["pid"]))


def temporary_target(path: Path) -> str | None:
    """The name of the file a temporary is written for ('last.h5'), or None when path is no temporary."""
    match = _TEMPORARY.match(path.name)
    return match["target"] if match else None


def remove_stale_temporaries(folder: Path, target_name: str | None = None) -> list[Path]:
    """Delete the stale temporaries in folder (only those of target_name when given); returns what was removed."""
    folder = Path(folder)
    pattern = f".{glob.escape(target_name)}.*" if target_name else ".*"
    try:
        candidates = list(folder.glob(pattern))
    except OSError:
        return []
    removed = []
    for path in candidates:
        target = temporary_target(path)
        if target is None or (target_name and target != target_name) or not path.is_file():
            continue
        if is_stale_temporary(path):
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass  # read-only folder: `vae doctor` still reports it
    return removed


@contextmanager
def atomic_path(target: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside target; rename it onto target only if the block succeeds.

    Any OSError (in making the folder, in the block's writing, in the rename) becomes an
    OutputError naming target; the temporary is always removed.
    """
    target = Path(target)
    if target.is_dir():
        raise OutputError(f"cannot write {target}: it is a folder; give a file name", filename=str(target))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(target.parent, target.name)
        prefix = f".{target.name}.{HOST_TAG}-{os.getpid()}-"
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix or target.suffix, dir=target.parent)
    except OSError as error:
        raise _folder_error(target, error) from None
    os.close(handle)
    temporary = Path(name)
    try:
        os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; results should be readable like any file
        yield temporary
        os.replace(temporary, target)
    except OutputError:
        raise
    except OSError as error:
        raise output_error(target, error) from None
    finally:
        temporary.unlink(missing_ok=True)


def _folder_error(target: Path, error: OSError) -> OutputError:
    """Why nothing can be created beside target: a parent that is a file, a read-only folder, a full disk."""
    parent = target.parent
    while parent != parent.parent and not parent.exists():
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        return OutputError(f"cannot write {target}: {parent} is a file, not a folder", filename=str(target))
    return output_error(target, error)


def check_writable(target: Path, argument: str = "") -> Path:
    """Fail now, before any work, if target cannot be written: a folder, under a file, read-only, immutable.

    Creates the missing parent folders (as the write would) and a probe file beside target. argument: the name of
    the caller's argument that chose target, if one did (the message names it).
    """
    target = Path(target)
    label = f"{argument} {target}" if argument else str(target)
    arguments = (argument,) if argument else ()
    if target.is_dir():
        raise OutputError(
            f"cannot write {label}: it is a folder; give a file name", filename=str(target), arguments=arguments
        )
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=f".{target.name}.{HOST_TAG}-{os.getpid()}-", dir=target.parent)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        problem = _folder_error(target, error)
        raise OutputError(
            problem.lines[0].replace(str(target), label, 1), errno=error.errno, arguments=arguments
        ) from None
    return target


def check_room(target: Path, size: int) -> None:
    """OutputError (with the size needed) when target's disk has less than size bytes free."""
    free = free_bytes(Path(target).parent)
    if free is not None and free < size:
        raise output_error(Path(target), OSError(errno.ENOSPC, "No space left on device"), needed=size)


def write_bytes_atomic(target: Path, data: bytes | memoryview) -> Path:
    """Write data to target atomically, after checking that the disk has room for it."""
    target = Path(target)
    size = len(data) if isinstance(data, bytes) else data.nbytes
    check_room(target, size)
    try:
        with atomic_path(target) as temporary, open(temporary, "wb") as handle:
            handle.write(data)
    except OutputError as error:
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise output_error(target, OSError(error.errno, "No space left on device"), needed=size) from None
        raise
    return target


def write_text_atomic(target: Path, text: str) -> Path:
    return write_bytes_atomic(Path(target), text.encode())


def write_json_atomic(target: Path, data: Any) -> Path:
    """Indented JSON with a final newline; NaN and Inf are refused (JSON has neither)."""
    return write_text_atomic(target, json.dumps(data, indent=2, allow_nan=False) + "\n")


def hdf5_bytes(fill: Callable[[Any], None]) -> bytes:
    """The bytes of an HDF5 file built in memory with fill(h5py.File).

    On a full disk libhdf5 fails to flush, and h5py then crashes the process (SIGSEGV) while
    closing the file; built in memory (the "core" driver, no backing store), HDF5 never writes
    to disk, and a full disk is an ordinary OSError of the caller's write. The files written
    this way (latent points, checkpoints) are small next to the arrays already in memory.
    """
    import h5py

    with h5py.File(f"in-memory-{id(fill)}.h5", "w", driver="core", backing_store=False) as handle:
        fill(handle)
        handle.flush()
        return bytes(handle.id.get_file_image())


def write_hdf5_atomic(target: Path, fill: Callable[[Any], None]) -> Path:
    """Build an HDF5 file in memory with fill(h5py.File) (hdf5_bytes), then write its bytes atomically."""
    return write_bytes_atomic(Path(target), hdf5_bytes(fill))
