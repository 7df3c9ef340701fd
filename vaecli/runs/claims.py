"""Who owns a run folder: the liveness lock, claiming a new folder atomically, replacing a dead run.

A run is alive while the process training it holds an exclusive `flock` on `runs/<name>/.lock`
(the kernel drops it when the process dies, however it dies). `--force`, `--resume` and a
second start of the same name ask that lock and refuse a live run; `vae doctor` and
`vae clean` use it to tell a killed run from a running one.

A new run folder is built under a hidden name (`runs/.<name>.claim-<random>/`: the lock,
config.yaml and a first manifest) and renamed into place in one step. Two starts of one name
race on that rename: the loser sees the winner's folder and refuses, before either loaded
any data; a process killed while claiming leaves only a hidden folder that `vae clean`
removes, never a half-made run.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import re
import shutil
import socket
import tempfile
from contextlib import suppress
from pathlib import Path

from vaecli.errors import RunError
from vaecli.io.atomic import is_stale_temporary, output_error, timestamp, write_text_atomic
from vaecli.runs.paths import RunPaths

LOCK_NAME = ".lock"
CLAIM_MARK, TRASH_MARK = ".claim-", ".trash-"  # hidden folders beside the runs: .<name>.claim-xxxx


class RunLock:
    """An exclusive flock on a run folder's .lock file, held until release() (or the process ends)."""

    def __init__(self, path: Path, descriptor: int):
        self.path, self._descriptor = path, descriptor

    @classmethod
    def acquire(cls, folder: Path) -> RunLock | None:
        """The lock of folder, or None when another process holds it."""
        return cls.acquire_file(Path(folder) / LOCK_NAME)

    @classmethod
    def acquire_file(cls, path: Path) -> RunLock | None:
        """The lock file at path (a sweep's name lock), or None when another process holds it."""
        while True:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                return None
            # The holder removes the file when it releases: if that happened between our open and our
            # flock, we hold a lock on a removed file; open the new one instead.
            try:
                same = os.path.samestat(os.fstat(descriptor), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                lock = cls(path, descriptor)
                lock._record()
                return lock
            os.close(descriptor)

    def _record(self) -> None:
        """Say who holds it (read by the refusal messages and `vae doctor`); informative only."""
        text = f"pid {os.getpid()} on {socket.gethostname()} since {timestamp()}\n"
        os.ftruncate(self._descriptor, 0)
        os.pwrite(self._descriptor, text.encode(), 0)

    def moved_to(self, folder: Path) -> None:
        """The folder holding the lock file was renamed (the descriptor follows the file)."""
        self.path = Path(folder) / LOCK_NAME

    def release(self) -> None:
        if self._descriptor < 0:
            return
        with suppress(OSError):  # a read-only folder: the lock file stays, harmless once unlocked
            self.path.unlink(missing_ok=True)  # while still held: see acquire
        os.close(self._descriptor)
        self._descriptor = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_LOCK_RECORD = re.compile(r"^(pid \d+ on \S+( since \S+)?\s*)?$")  # what RunLock._record writes (or nothing yet)


def is_lock_record(path: Path) -> bool:
    """A lock file as vaecli writes it: its holder's record, or empty (killed before writing it)."""
    try:
        return path.stat().st_size < 512 and bool(_LOCK_RECORD.match(path.read_text(errors="strict")))
    except (OSError, UnicodeDecodeError):
        return False


def holder(folder: Path) -> str | None:
    """'pid 123 on host since ...' when a live process holds folder's lock; None when nobody does."""
    return file_holder(Path(folder) / LOCK_NAME)


def file_holder(path: Path) -> str | None:
    """Who holds the lock file at path (see holder)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = path.read_text(errors="replace").strip() if path.exists() else ""
        return text or "another process"
    finally:
        os.close(descriptor)  # also drops the shared lock we may have taken
    return None


def _live_error(folder: Path) -> RunError:
    return RunError(
        f"{folder} is being trained right now ({holder(folder) or 'by another process'}); "
        f"wait for it to finish or stop that process first"
    )


def refuse_live(folder: Path) -> None:
    """RunError when a live process trains the run in folder."""
    if holder(folder):
        raise _live_error(folder)


def lock_existing_run(folder: Path, action: str = "resume") -> RunLock:
    """The lock of an existing run folder, or a RunError saying which live process trains it."""
    try:
        lock = RunLock.acquire(folder)
    except OSError as error:
        raise RunError(f"cannot {action} {folder}: cannot lock it ({error.strerror or error})") from None
    if lock is None:
        raise _live_error(folder)
    return lock


def _runs_folder(parent: Path) -> None:
    """Create the runs folder; a file, /dev/null, a read-only or immutable folder is one clear line."""
    if parent.exists() and not parent.is_dir():
        raise RunError(f"runs_dir {parent} is not a folder", arguments=("runs_dir",))
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocker = next((part for part in parent.parents if part.exists() and not part.is_dir()), None)
        reason = f"{blocker} is a file" if blocker else (error.strerror or str(error))
        raise RunError(f"cannot create the runs folder {parent}: {reason}") from None


_CLAIM_OR_TRASH = re.compile(r"^\.(?P<name>.+)\.(?P<kind>claim|trash)-[a-z0-9_]{8}$")  # tempfile.mkdtemp's names
_CLAIM_FILES = {LOCK_NAME, RunPaths(Path()).config.name, RunPaths(Path()).manifest.name}


def foreign_content(folder: Path) -> str | None:
    """Why a hidden claim or trash folder may hold something vaecli did not put there (None: only vaecli's).

    A claim holds the lock, config.yaml, manifest.json and temporaries of those; a trash folder holds one
    folder of its run's name (a run being removed by --force) or nothing.
    """
    match = _CLAIM_OR_TRASH.match(folder.name)
    if match is None or folder.is_symlink() or not folder.is_dir():
        return "not a folder vaecli makes"
    entries = list(folder.iterdir())
    if match["kind"] == "trash":
        extra = [entry.name for entry in entries if entry.name != match["name"] or not entry.is_dir()]
    else:
        extra = [entry.name for entry in entries if entry.name not in _CLAIM_FILES and not is_stale_temporary(entry)]
    return f"it holds files vaecli does not write there: {', '.join(sorted(extra)[:3])}" if extra else None


def claim_folders(parent: Path, name: str | None = None) -> list[Path]:
    """Hidden folders named like vaecli's claims and trash (.NAME.claim-xxxxxxxx, .NAME.trash-xxxxxxxx)."""
    found = []
    for folder in sorted(parent.glob(f".{glob.escape(name)}.*" if name else ".*")):
        match = _CLAIM_OR_TRASH.match(folder.name)
        if match and (name is None or match["name"] == name):
            found.append(folder)
    return found


def stale_claims(parent: Path, name: str | None = None) -> list[Path]:
    """Claim and trash folders whose process is gone (killed while claiming or replacing a run) and that hold
    nothing but vaecli's files."""
    return [folder for folder in claim_folders(parent, name) if not holder(folder) and not foreign_content(folder)]


def remove_stale_claims(parent: Path, name: str | None = None) -> list[Path]:
    """Remove stale_claims(parent, name); returns them."""
    removed = stale_claims(parent, name)
    for folder in removed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def claim_new_run(root: Path, config_yaml: str, manifest_json: str) -> RunLock:
    """Create the run folder root (config.yaml, manifest.json, the held lock) in one rename.
    RunError if root exists, appeared meanwhile, or cannot be made."""
    parent = root.parent
    _runs_folder(parent)
    remove_stale_claims(parent, root.name)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{root.name}{CLAIM_MARK}", dir=parent))
    except OSError as error:
        raise RunError(f"cannot create the run folder {root}: {output_error(root, error).lines[0]}") from None
    lock = RunLock.acquire(staging)  # a folder nobody else knows of: never None
    if lock is None:
        raise RunError(f"{staging}: locked by another process while being created")
    try:
        write_text_atomic(RunPaths(staging).config, config_yaml)
        write_text_atomic(RunPaths(staging).manifest, manifest_json)
        try:
            os.rename(staging, root)
        except OSError as error:
            if error.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.EISDIR, errno.ENOTDIR):
                raise RunError(
                    f"{root} was created by another `vae train` a moment ago; pick another name "
                    f"(or resume {root} once it has stopped)",
                    arguments=("name", "resume"),
                ) from None
            raise
        lock.moved_to(root)
    except (OSError, RunError) as error:
        lock.release()
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, RunError):
            raise
        problem = output_error(root, error)
        raise RunError(problem.lines[0]) from None
    return lock


def remove_dead_run(root: Path) -> None:
    """--force: delete the run folder root, which no process may be training.

    It is renamed to a hidden trash name first (one step), so a kill mid-delete leaves no
    half-deleted run under the real name.
    """
    lock = lock_existing_run(root, action="replace")
    try:
        trash = Path(tempfile.mkdtemp(prefix=f".{root.name}{TRASH_MARK}", dir=root.parent))
        os.rename(root, trash / root.name)
        lock.moved_to(trash / root.name)
    except OSError as error:
        lock.release()
        raise RunError(f"cannot replace {root}: {error.strerror or error}") from None
    lock.release()
    shutil.rmtree(trash, ignore_errors=True)
