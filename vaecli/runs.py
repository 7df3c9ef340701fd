"""The run folder: the one place that names its paths, reads and writes its manifest, finds runs.

    runs/<name>/
        config.yaml            the resolved config (every default filled in)
        manifest.json          status, versions, git commit, data fingerprint, seeds, times (Manifest)
        metrics.jsonl / .csv   one row per epoch, train and validation
        tensorboard/           scalars and image grids
        checkpoints/last.h5    weights, optimizer, epoch, RNG state (written atomically)
        encoder.keras          final models, loadable with keras.models.load_model
        decoder.keras
        images/                reconstructions_eNNNN.png, samples_eNNNN.png
        loss_curve.png
        latent/ decoded/ samples/ explore/ latent_stats/   written by the latent-space commands
        evaluation.json        the latest `vae evaluate` (evaluation/<space>.json: one per feature space)
        evaluation/, report.html                            written by vae evaluate / vae report
        .lock                  held (flock) by the process training the run: how a live run is told apart
    runs/sweeps/NAME.json      outcome of each run of a `vae sweep`
    runs/LATEST                name of the most recently started run
    runs/.NAME.claim-xxxx/     a run folder being created (renamed to runs/NAME in one step; vaecli.claims)

Every file is written through vaecli.atomic, so a kill never leaves half a file. LATEST and
sweeps are the runs folder's own names: no run may take them (RESERVED_NAMES).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from vaecli.atomic import write_text_atomic
from vaecli.errors import RunError, first_line

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
    encoder = property(lambda self: self.root / "encoder.keras")
    decoder = property(lambda self: self.root / "decoder.keras")
    images = property(lambda self: self.root / "images")
    loss_curve = property(lambda self: self.root / "loss_curve.png")
    lock = property(lambda self: self.root / ".lock")  # held by the training process (vaecli.claims)
    # Written later by the latent-space commands:
    latent = property(lambda self: self.root / "latent")  # vae encode
    decoded = property(lambda self: self.root / "decoded")  # vae decode
    samples = property(lambda self: self.root / "samples")  # vae sample
    explore = property(lambda self: self.root / "explore")  # vae interpolate, vae traverse
    latent_stats = property(lambda self: self.root / "latent_stats")  # vae latent-stats
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


# ------------------------------------------------------------------------------------ manifest


class Manifest(BaseModel):
    """manifest.json: what a run is and how far it got. Unknown keys are kept (older or newer vaecli)."""

    model_config = ConfigDict(extra="allow")

    status: str = STATUS_RUNNING  # RUNNING, COMPLETED, FAILED or KILLED
    name: str = ""
    command: str = ""  # the command line that started the run
    started: str | None = None
    ended: str | None = None
    epochs_completed: int = 0
    epochs: int | None = None
    seed: int | None = None
    train_seed: int | None = None
    kl_factor: float | None = None  # 0 for an AE
    reduction: str | None = None
    effective_kl_factor: float | None = None  # the factor relative to reduction "sum"
    reconstruction: str | None = None  # bce (Bernoulli decoder) or mse (Gaussian decoder); None: older runs
    kl_schedule: dict[str, Any] | None = None  # vaecli.losses.KLObjective: schedule, free bits, capacity
    data: dict[str, Any] = {}  # source, fingerprint, image_shape, split sizes, cache
    task: dict[str, Any] = {}
    distribute: dict[str, Any] = {}
    device: str | None = None
    jit_compile: bool | None = None
    precision_policy: str | None = None
    deterministic: bool | None = None
    threads: dict[str, Any] = {}  # TensorFlow's intra_op / inter_op threads (0: its default), cores
    versions: dict[str, Any] = {}
    git_commit: str | None = None
    error: str | None = None
    final_metrics: dict[str, Any] | None = None

    @property
    def fingerprint(self) -> str | None:
        return self.data.get("fingerprint")

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), indent=2) + "\n"


def read_manifest(paths: RunPaths) -> Manifest:
    try:
        data = json.loads(paths.manifest.read_text())
    except (OSError, ValueError) as error:
        raise RunError(f"{paths.manifest}: cannot read the run manifest ({error})") from None
    if not isinstance(data, dict):
        raise RunError(f"{paths.manifest}: the run manifest must hold a JSON object, not a {type(data).__name__}")
    try:
        return Manifest.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        raise RunError(f"{paths.manifest}: the run manifest's {field} is not valid ({problem['msg']})") from None


def write_manifest(paths: RunPaths, manifest: Manifest) -> Manifest:
    write_text_atomic(paths.manifest, manifest.to_json())
    return manifest


def update_manifest(paths: RunPaths, **fields: Any) -> Manifest:
    manifest = read_manifest(paths) if paths.manifest.exists() else Manifest()
    return write_manifest(paths, manifest.model_copy(update=fields))


def is_completed(paths: RunPaths) -> bool:
    """Finished: COMPLETED in its manifest, with both final models written (a missing one is rebuilt by resume)."""
    return read_manifest(paths).status == STATUS_COMPLETED and paths.encoder.is_file() and paths.decoder.is_file()


def final_losses(manifest: Manifest) -> str:
    """'loss 1619, val_loss 1623' from a finished run's manifest ('' before its first epoch)."""
    final = manifest.final_metrics or {}
    return ", ".join(f"{key} {final[key]:.4g}" for key in ("loss", "val_loss") if key in final)


