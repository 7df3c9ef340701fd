"""Atomic training checkpoints: every model and optimizer variable, plus the epoch, in one HDF5 file.

Model variables include the seed-generator state of the sampling and dropout layers, and the
data order is a function of (seed, epoch), so restoring this file restores the RNG too:
a resumed run continues exactly as an uninterrupted one would have.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from vaecli.atomic import write_hdf5_atomic
from vaecli.errors import RunError, first_line


def _variable_groups(model) -> dict[str, list]:
    return {"model": list(model.variables), "optimizer": list(model.optimizer.variables)}


def save_checkpoint(path: Path, model, epoch: int) -> None:
    """Write the state after `epoch` completed epochs; the old file stays until the new one is whole.

    Built in memory and written as bytes (vaecli.atomic.write_hdf5_atomic): a full disk is one
    OutputError, not an h5py crash.
    """

    def fill(handle) -> None:
        handle.attrs["epoch"] = epoch
        for group_name, variables in _variable_groups(model).items():
            group = handle.create_group(group_name)
            for index, variable in enumerate(variables):
                dataset = group.create_dataset(f"{index:05d}", data=variable.numpy())
                dataset.attrs["path"] = variable.path

    write_hdf5_atomic(path, fill)


def checkpoint_epoch(path: Path) -> int:
    """Completed epochs stored in the checkpoint, 0 when there is none."""
    if not path.exists():
        return 0
    try:
        with h5py.File(path, "r") as handle:
            return int(handle.attrs["epoch"])
    except (OSError, KeyError) as error:
        raise RunError(f"{path}: unreadable checkpoint ({first_line(error)})") from None


def load_checkpoint(path: Path, model) -> int:
    """Restore every variable in place; returns the number of completed epochs."""
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
