"""Finding, creating and checking run folders: a name or path to a RunPaths, LATEST, temporaries, final models."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vaecli.errors import CheckpointDamaged, RunError, first_line
from vaecli.io.atomic import write_text_atomic
from vaecli.runs.checkpoints import saved_epoch
from vaecli.runs.claims import RunLock, claim_folders, foreign_content
from vaecli.runs.integrity import verify_final_models
from vaecli.runs.manifest import STATUS_COMPLETED, Manifest, read_manifest
from vaecli.runs.paths import LATEST_POINTER, SWEEPS_FOLDER, TRAINER_FILES, RunPaths, is_reserved


def is_completed(paths: RunPaths) -> bool:
    """Finished: COMPLETED in its manifest, with both final models written and intact (resume rebuilds them)."""
    manifest = read_manifest(paths)
    if manifest.status != STATUS_COMPLETED or not (paths.encoder.is_file() and paths.decoder.is_file()):
        return False
    try:
        verify_final_models(paths, manifest)
    except CheckpointDamaged:
        return False
    return True


def stale_temporaries(paths: RunPaths) -> list[Path]:
    """Hidden temporaries in a run folder that no live process will finish, assuming nobody trains the run
    (its lock is not held): every one of the trainer's, and the latent commands' whose process is gone."""
    from vaecli.io.atomic import is_stale_temporary, temporary_target

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

    A run that a live process is training is never removed (its lock is held: vaecli.runs.claims).
    The folder itself is created by claim_run, atomically, when training starts.
    """
    from vaecli.runs.claims import remove_dead_run

    paths = RunPaths(Path(runs_dir) / name)
    if is_reserved(name):
        raise RunError(
            f"name {name}: {name} is the runs folder's own name for {_reserved_use(name)}; pick another",
            arguments=("name",),
        )
    if paths.root.exists() or paths.root.is_symlink():
        if not force:
            raise RunError(
                f"{paths.root} already exists; continue it with resume {paths.root}, replace it with force, "
                f"or pick another name",
                arguments=("resume", "force", "name"),
            )
        if not is_run_folder(paths.root):
            raise RunError(f"{paths.root} exists but is not a run folder (no manifest.json); not removing it")
        remove_dead_run(paths.root)
    return paths


def _reserved_use(name: str) -> str:
    return "its latest-run pointer" if name.casefold() == LATEST_POINTER.casefold() else "sweep records"


def claim_run(paths: RunPaths, config_yaml: str, manifest: Manifest) -> RunLock:
    """Create the run folder atomically with its config and first manifest and return the held RunLock
    (vaecli.runs.claims); RunError if another start got there first."""
    from vaecli.runs.claims import claim_new_run

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
    from vaecli.config import run_name_problem

    try:
        name = pointer.read_bytes()[:200].decode().strip()
    except (OSError, UnicodeDecodeError):
        name = None
    if not name or "/" in name or run_name_problem(name):
        raise RunError(f"{pointer} does not hold a run name; give the run (vae ... RUN), or remove {pointer}")
    return existing_run(Path(runs_dir) / name)


def run_folder(run: str | Path, runs_dir: str | Path = "runs") -> Path:
    """The folder a user means by run: the path itself, or a bare name looked up in runs_dir."""
    run = Path(run)
    if not run.exists() and (Path(runs_dir) / run).is_dir():
        return Path(runs_dir) / run
    return run


def resolve_run(run: str | Path | None, runs_dir: str | Path = "runs") -> RunPaths:
    """The run folder: the latest run when none is given; a bare name is also looked up in runs_dir."""
    for value, argument in ((run, "run"), (runs_dir, "runs_dir")):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise RunError(f"{argument} must be a run folder or name (str or Path), not a {type(value).__name__}")
    if run is None:
        return latest_run(runs_dir)
    return existing_run(run_folder(run, runs_dir))


def _missing_models_error(paths: RunPaths, manifest: Manifest) -> RunError:
    saved = saved_epoch(paths)
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
    verify_final_models(paths, manifest)
    from vaecli.runtime.tensorflow import import_tensorflow

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


def is_run_folder(folder: Path) -> bool:
    """A run, whole or damaged: a real folder with a manifest.json or a config.yaml (what --force may replace and
    `vae clean` may clean). Anything else may be the user's own folder."""
    paths = RunPaths(Path(folder))
    return folder.is_dir() and not folder.is_symlink() and (paths.manifest.is_file() or paths.config.is_file())


def is_runs_folder(folder: Path) -> bool:
    """A folder vaecli trains runs into: it holds a LATEST pointer, sweep records or at least one run."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if (folder / LATEST_POINTER).is_file() or (folder / SWEEPS_FOLDER).is_dir():
        return True
    if any(not foreign_content(claim) for claim in claim_folders(folder)):  # a first start killed while claiming
        return True
    return any(is_run_folder(child) for child in folder.iterdir() if not child.name.startswith("."))


def run_candidates(runs_dir: Path) -> list[Path]:
    """The folders of a runs folder that are (or were meant to be) runs: not hidden, not the sweep records."""
    return [
        folder
        for folder in sorted(Path(runs_dir).iterdir())
        if folder.is_dir() and not folder.name.startswith(".") and folder.name != SWEEPS_FOLDER
    ]
