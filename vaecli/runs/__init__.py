"""The run folder and its one owner: every file name, the manifest, metrics, the lock and claim, checkpoints,
doctor and clean, and Run (a trained run loaded from its folder alone).

    paths.py        RunPaths: the only place a file name of the run folder is spelled
    manifest.py     the typed manifest.json and the run statuses
    records.py      metrics.jsonl / .csv and the evaluations
    folders.py      finding runs (a name, a path, LATEST), creating them, temporaries, final models
    claims.py       the liveness lock and the atomic claim of a new folder
    checkpoints.py  checked checkpoints: checksums, the previous good one, three-way agreement
    doctor.py       `vae doctor`;  clean.py: `vae clean`
    run.py          Run: config, manifest, metrics, models, split

Nothing here imports a command module, and nothing imports TensorFlow or Keras at its top.
"""

from vaecli.runs.folders import (
    claim_run,
    existing_run,
    is_completed,
    is_run_folder,
    is_runs_folder,
    latest_run,
    load_final_models,
    point_latest,
    prepare_new_run,
    resolve_run,
    run_folder,
    stale_temporaries,
)
from vaecli.runs.manifest import (
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_KILLED,
    STATUS_RUNNING,
    Manifest,
    final_losses,
    read_manifest,
    update_manifest,
    write_manifest,
)
from vaecli.runs.paths import (
    LATEST_POINTER,
    RESERVED_NAMES,
    SWEEPS_FOLDER,
    TRAINER_FILES,
    RunPaths,
    is_reserved,
    sweep_record_path,
)
from vaecli.runs.records import evaluated_spaces, evaluation_space, read_evaluation, read_metrics, write_metrics

__all__ = [
    "LATEST_POINTER",
    "RESERVED_NAMES",
    "STATUS_COMPLETED",
    "STATUS_FAILED",
    "STATUS_KILLED",
    "STATUS_RUNNING",
    "SWEEPS_FOLDER",
    "TRAINER_FILES",
    "Manifest",
    "RunPaths",
    "claim_run",
    "evaluated_spaces",
    "evaluation_space",
    "existing_run",
    "final_losses",
    "is_completed",
    "is_reserved",
    "is_run_folder",
    "is_runs_folder",
    "latest_run",
    "load_final_models",
    "point_latest",
    "prepare_new_run",
    "read_evaluation",
    "read_manifest",
    "read_metrics",
    "resolve_run",
    "run_folder",
    "stale_temporaries",
    "sweep_record_path",
    "update_manifest",
    "write_manifest",
    "write_metrics",
]
