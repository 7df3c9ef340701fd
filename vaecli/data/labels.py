"""Known factors of each data set: which labels a source has, and which of them are discrete.

    synthetic       the faces' 8 attributes (vaecli.data.synthetic.ATTRIBUTE_NAMES): smile,
                    hair_colour, glasses, background, skin_tone discrete; face_x, face_y,
                    face_size continuous (fractions of the image size)
    mnist, fashion_mnist, cifar10
                    the class label (discrete, 10 classes)
    image_folder    the columns of the optional `data.labels` CSV, one row per image file

The labels CSV has a header `file,<factor>,...`; `file` is the image's path relative to
`data.path` as the cache lists it (`000001.jpg`, or `part000/000001.jpg` in subfolders). A
column whose every value is a whole number, or that holds any non-numeric value, is discrete
(its values become classes 0, 1, ... in sorted order: CelebA's -1/1 become 0/1); any other
numeric column is continuous (write 30.0 rather than 30 to make a whole-number column so).
Every cached image needs a row and every row an image: a missing or extra file is refused.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from vaecli.errors import DataError

SYNTHETIC_CONTINUOUS = frozenset({"face_x", "face_y", "face_size"})
CLASS_LABEL_SOURCES = frozenset({"mnist", "fashion_mnist", "cifar10"})
MAX_LISTED = 3  # file names quoted in an error message
# An integer label with more distinct values than this is no class label (not a classifier head, not a colour).
MAX_LABEL_CLASSES = 20


def is_discrete(values: np.ndarray) -> bool:
    """Integer arrays are discrete factors (classes); floating-point arrays are continuous."""
    return bool(np.issubdtype(np.asarray(values).dtype, np.integer))


def factor_kinds(source: str, labels: dict[str, np.ndarray]) -> dict[str, bool]:
    """name -> discrete? for the known factors among a split's labels, in the source's order.

    Raises DataError when the source has none (an image folder without data.labels)."""
    if source == "synthetic":
        from vaecli.data.synthetic import ATTRIBUTE_NAMES

        kinds = {name: name not in SYNTHETIC_CONTINUOUS for name in ATTRIBUTE_NAMES if name in labels}
    elif source in CLASS_LABEL_SOURCES:
        kinds = {"label": True} if "label" in labels else {}
    else:
        kinds = {name: is_discrete(values) for name, values in labels.items()}
    if not kinds:
        hint = " (set data.labels to a CSV of file,<factor>,... )" if source == "image_folder" else ""
        raise DataError(f"data source {source!r} has no known factors{hint}")
    return kinds


def _column(texts: list[str]) -> np.ndarray:
    """One CSV column: int64 classes (whole numbers or text, sorted) or float64 values."""
    try:
        numbers = np.array([float(text) for text in texts])
    except ValueError:
        numbers = None
    if numbers is not None and not all(text.strip().lstrip("+-").isdigit() for text in texts):
        return numbers  # continuous
    keys = numbers if numbers is not None else np.array(texts)
    return np.unique(keys, return_inverse=True)[1].astype(np.int64)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(sorted(names)[:MAX_LISTED])
    return shown + (", ..." if len(names) > MAX_LISTED else "")


def read_labels(path: str | Path, files: Sequence[str]) -> dict[str, np.ndarray]:
    """The labels CSV's columns, in the order of files (the cache's relative paths); DataError if
    the CSV cannot be read, lacks a `file` column, or misses or adds files."""
    path = Path(path).expanduser()
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"data.labels: cannot read {path} ({error})") from None
    if not rows or not rows[0] or rows[0][0].strip() != "file" or len(rows[0]) < 2:
        raise DataError(f"data.labels: {path} must start with a header line file,<factor>,...")
    header = [name.strip() for name in rows[0]]
    by_file: dict[str, list[str]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"data.labels: {path} line {number} has {len(row)} values, the header {len(header)}")
        by_file[row[0].strip()] = row[1:]
    missing = sorted(set(files) - set(by_file))
    extra = sorted(set(by_file) - set(files))
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"{len(missing)} image file(s) have no row ({_listed(missing)})")
        if extra:
            problems.append(f"{len(extra)} row(s) name no readable image in data.path ({_listed(extra)})")
        raise DataError(f"data.labels: {path}: " + "; ".join(problems))
    table = [by_file[name] for name in files]
    return {name: _column([row[k] for row in table]) for k, name in enumerate(header[1:])}


def cached_files(cache_path: Path) -> list[str]:
    """The relative paths of the images a folder cache holds, in row order."""
    import h5py

    with h5py.File(cache_path, "r") as handle:
        return [name.decode() if isinstance(name, bytes) else str(name) for name in handle["files"][()]]
