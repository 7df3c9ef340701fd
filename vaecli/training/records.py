"""What a run records when it starts: its first manifest (at the claim), the full one once its data is loaded,
and LATEST."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rich.markup import escape

from vaecli import __version__
from vaecli.errors import OutputError, RunError
from vaecli.io.atomic import timestamp
from vaecli.runs import STATUS_RUNNING, Manifest, RunPaths, point_latest, read_manifest, write_manifest

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.config import ExperimentConfig
    from vaecli.data.cache import CacheInfo
    from vaecli.data.splits import DataSplits
    from vaecli.runtime.tensorflow import Acceleration


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return result.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def first_manifest(config: ExperimentConfig) -> Manifest:
    """What a run records the moment its folder is claimed, before its data is loaded."""
    return Manifest(
        status=STATUS_RUNNING,
        name=config.name,
        command=" ".join(["vae", *sys.argv[1:]]),
        started=timestamp(),
        epochs=config.train.epochs,
        seed=config.seed,
        train_seed=config.train_seed,
        checked_files=True,
    )


def new_manifest(
    config: ExperimentConfig,
    splits: DataSplits,
    acceleration: Acceleration,
    shape: tuple[int, int, int],
    distribution: dict,
    cache: CacheInfo | None = None,
) -> Manifest:
    from vaecli.data.pipeline import steps_per_epoch
    from vaecli.losses import KLObjective, effective_kl_factor

    kl_objective = KLObjective.from_config(config, steps_per_epoch(len(splits.train), config.train.batch_size))
    kl_factor = kl_objective.factor  # 0 for an AE; gamma under capacity: the one factor the evaluation uses too
    return Manifest.model_validate(
        {
            "status": STATUS_RUNNING,
            "name": config.name,
            "command": " ".join(["vae", *sys.argv[1:]]),
            "started": timestamp(),
            "ended": None,
            "epochs_completed": 0,
            "epochs": config.train.epochs,
            "seed": config.seed,
            "train_seed": config.train_seed,
            "kl_factor": kl_factor,
            "reduction": config.loss.reduction,
            "effective_kl_factor": effective_kl_factor(kl_factor, config.loss.reduction, int(np.prod(shape))),
            "reconstruction": config.loss.reconstruction,
            "kl_schedule": kl_objective.to_manifest(),
            "data": _data_record(config, splits, shape, cache),
            "task": config.task.model_dump(mode="json"),
            "distribute": distribution,
            "device": acceleration.device,
            "jit_compile": acceleration.jit_compile,
            "precision_policy": acceleration.precision_policy,
            "deterministic": config.train.deterministic,
            "versions": _versions(),
            "git_commit": _git_commit(),
            "error": None,
            "checked_files": True,
        }
    )


def _data_record(
    config: ExperimentConfig, splits: DataSplits, shape: tuple[int, int, int], cache: CacheInfo | None
) -> dict:
    """The manifest's data section: source, fingerprint, shape, split sizes, and the image folder's cache."""
    return {
        "source": config.data.source,
        "fingerprint": splits.fingerprint,
        "image_shape": list(shape),
        "train": len(splits.train),
        "validation": len(splits.validation),
        "test": len(splits.test),
        **({"cache": str(cache.path), "skipped_files": cache.num_skipped} if cache is not None else {}),
    }


def _versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {
        "vaecli": __version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def record_start(
    config: ExperimentConfig,
    paths: RunPaths,
    resume: bool,
    splits: DataSplits,
    acceleration: Acceleration,
    shape: tuple[int, int, int],
    distribution: dict,
    cache: CacheInfo | None,
    console: Console,
) -> None:
    """Write the full manifest of a new run (or of a resumed one that never got this far) and point LATEST
    at it; a resumed run must still see the same data."""
    manifest = read_manifest(paths)
    recorded = manifest.fingerprint
    if recorded is None:
        started = new_manifest(config, splits, acceleration, shape, distribution, cache)
        write_manifest(paths, started.model_copy(update={"started": manifest.started or started.started}))
    elif recorded != splits.fingerprint:
        raise RunError(
            f"{paths.root}: the data set changed since this run started (fingerprint {recorded} -> "
            f"{splits.fingerprint}); start a new run instead"
        )
    if not resume:
        try:
            point_latest(paths)
        except OutputError as error:  # only a convenience: the run itself is fine (LATEST may be an old folder)
            console.print(f"[yellow]warning:[/yellow] {escape(error.lines[0])}; LATEST is not updated", highlight=False)
