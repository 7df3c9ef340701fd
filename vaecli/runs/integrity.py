"""Which checkpoint a resume may continue from, and whether the run's files agree on how far it got.

Three records say how many epochs a run completed: the checkpoint (its checksum record), metrics.jsonl (one row
per epoch) and manifest.json (epochs_completed). Training writes them in that order after an epoch: metrics,
then the checkpoint, then the manifest, so a kill leaves metrics at or ahead of the checkpoint (rows past it are
dropped and trained again) and the manifest at or behind it. Anything else means a file was damaged, edited,
deleted or restored from elsewhere: resume refuses it with the command that recovers what can be recovered, and
`vae doctor` reports it. Files of runs written before checksums existed (vaecli < 0.2) are not verified.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from vaecli.errors import CheckpointDamaged, RunError
from vaecli.runs.checkpoints import CheckpointRecord, checkpoint_epoch, file_sha256, verify_checkpoint
from vaecli.runs.manifest import Manifest, update_manifest
from vaecli.runs.paths import RunPaths


def config_hash(paths: RunPaths) -> str:
    """First 16 hex digits of sha256(config.yaml): ties checkpoints and latent files to the exact config."""
    return hashlib.sha256(paths.config.read_bytes()).hexdigest()[:16]


@dataclass(frozen=True)
class ResumePoint:
    file: Path  # last.h5, or previous.h5 when --from-checkpoint names its epoch
    epoch: int


def intact_checkpoints(paths: RunPaths) -> dict[Path, CheckpointRecord | CheckpointDamaged]:
    """Each checkpoint file present, with its record or what is wrong with it."""
    found: dict[Path, CheckpointRecord | CheckpointDamaged] = {}
    for file in (paths.checkpoint, paths.previous_checkpoint):
        if file.exists():
            try:
                found[file] = verify_checkpoint(paths, file)
            except CheckpointDamaged as problem:
                found[file] = problem
    return found


def _resume_command(paths: RunPaths, epoch: int | None = None) -> str:
    return f"vae train --resume {paths.root}" + (f" --from-checkpoint {epoch}" if epoch is not None else "")


def _restart_command(paths: RunPaths) -> str:
    return f"vae train {paths.config} --name {paths.name} --runs-dir {paths.root.parent} --force"


def _intact_epochs(found: dict[Path, CheckpointRecord | CheckpointDamaged]) -> dict[int, Path]:
    return {record.epoch: file for file, record in found.items() if isinstance(record, CheckpointRecord)}


def resume_point(paths: RunPaths, manifest: Manifest, from_checkpoint: int | None = None) -> ResumePoint | None:
    """The checkpoint to continue from (None: start at epoch 0); CheckpointDamaged or RunError with the fix."""
    if not manifest.checked_files:  # an older run: its checkpoint carries no checksum
        epoch = checkpoint_epoch(paths.checkpoint)
        return ResumePoint(paths.checkpoint, epoch) if epoch else None
    found = intact_checkpoints(paths)
    intact = _intact_epochs(found)
    expected = config_hash(paths)
    for file, record in found.items():
        if isinstance(record, CheckpointRecord) and record.config_hash != expected:
            raise CheckpointDamaged(f"{file} was written for another config.yaml (config hash {record.config_hash})")
    if from_checkpoint is not None:
        if from_checkpoint not in intact:
            have = ", ".join(str(epoch) for epoch in sorted(intact)) or "none"
            raise RunError(f"{paths.root} has no intact checkpoint of epoch {from_checkpoint} (intact: {have})")
        return ResumePoint(intact[from_checkpoint], from_checkpoint)
    last = found.get(paths.checkpoint)
    if isinstance(last, CheckpointRecord):
        return ResumePoint(paths.checkpoint, last.epoch)
    fallback = _fallback(paths, intact)
    if isinstance(last, CheckpointDamaged):
        raise CheckpointDamaged(last.lines[0], fallback)
    if intact or manifest.epochs_completed:
        raise CheckpointDamaged(f"{paths.checkpoint} is missing", fallback)
    return None


def _fallback(paths: RunPaths, intact: dict[int, Path]) -> str:
    if intact:
        epoch = max(intact)
        return f"The previous checkpoint from epoch {epoch} is intact: {_resume_command(paths, epoch)}"
    return f"No intact checkpoint remains; start the run again: {_restart_command(paths)}"


def check_agreement(
    paths: RunPaths, manifest: Manifest, rows: list[dict], epoch: int, planned: int, chosen: bool = False
) -> None:
    """CheckpointDamaged unless the checkpoint's epoch, metrics.jsonl and the manifest can all be true together.

    chosen: the user named this checkpoint (--from-checkpoint), accepting that later epochs are trained again.
    """
    if epoch > planned:
        raise CheckpointDamaged(
            f"{paths.checkpoint} holds epoch {epoch} but the run has only {planned} epochs",
            f"Start the run again: {_restart_command(paths)}",
        )
    epochs = [row["epoch"] for row in rows]
    if epochs != list(range(1, len(epochs) + 1)):
        raise CheckpointDamaged(
            f"{paths.metrics_jsonl} does not hold epochs 1, 2, ... in order (it holds {_span(epochs)})",
            f"Restore it, or start the run again: {_restart_command(paths)}",
        )
    if len(epochs) < epoch:
        raise CheckpointDamaged(
            f"{paths.metrics_jsonl} holds {_span(epochs)} but the checkpoint is at epoch {epoch}: "
            f"the rows of epochs {len(epochs) + 1}-{epoch} are missing",
            _earlier_or_restart(paths, len(epochs)),
        )
    if manifest.epochs_completed > epoch and not chosen:
        raise CheckpointDamaged(
            f"{paths.manifest} says {manifest.epochs_completed} epochs completed but the checkpoint is at epoch "
            f"{epoch}",
            f"To continue from epoch {epoch} and train the rest again: {_resume_command(paths, epoch)}",
        )


def _span(epochs: list[int]) -> str:
    if not epochs:
        return "no rows"
    return f"epochs {epochs[0]}-{epochs[-1]}" if len(epochs) > 1 else f"epoch {epochs[0]}"


def _earlier_or_restart(paths: RunPaths, rows: int) -> str:
    earlier = [epoch for epoch in _intact_epochs(intact_checkpoints(paths)) if epoch <= rows]
    if earlier:
        return f"Continue from the intact checkpoint of epoch {max(earlier)}: {_resume_command(paths, max(earlier))}"
    return f"Restore metrics.jsonl, or start the run again: {_restart_command(paths)}"


def record_final_models(paths: RunPaths) -> Manifest:
    """Record the final models' sha256 as they are now: after replacing encoder.keras or decoder.keras on purpose
    (a hand-edited decoder), so that loading them is not refused as damage."""

    return update_manifest(
        paths, final_models={file.name: file_sha256(file) for file in (paths.encoder, paths.decoder)}
    )


def verify_final_models(paths: RunPaths, manifest: Manifest) -> None:
    """CheckpointDamaged when a final model's bytes differ from the sha256 recorded when it was written."""
    for file in (paths.encoder, paths.decoder):
        recorded = manifest.final_models.get(file.name)
        if recorded and file.is_file() and file_sha256(file) != recorded:
            raise CheckpointDamaged(
                f"{file} is damaged (checksum mismatch)",
                f"Rebuild the final models from the last checkpoint: {_resume_command(paths)} (replaced on purpose: "
                "vaecli.runs.integrity.record_final_models)",
            )