# ------------------------------------------------------------------------------ metrics, records


def read_metrics(paths: RunPaths) -> list[dict]:
    """The rows of metrics.jsonl, one per finished epoch ([] before the first); RunError for a damaged file."""
    if not paths.metrics_jsonl.exists():
        return []
    rows = []
    try:
        lines = paths.metrics_jsonl.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RunError(f"{paths.metrics_jsonl}: cannot read it ({error})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
            raise RunError(f"{paths.metrics_jsonl}: line {number} is not a metrics row (an epoch's JSON object)")
        rows.append(row)
    return rows


def write_metrics(paths: RunPaths, rows: list[dict]) -> None:
    """Rewrite metrics.jsonl and metrics.csv whole (tiny files; atomic rename keeps them consistent)."""
    write_text_atomic(paths.metrics_jsonl, "".join(json.dumps(row) + "\n" for row in rows))
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    write_text_atomic(paths.metrics_csv, buffer.getvalue())


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def evaluation_space(evaluation: dict | None) -> str | None:
    """The feature space an evaluation's plausibility numbers were measured in."""
    try:
        return (evaluation or {})["plausibility"]["feature_space"]["name"]
    except (KeyError, TypeError):
        return None


def read_evaluation(paths: RunPaths, space: str | None = None) -> dict | None:
    """The run's latest evaluation (space None) or its evaluation in one feature space; None when absent.

    Runs evaluated before per-space files existed hold only evaluation.json: it answers for its own space.
    """
    if space is None:
        return _read_json(paths.evaluation)
    found = _read_json(paths.evaluation_in(space))
    if found is None:
        latest = _read_json(paths.evaluation)
        found = latest if evaluation_space(latest) == space else None
    return found


def evaluated_spaces(paths: RunPaths) -> list[str]:
    """The feature spaces the run has an evaluation in (sorted)."""
    spaces = {path.stem for path in paths.evaluation_images.glob("*.json")}
    latest = evaluation_space(_read_json(paths.evaluation))
    return sorted(spaces | ({latest} if latest else set()))


# ------------------------------------------------------------------------------- temporaries

# The files training writes at the top of the run folder; with checkpoints/ and images/ they have no other writer.
TRAINER_FILES = ("config.yaml", "manifest.json", "metrics.jsonl", "metrics.csv", "encoder.keras", "decoder.keras")


def stale_temporaries(paths: RunPaths) -> list[Path]:
    """Hidden temporaries in a run folder that no live process will finish, assuming nobody trains the run
    (its lock is not held): every one of the trainer's, and the latent commands' whose process is gone."""
    from vaecli.atomic import is_stale_temporary, temporary_target

    trainer_folders = (paths.checkpoint.parent, paths.images)
    found = []
    for path in sorted(paths.root.rglob(".*")):
        target = temporary_target(path)
        if target is None or not path.is_file():
            continue
        trainer = path.parent in trainer_folders or (
            path.parent == paths.root and target in (*TRAINER_FILES, paths.loss_curve.name)
        )
        if trainer or is_stale_temporary(path):
            found.append(path)
    return found


# ------------------------------------------------------------------------ creating, finding runs


def prepare_new_run(runs_dir: Path, name: str, force: bool) -> RunPaths:
    """Check that runs_dir/name may be created; with force, remove an earlier run of that name.

    A run that a live process is training is never removed (its lock is held: vaecli.claims).
    The folder itself is created by claim_run, atomically, when training starts.
    """
    from vaecli.claims import remove_dead_run

    paths = RunPaths(Path(runs_dir) / name)
    if is_reserved(name):
        raise RunError(f"--name {name}: {name} is the runs folder's own name for {_reserved_use(name)}; pick another")
    if paths.root.exists() or paths.root.is_symlink():
        if not force:
            raise RunError(
                f"{paths.root} already exists; use --resume {paths.root} to continue it, "
                f"--force to replace it, or --name to pick another name"
            )
        if not paths.root.is_dir() or not _looks_like_a_run(paths):
            raise RunError(f"{paths.root} exists but is not a run folder (no manifest.json); not removing it")
        remove_dead_run(paths.root)
    return paths


def _reserved_use(name: str) -> str:
    return "its latest-run pointer" if name.casefold() == LATEST_POINTER.casefold() else "sweep records"


def _looks_like_a_run(paths: RunPaths) -> bool:
    """A folder --force may delete: one with a manifest or a config (also a run killed before its manifest by
    an older vaecli). Anything else may be the user's own folder."""
    return paths.manifest.exists() or paths.config.exists()


def claim_run(paths: RunPaths, config_yaml: str, manifest: Manifest):
    """Create the run folder atomically with its config and first manifest and return the held RunLock
    (vaecli.claims); RunError if another start got there first."""
    from vaecli.claims import claim_new_run

    return claim_new_run(paths.root, config_yaml, manifest.to_json())


def point_latest(paths: RunPaths) -> None:
    """runs/LATEST names this run (the default of every command that takes a RUN)."""
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


def run_folder(run: str | Path, runs_dir: str | Path = "runs") -> Path:
    """The folder a user means by run: the path itself, or a bare name looked up in runs_dir."""
    run = Path(run)
    if not run.exists() and (Path(runs_dir) / run).is_dir():
        return Path(runs_dir) / run
    return run


def resolve_run(run: str | Path | None, runs_dir: str | Path = "runs") -> RunPaths:
    """The run folder: the latest run when none is given; a bare name is also looked up in runs_dir."""
    if run is None:
        return latest_run(runs_dir)
    return existing_run(run_folder(run, runs_dir))


def _missing_models_error(paths: RunPaths, manifest: Manifest) -> RunError:
    from vaecli.checkpoints import checkpoint_epoch

    try:
        saved = checkpoint_epoch(paths.checkpoint)
    except RunError:
        saved = 0
    progress = (
        f"its checkpoint holds epoch {saved} of {manifest.epochs or '?'}" if saved else "it has no checkpoint yet"
    )
    status = manifest.status
    still = {"RUNNING": "is still RUNNING (or was stopped without being marked)"}.get(status, f"is {status}")
    return RunError(
        f"{paths.root} has no final models (encoder.keras, decoder.keras): the run {still} and "
        f"{progress}; finish it with `vae train --resume {paths.root}`"
    )


def load_final_models(paths: RunPaths, manifest: Manifest) -> tuple[Any, Any]:
    """(encoder, decoder) from encoder.keras / decoder.keras; RunError if either is missing or unreadable."""
    if not (paths.encoder.is_file() and paths.decoder.is_file()):
        raise _missing_models_error(paths, manifest)
    from vaecli.runtime import import_tensorflow

    import_tensorflow()
    import keras

    import vaecli.models.autoencoder  # noqa: F401  (registers the custom layers the saved models may name)

    models = []
    for target in (paths.encoder, paths.decoder):
        try:
            models.append(keras.models.load_model(target, compile=False))
        except Exception as error:  # a truncated or foreign file: say which, in one line
            raise RunError(f"{target}: cannot load the model ({type(error).__name__}: {first_line(error)})") from None
    return models[0], models[1]
