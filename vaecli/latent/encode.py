"""`vae encode`: a split of the run's data set -> an HDF5 latent file (z_mean, z_log_var, z, index, labels).

runs/NAME/latent/z_test.h5        (the layout: vaecli.latent.files)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaecli.errors import LatentError
from vaecli.io.atomic import check_writable, timestamp
from vaecli.latent.files import write_latent_file
from vaecli.latent.geometry import sample_posterior
from vaecli.results import Result, output_path
from vaecli.runs.run import encode_with_progress, load_split

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.runs.run import Run


@dataclass
class Encoding(Result):
    split: str
    z_mean: np.ndarray  # (N, z_dim) float32: "the" encoding of each image
    z_log_var: np.ndarray | None  # (N, z_dim); None for an AE
    z: np.ndarray | None  # one posterior sample per image (sample=True), else None
    index: np.ndarray  # row of each image in its source split
    labels: dict[str, np.ndarray]  # class labels or attributes, when the data set has them


def encode_split(
    run: Run,
    split: str = "test",
    *,
    limit: int | None = None,
    sample: bool = False,
    seed: int = 0,
    save: bool = True,
    out: str | Path | None = None,
    console: Console | None = None,
) -> Encoding:
    """Encode a split (`vae encode`): an Encoding with z_mean, z_log_var, z (sample), index, labels.

    Writes RUN/latent/z_SPLIT.h5 (or out) unless save is False.

    Example:
        >>> encoding = run.encode_split("test", save=False)
        >>> encoding.z_mean.shape
        (2000, 32)
    """
    """Encode a split: z_mean, z_log_var (VAE), z (with sample), index, labels; written as HDF5 when save."""
    from vaecli.data.sources import SOURCES
    from vaecli.data.splits import SPLIT_NAMES

    if sample and not run.is_vae:
        raise LatentError(
            f"sample needs a VAE: {run.paths.root} is an AE, whose encoder gives one point "
            f"per image (z = z_mean) and no posterior to sample from",
            arguments=("sample",),
        )
    suffix = f"_first{limit}" if limit is not None else ""
    target = output_path(out, run.paths.latent, f"z_{split}{suffix}.h5")
    if save:
        check_writable(target, "out" if out is not None else "")  # before minutes of encoding, not after
    chosen, split_codes, fingerprint, warnings = load_split(run, split, limit)
    started = time.perf_counter()
    z_mean, z_log_var = encode_with_progress(run, chosen.images, console, f"encoding {split}")
    z = sample_posterior(z_mean, z_log_var, seed) if sample and z_log_var is not None else None  # an AE refused above
    encoding = Encoding(split, z_mean, z_log_var, z, chosen.index.astype(np.int64), chosen.labels, warnings=warnings)
    what = "images of all splits" if split == "all" else f"{split} images"
    encoding.summary = f"Encoded {len(z_mean):,} {what} with {run.paths.root} in {time.perf_counter() - started:.1f} s"
    if not save:
        return encoding
    attrs = {
        **run.provenance(),
        "kind": "encoding",
        "split": split,
        "dataset_fingerprint": fingerprint,
        "num_points": len(z_mean),
        "sample_seed": seed if sample else None,
        "label_names": list(SOURCES[run.config.data.source].label_names),
        "split_names": list(SPLIT_NAMES) if split_codes is not None else None,
        "created": timestamp(),
    }
    arrays = {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, "index": encoding.index, "split": split_codes}
    write_latent_file(target, arrays, chosen.labels, attrs)
    stored = ", ".join(name for name, values in arrays.items() if values is not None)
    encoding.files = [target]
    encoding.summary += f" -> {target} ({stored}; z_dim {run.z_dim})"
    return encoding
