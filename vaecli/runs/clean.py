"""`vae clean`: remove what killed processes left behind, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vaecli.errors import RunError
from vaecli.io.atomic import is_stale_temporary
from vaecli.runs.claims import (
    LOCK_NAME,
    claim_folders,
    foreign_content,
    holder,
    is_lock_record,
    remove_stale_claims,
    stale_claims,
)
from vaecli.runs.folders import is_run_folder, is_runs_folder, run_candidates, stale_temporaries
from vaecli.runs.paths import RunPaths


@dataclass
class Cleaning:
    """What `vae clean` removed, the live runs it left alone, and what looked like vaecli's but was kept."""

    removed: list[Path] = field(default_factory=list)
    bytes: int = 0
    live: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)  # (path, why it was not removed)


def _remove(path: Path, cleaning: Cleaning, dry_run: bool) -> None:
    try:
        size = path.stat().st_size if path.is_file() else 0
        if not dry_run:
            path.unlink()
    except OSError:
        return  # gone meanwhile, or a read-only folder
    cleaning.removed.append(path)
    cleaning.bytes += size


def _clean_run(root: Path, cleaning: Cleaning, dry_run: bool) -> None:
    if holder(root):
        cleaning.live.append(root)
        return
    for path in stale_temporaries(RunPaths(root)):
        _remove(path, cleaning, dry_run)
    lock = root / LOCK_NAME
    if lock.is_file() and not lock.is_symlink():
        if is_lock_record(lock):
            _remove(lock, cleaning, dry_run)
        else:
            cleaning.kept.append((lock, "it does not hold a vaecli lock record"))


def _clean_claims(runs_dir: Path, cleaning: Cleaning, dry_run: bool) -> None:
    for folder in claim_folders(runs_dir):
        reason = foreign_content(folder)
        if reason:
            cleaning.kept.append((folder, reason))
    cleaning.removed += stale_claims(runs_dir) if dry_run else remove_stale_claims(runs_dir)


def clean(path: str | Path = "runs", dry_run: bool = False) -> Cleaning:
    """Remove what killed vaecli processes left in a run folder, or in a runs folder and each of its runs: stale
    temporaries (vaecli's exact names, their process gone), stale lock files holding vaecli's lock record, dead
    claim and trash folders holding only vaecli's files. A run being trained is left alone; anything that only
    looks like vaecli's is listed in .kept, never removed; a folder that is not a run or runs folder is refused.

    Example:
        >>> cleaning = vaecli.clean("runs")
        >>> len(cleaning.removed), cleaning.live
        (3, [])
    """
    path = Path(path)
    cleaning = Cleaning()
    if not path.is_dir():
        raise RunError(f"{path}: no such folder (give a runs folder or a run folder)")
    if is_run_folder(path):
        _clean_run(path, cleaning, dry_run)
        return cleaning
    if not is_runs_folder(path):
        raise RunError(
            f"{path} is neither a run folder nor a runs folder (no manifest.json, no LATEST, no run in it); "
            "nothing removed"
        )
    for folder in run_candidates(path):
        if is_run_folder(folder):
            _clean_run(folder, cleaning, dry_run)
    for stale in sorted(path.glob(".*")):
        if is_stale_temporary(stale):
            _remove(stale, cleaning, dry_run)
    _clean_claims(path, cleaning, dry_run)
    return cleaning
