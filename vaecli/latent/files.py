"""Latent files: HDF5 written atomically in the layout of DESIGN.md, and read back (also .npy/.npz).

    z_mean      (N, z_dim) float32   the encoding ("the" latent point of each image)
    z_log_var   (N, z_dim) float32   VAE only: log of the posterior variance
    z           (N, z_dim) float32   sampled points (encode --sample; every file of `vae sample`)
    index       (N,) int64           row of each image in its source split
    labels/<name> (N,)               class labels or attributes of the data set, when it has them
    attrs       run, run_path, config_hash, split, dataset_fingerprint, z_dim, kind, ...

Datasets are chunked along N and gzip-compressed; a file is written under a temporary name
and renamed when complete, so a killed command never leaves half a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from vaecli.errors import LatentError
from vaecli.io.atomic import write_hdf5_atomic
from vaecli.runs import RunPaths

CHUNK_ROWS = 4096  # rows per HDF5 chunk: ~0.5 MB at z_dim 32, so reading a slice stays cheap
COMPRESSION_LEVEL = 4  # gzip: most of the gain of level 9 at a fraction of the time
POINT_DATASETS = ("z_mean", "z", "z_log_var")  # what `decode` looks for when no --dataset is given
HDF5_SUFFIXES = (".h5", ".hdf5")


@dataclass
class LatentPoints:
    """Points read from a latent file: values (N, z_dim) float32 and where they came from."""

    values: np.ndarray
    path: Path
    dataset: str
    attrs: dict[str, Any] = field(default_factory=dict)


def _attribute_value(value: Any) -> Any:
    """HDF5 attributes hold numbers, strings and arrays; None becomes '' and dicts become JSON."""
    if value is None:
        return ""
    if isinstance(value, (dict, list, tuple)) and not _is_numeric_sequence(value):
        return json.dumps(value)
    return value


def _is_numeric_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(item, (int, float)) for item in value)


def _write_dataset(handle: h5py.Group, name: str, values: np.ndarray) -> None:
    values = np.asarray(values)
    if len(values) == 0:
        handle.create_dataset(name, data=values)
        return
    chunks = (min(len(values), CHUNK_ROWS),) + values.shape[1:]
    handle.create_dataset(name, data=values, chunks=chunks, compression="gzip", compression_opts=COMPRESSION_LEVEL)


def write_latent_file(
    path: Path,
    arrays: Mapping[str, np.ndarray | None],
    labels: dict[str, np.ndarray] | None = None,
    attrs: dict[str, Any] | None = None,
) -> Path:
    """Write arrays (None values skipped), labels/<name> and attributes to path, atomically.

    The file is built in memory and written as bytes (vaecli.io.atomic.write_hdf5_atomic): a full
    disk ends in one OutputError naming the file and the space it needs, never an h5py crash.
    """

    def fill(handle: h5py.File) -> None:
        for name, values in arrays.items():
            if values is not None:
                _write_dataset(handle, name, values)
        if labels:
            group = handle.create_group("labels")
            for name, values in labels.items():
                _write_dataset(group, name, np.asarray(values))
        for name, value in (attrs or {}).items():
            handle.attrs[name] = _attribute_value(value)

    return write_hdf5_atomic(Path(path), fill)


def read_attributes(path: Path) -> dict[str, Any]:
    """The attributes of an HDF5 latent file as plain Python values."""
    with h5py.File(path, "r") as handle:
        return _plain_attributes(handle)


def _plain_attributes(handle: h5py.File) -> dict[str, Any]:
    return {name: (value.item() if isinstance(value, np.generic) else value) for name, value in handle.attrs.items()}


def recorded_run(path: str | Path) -> Path | None:
    """The run folder an HDF5 latent file names in its run_path attribute, if it still exists there."""
    path = Path(path)
    if path.suffix.lower() not in HDF5_SUFFIXES or not path.is_file():
        return None
    try:
        run_path = read_attributes(path).get("run_path")
    except OSError:
        return None
    return Path(run_path) if run_path and RunPaths(Path(run_path)).decoder.is_file() else None


def _available(handle: h5py.File) -> list[str]:
    """Names of the 2-D datasets of an HDF5 file (the ones that can hold latent points)."""
    names: list[str] = []
    handle.visititems(lambda name, item: names.append(name) if getattr(item, "ndim", 0) == 2 else None)
    return names


def _read_hdf5(path: Path, dataset: str | None, limit: int | None) -> tuple[np.ndarray, str, dict]:
    try:
        with h5py.File(path, "r") as handle:
            if dataset is None:
                dataset = next((name for name in POINT_DATASETS if name in handle), None)
                if dataset is None:
                    raise LatentError(
                        f"{path} holds none of {', '.join(POINT_DATASETS)}; name one with dataset "
                        f"(available: {', '.join(_available(handle)) or 'none'})",
                        arguments=("dataset",),
                    )
            if dataset not in handle or not isinstance(handle[dataset], h5py.Dataset):
                raise LatentError(
                    f"{path} has no dataset {dataset!r} (available: {', '.join(_available(handle)) or 'none'})"
                )
            stored = handle[dataset]
            values = stored[()] if stored.ndim == 0 or limit is None else stored[:limit]
            attrs = _plain_attributes(handle)
    except OSError as error:
        raise LatentError(f"{path}: not a readable HDF5 file ({error})") from None
    return values, dataset, attrs


def _read_numpy(path: Path, dataset: str | None) -> tuple[np.ndarray, str]:
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False), "array"
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            name = dataset or next(
                (candidate for candidate in POINT_DATASETS if candidate in names), names[0] if len(names) == 1 else None
            )
            if name is None or name not in names:
                raise LatentError(f"{path} has no array {name!r} (available: {', '.join(names) or 'none'})")
            return archive[name], name
    except EOFError:  # an empty or cut-off file; click would turn it into a bare "Aborted."
        raise LatentError(f"{path}: an empty or truncated NumPy file") from None
    except (OSError, ValueError) as error:
        raise LatentError(f"{path}: not a readable NumPy file ({str(error).splitlines()[0][:200]})") from None


def read_latents(
    path: str | Path,
    dataset: str | None = None,
    limit: int | None = None,
    z_dim: int | None = None,
    run: str = "the run",
) -> LatentPoints:
    """Points (N, z_dim) from an HDF5 latent file, a .npy array or a .npz archive, checked for use.

    dataset None picks z_mean, else z, else z_log_var. A single vector (z_dim,) counts as one
    point. Every problem is one LatentError sentence: missing file or dataset, wrong rank,
    z_dim mismatch (when z_dim is given), non-finite values.
    """
    path = Path(path)
    if not path.is_file():
        raise LatentError(f"{path}: no such file")
    if limit is not None and limit < 1:
        raise LatentError(f"limit must be at least 1, got {limit}", arguments=("limit",))
    attrs: dict[str, Any] = {}
    if path.suffix.lower() in HDF5_SUFFIXES:
        values, dataset, attrs = _read_hdf5(path, dataset, limit)
    elif path.suffix.lower() in (".npy", ".npz"):
        values, dataset = _read_numpy(path, dataset)
    else:
        raise LatentError(f"{path}: unknown latent file type (expected .h5, .hdf5, .npy or .npz)")
    points = checked_points(
        np.asarray(values)[:limit] if np.ndim(values) > 1 else values, f"{path}:{dataset}", z_dim, run
    )
    return LatentPoints(points, path, dataset, attrs)


def checked_points(values: np.ndarray, name: str, z_dim: int | None = None, run: str = "the run") -> np.ndarray:
    """values as (N, z_dim) float32, or one LatentError sentence: wrong rank, z_dim mismatch, NaN/Inf."""
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[None, :]
    real = np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)
    if values.ndim != 2 or not real:
        raise LatentError(
            f"{name} has shape {values.shape} ({values.dtype}); latent points must be a (N, z_dim) array of real "
            "numbers"
        )
    if len(values) == 0:
        raise LatentError(f"{name} holds no points (shape {values.shape})")
    values = values.astype(np.float32)
    if z_dim is not None and values.shape[1] != z_dim:
        raise LatentError(f"{name} holds {values.shape[1]}-dimensional points but {run} has z_dim {z_dim}")
    bad_rows = np.flatnonzero(~np.all(np.isfinite(values), axis=1))
    if len(bad_rows):
        count = int(np.sum(~np.isfinite(values)))
        raise LatentError(
            f"{name} holds {count} non-finite value(s) (NaN or Inf) in {len(bad_rows)} "
            f"row(s); the first is row {bad_rows[0]}"
        )
    return values
