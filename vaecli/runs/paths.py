"""The run folder's file names: the only place they are spelled.

    runs/<name>/
        config.yaml            the resolved config (every default filled in)
        manifest.json          status, versions, git commit, data fingerprint, seeds, times (Manifest)
        metrics.jsonl / .csv   one row per epoch, train and validation
        tensorboard/           scalars and image grids
        checkpoints/last.h5    weights, optimizer, epoch, RNG state (written atomically, then verified)
        checkpoints/previous.h5          the checkpoint before it, kept as the fallback
        checkpoints/checksums.json       sha256, epoch, step and config hash of each (vaecli.runs.checkpoints)
        encoder.keras          final models, loadable with keras.models.load_model
        decoder.keras
        images/                reconstructions_eNNNN.png, samples_eNNNN.png
        loss_curve.png
        latent/ decoded/ samples/ explore/ latent_stats/   written by the latent-space commands
        densities/NAME.npz, NAME.json                       vae fit-density (parameters, then what it was fit on)
        evaluation.json        the latest `vae evaluate` (evaluation/<space>.json: one per feature space)
        evaluation/, report.html                            written by vae evaluate / vae report
        .lock                  held (flock) by the process training the run: how a live run is told apart
    runs/sweeps/NAME.json      outcome of each run of a `vae sweep`
    runs/sweeps/.NAME.lock     held by the process running sweep NAME: one sweep per name at a time
    runs/sweeps/NAME/logs/     the logs of a sweep's processes and Slurm jobs
    runs/sweeps/NAME/tensorboard/   the sweep in TensorBoard's HParams dashboard
    runs/LATEST                name of the most recently started run
    runs/.NAME.claim-xxxx/     a run folder being created (renamed to runs/NAME in one step; vaecli.runs.claims)

Every file is written through vaecli.io.atomic, so a kill never leaves half a file. LATEST and
sweeps are the runs folder's own names: no run may take them (RESERVED_NAMES).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

LATEST_POINTER = "LATEST"
SWEEPS_FOLDER = "sweeps"
RESERVED_NAMES = (LATEST_POINTER, SWEEPS_FOLDER)  # compared case-insensitively (macOS file systems)


def is_reserved(name: str) -> bool:
    """A name the runs folder uses itself (LATEST, sweeps), in any case."""
    return name.casefold() in (reserved.casefold() for reserved in RESERVED_NAMES)


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
    previous_checkpoint = property(lambda self: self.root / "checkpoints" / "previous.h5")
    checksums = property(lambda self: self.root / "checkpoints" / "checksums.json")
    encoder = property(lambda self: self.root / "encoder.keras")
    decoder = property(lambda self: self.root / "decoder.keras")
    images = property(lambda self: self.root / "images")
    loss_curve = property(lambda self: self.root / "loss_curve.png")
    lock = property(lambda self: self.root / ".lock")  # held by the training process (vaecli.runs.claims)
    # Written later by the latent-space commands:
    latent = property(lambda self: self.root / "latent")  # vae encode
    decoded = property(lambda self: self.root / "decoded")  # vae decode
    samples = property(lambda self: self.root / "samples")  # vae sample
    explore = property(lambda self: self.root / "explore")  # vae interpolate, vae traverse
    latent_stats = property(lambda self: self.root / "latent_stats")  # vae latent-stats
    densities = property(lambda self: self.root / "densities")  # vae fit-density: NAME.npz + NAME.json
    evaluation = property(lambda self: self.root / "evaluation.json")  # vae evaluate: the latest evaluation
    evaluation_images = property(lambda self: self.root / "evaluation")  # vae evaluate: per space, samples
    report = property(lambda self: self.root / "report.html")  # vae report

    def evaluation_in(self, space: str) -> Path:
        """evaluation/<space>.json: the evaluation in one feature space (classifier, inception, pixels)."""
        return self.evaluation_images / f"{space}.json"

    def reconstruction_grid(self, epoch: int) -> Path:
        return self.images / f"reconstructions_e{epoch:04d}.png"

    def sample_grid(self, epoch: int) -> Path:
        return self.images / f"samples_e{epoch:04d}.png"


def sweep_record_path(runs_dir: str | Path, name: str) -> Path:
    """runs/sweeps/NAME.json: the record of one `vae sweep`."""
    return Path(runs_dir) / SWEEPS_FOLDER / f"{name}.json"


def sweep_tensorboard_path(runs_dir: str | Path, name: str) -> Path:
    """runs/sweeps/NAME/tensorboard/: the sweep's HParams view for TensorBoard (vaecli.sweeps.hparams)."""
    return Path(runs_dir) / SWEEPS_FOLDER / name / "tensorboard"


def sweep_lock_path(runs_dir: str | Path, name: str) -> Path:
    """runs/sweeps/.NAME.lock: held (flock) by the process running sweep NAME on this machine."""
    return Path(runs_dir) / SWEEPS_FOLDER / f".{name}.lock"


# The files training writes at the top of the run folder; with checkpoints/ and images/ they have no other writer.
TRAINER_FILES = ("config.yaml", "manifest.json", "metrics.jsonl", "metrics.csv", "encoder.keras", "decoder.keras")
