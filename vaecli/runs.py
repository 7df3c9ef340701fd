"""The run folder: the one place that names its paths; create, find the latest, read and write.

    runs/<name>/
        config.yaml            the resolved config (every default filled in)
        manifest.json          status, versions, git commit, data fingerprint, seeds, times
        metrics.jsonl / .csv   one row per epoch, train and validation
        tensorboard/           scalars and image grids
        checkpoints/last.h5    weights, optimizer, epoch, RNG state (written atomically)
        encoder.keras          final models, loadable with keras.models.load_model
        decoder.keras
        images/                reconstructions_eNNNN.png, samples_eNNNN.png
        loss_curve.png
        latent/ decoded/ samples/ explore/ latent_stats/   written by the latent-space commands
        evaluation.json, evaluation/, report.html           written by vae evaluate / vae report
    runs/sweeps/NAME.json      outcome of each run of a `vae sweep`
    runs/LATEST                name of the most recently started run

Every file is written to a temporary name and renamed, so a kill never leaves half a file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from vaecli.errors import RunError

LATEST_POINTER = "LATEST"
_UMASK = os.umask(0)
os.umask(_UMASK)
STATUS_RUNNING, STATUS_COMPLETED, STATUS_FAILED, STATUS_KILLED = "RUNNING", "COMPLETED", "FAILED", "KILLED"


@dataclass(frozen=True)
class RunPaths:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    config = property(lambda self: self.root / "config.yaml")
    manifest = property(lambda self: self.root / "manifest.json")
    metrics_jsonl = property(lambda self: self.root / "metrics.jsonl")
    metrics_csv = property(lambda self: self.root / "metrics.csv")
    tensorboard = property(lambda self: self.root / "tensorboard")
    checkpoint = property(lambda self: self.root / "checkpoints" / "last.h5")
    encoder = property(lambda self: self.root / "encoder.keras")
    decoder = property(lambda self: self.root / "decoder.keras")
    images = property(lambda self: self.root / "images")
    loss_curve = property(lambda self: self.root / "loss_curve.png")
    # Written later by the latent-space commands:
    latent = property(lambda self: self.root / "latent")  # vae encode
    decoded = property(lambda self: self.root / "decoded")  # vae decode
    samples = property(lambda self: self.root / "samples")  # vae sample
    explore = property(lambda self: self.root / "explore")  # vae interpolate, vae traverse
    latent_stats = property(lambda self: self.root / "latent_stats")  # vae latent-stats
    evaluation = property(lambda self: self.root / "evaluation.json")  # vae evaluate
    evaluation_images = property(lambda self: self.root / "evaluation")  # vae evaluate: samples.png
    report = property(lambda self: self.root / "report.html")  # vae report

    def reconstruction_grid(self, epoch: int) -> Path:
        return self.images / f"reconstructions_e{epoch:04d}.png"

    def sample_grid(self, epoch: int) -> Path:
        return self.images / f"samples_e{epoch:04d}.png"


@contextmanager
def atomic_path(target: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside target; rename it onto target only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix, dir=target.parent)
    os.close(handle)
    temporary = Path(temporary)
    os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes 0600; results should be readable like any file
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(target: Path, text: str) -> None:
    with atomic_path(target) as temporary:
        temporary.write_text(text)


def read_manifest(paths: RunPaths) -> dict[str, Any]:
    try:
        return json.loads(paths.manifest.read_text())
    except (OSError, ValueError) as error:
        raise RunError(f"{paths.manifest}: cannot read the run manifest ({error})") from None


def is_completed(paths: RunPaths) -> bool:
    """Finished: COMPLETED in its manifest, with its final models written."""
    return read_manifest(paths).get("status") == STATUS_COMPLETED and paths.decoder.exists()


def final_losses(manifest: dict) -> str:
    """'loss 1619, val_loss 1623' from a finished run's manifest ('' before its first epoch)."""
    final = manifest.get("final_metrics") or {}
    return ", ".join(f"{key} {final[key]:.4g}" for key in ("loss", "val_loss") if key in final)


def read_metrics(paths: RunPaths) -> list[dict]:
    """The rows of metrics.jsonl, one per finished epoch ([] before the first)."""
    if not paths.metrics_jsonl.exists():
        return []
    return [json.loads(line) for line in paths.metrics_jsonl.read_text().splitlines() if line.strip()]


def update_manifest(paths: RunPaths, **fields: Any) -> dict[str, Any]:
    manifest = read_manifest(paths) if paths.manifest.exists() else {}
    manifest.update(fields)
    write_text_atomic(paths.manifest, json.dumps(manifest, indent=2) + "\n")
    return manifest


def prepare_new_run(runs_dir: Path, name: str, force: bool) -> RunPaths:
    """Check that runs_dir/name may be created; with force, remove an earlier run of that name."""
    paths = RunPaths(Path(runs_dir) / name)
    if paths.root.exists():
        if not force:
            raise RunError(f"{paths.root} already exists; use --resume {paths.root} to continue it, "
                           f"--force to replace it, or --name to pick another name")
        if not paths.manifest.exists():
            raise RunError(f"{paths.root} exists but is not a run folder (no manifest.json); not removing it")
        shutil.rmtree(paths.root)
    return paths


def create_run(paths: RunPaths, config_yaml: str, manifest: dict[str, Any]) -> None:
    paths.root.mkdir(parents=True, exist_ok=False)
    write_text_atomic(paths.config, config_yaml)
    write_text_atomic(paths.manifest, json.dumps(manifest, indent=2) + "\n")
    write_text_atomic(paths.root.parent / LATEST_POINTER, paths.name + "\n")


def existing_run(path: str | Path) -> RunPaths:
    """A run folder that must exist and hold a config and manifest."""
    paths = RunPaths(Path(path))
    if not paths.root.is_dir():
        raise RunError(f"{paths.root}: no such run folder")
    for required in (paths.config, paths.manifest):
        if not required.is_file():
            raise RunError(f"{paths.root}: not a complete run folder ({required.name} is missing)")
    return paths


def latest_run(runs_dir: str | Path = "runs") -> RunPaths:
    pointer = Path(runs_dir) / LATEST_POINTER
    if not pointer.is_file():
        raise RunError(f"no run given and {pointer} does not exist; train one with `vae train CONFIG` first")
    return existing_run(Path(runs_dir) / pointer.read_text().strip())
