"""What every command of the public API returns: its arrays, the files it wrote and one summary line.

Each command has its own result dataclass (Samples, Encoding, ...) built on Result; the CLI
prints `warnings` in yellow and then `summary`, the one line saying what was written where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Result:
    files: list[Path] = field(default_factory=list, kw_only=True)  # written, in order; [] when nothing was saved
    summary: str = field(default="", kw_only=True)  # what was done, and written where
    warnings: list[str] = field(default_factory=list, kw_only=True)


def output_path(out: str | Path | None, folder: Path, name: str) -> Path:
    """out when given (relative to the working directory), else folder/name inside the run."""
    return Path(out) if out is not None else folder / name


def with_suffix(path: Path, suffix: str) -> Path:
    """path with suffix in place of its own (or added, when it has none): the .h5 beside a .png."""
    return path.with_suffix(suffix) if path.suffix else path.with_name(path.name + suffix)
