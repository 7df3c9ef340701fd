"""Checked checkpoints: every model and optimizer variable plus the epoch in one HDF5 file, with its checksum.

    checkpoints/last.h5         the newest checkpoint
    checkpoints/previous.h5     the one before it: kept until last.h5 is written and read back intact
    checkpoints/checksums.json  one record per checkpoint: sha256 of the whole file, epoch, step, config hash

A file is intact when the sha256 of its bytes is one of the recorded ones; its epoch is the record's. The
records are written before the files are renamed into place, so a kill between any two steps leaves every
present file recognisable, and one flipped bit anywhere in a file (data, attributes or HDF5 bookkeeping) makes
it unrecognisable: resume refuses it and names the intact fallback.

Model variables include the seed-generator state of the sampling and dropout layers, and the data order is a
function of (seed, epoch), so restoring a checkpoint restores the RNG too: a resumed run continues exactly as an
uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vaecli.errors import CheckpointDamaged, RunError, first_line
from vaecli.io.atomic import atomic_path, check_room, hdf5_bytes, timestamp, write_json_atomic
from vaecli.runs.paths import RunPaths


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class CheckpointRecord:
    """What checksums.json says of one checkpoint file."""

    sha256: str
    epoch: int
    step: int
    config_hash: str
    written: str = ""


def read_records(paths: RunPaths) -> list[CheckpointRecord]:
    """The records of checksums.json ([] when there is none); RunError when it is not ours."""
    if not paths.checksums.exists():
        return []
    try:
        data = json.loads(paths.checksums.read_text())
        return [CheckpointRecord(**record) for record in data["records"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointDamaged(f"{paths.checksums} is damaged ({first_line(error)})") from None


def _write_records(paths: RunPaths, records: list[CheckpointRecord]) -> None:
    write_json_atomic(paths.checksums, {"records": [asdict(record) for record in records]})


def verify_checkpoint(paths: RunPaths, file: Path) -> CheckpointRecord:
    """The record of an intact checkpoint file; CheckpointDamaged when its bytes match none."""
    records = read_records(paths)
    if not records:
        raise CheckpointDamaged(f"{file} has no checksum ({paths.checksums.name} is missing)")
    digest = file_sha256(file)
    for record in records:
        if record.sha256 == digest:
            return record
    raise CheckpointDamaged(f"{file} is damaged (checksum mismatch)")


def save_checkpoint(paths: RunPaths, model: Any, epoch: int, config_hash: str) -> CheckpointRecord:
    """Write the state after `epoch` completed epochs to last.h5; the old last.h5 becomes previous.h5.

    The new record is added to checksums.json first, the file is written under a temporary name and read
    back; only then does it replace last.h5. A full disk is one OutputError (vaecli.io.atomic), not an h5py crash.
    """
    data = hdf5_bytes(lambda handle: _fill(handle, model, epoch))
    record = CheckpointRecord(
        hashlib.sha256(data).hexdigest(), epoch, int(model.optimizer.iterations.numpy()), config_hash, timestamp()
    )
    check_room(paths.checkpoint, len(data))
    kept = [_record_of(paths, file) for file in (paths.checkpoint, paths.previous_checkpoint)]
    _write_records(paths, [*[known for known in kept if known is not None], record])
    with atomic_path(paths.checkpoint) as temporary:
        temporary.write_bytes(data)
        if file_sha256(temporary) != record.sha256:
            raise RunError(f"{paths.checkpoint}: the checkpoint just written does not read back intact (disk error?)")
        _keep_as_previous(paths)
    _write_records(paths, [known for known in (kept[0], record) if known is not None])
    return record


def _keep_as_previous(paths: RunPaths) -> None:
    """previous.h5 becomes a second name of the current last.h5 (a hard link, or a copy where the file system has
    none), so that last.h5 exists at every instant: a Ctrl-C between two renames can never leave it missing."""
    if not paths.checkpoint.exists():
        return
    with atomic_path(paths.previous_checkpoint) as second_name:
        second_name.unlink()
        try:
            os.link(paths.checkpoint, second_name)
        except OSError:
            shutil.copyfile(paths.checkpoint, second_name)


def _record_of(paths: RunPaths, file: Path) -> CheckpointRecord | None:
    """The record of file when it is present and intact (a damaged one is not kept as a fallback)."""
    try:
        return verify_checkpoint(paths, file) if file.exists() else None
    except RunError:
        return None


def _variable_groups(model: Any) -> dict[str, list]:
    return {"model": list(model.variables), "optimizer": list(model.optimizer.variables)}


def _fill(handle: Any, model: Any, epoch: int) -> None:
    handle.attrs["epoch"] = epoch
    for group_name, variables in _variable_groups(model).items():
        group = handle.create_group(group_name)
        for index, variable in enumerate(variables):
            dataset = group.create_dataset(f"{index:05d}", data=variable.numpy())
            dataset.attrs["path"] = variable.path


def checkpoint_epoch(path: Path) -> int:
    """Completed epochs stored in the checkpoint file (its own attribute, unverified), 0 when there is none."""
    import h5py

    if not path.exists():
        return 0
    try:
        with h5py.File(path, "r") as handle:
            return int(handle.attrs["epoch"])
    except (OSError, KeyError, ValueError) as error:
        raise RunError(f"{path}: unreadable checkpoint ({first_line(error)})") from None


def saved_epoch(paths: RunPaths) -> int:
    """The epoch of last.h5 as the file says, 0 when there is none or it cannot be read (for messages)."""
    try:
        return checkpoint_epoch(paths.checkpoint)
    except RunError:
        return 0


def load_checkpoint(path: Path, model: Any) -> int:
    """Restore every variable in place; returns the number of completed epochs. Verify the file first."""
    import h5py

    model.optimizer.build(model.trainable_variables)
    try:
        with h5py.File(path, "r") as handle:
            for group_name, variables in _variable_groups(model).items():
                stored = handle[group_name]
                if len(stored) != len(variables):
                    raise RunError(
                        f"{path}: the checkpoint holds {len(stored)} {group_name} variables but this "
                        f"model has {len(variables)}; was the config changed?"
                    )
                for index, variable in enumerate(variables):
                    variable.assign(stored[f"{index:05d}"][()])
            return int(handle.attrs["epoch"])
    except (OSError, KeyError, ValueError) as error:
        raise RunError(f"{path}: unreadable checkpoint ({first_line(error)})") from None
