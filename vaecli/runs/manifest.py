"""manifest.json: what a run is and how far it got (a typed pydantic model), read and written atomically."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from vaecli.errors import RunError
from vaecli.io.atomic import write_text_atomic
from vaecli.runs.paths import RunPaths

STATUS_RUNNING, STATUS_COMPLETED, STATUS_FAILED, STATUS_KILLED = "RUNNING", "COMPLETED", "FAILED", "KILLED"


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
    # Since vaecli 0.2: checkpoints carry checksums (checkpoints/checksums.json), and the final models' sha256
    # are recorded here when they are written; older runs have neither and are not verified.
    checked_files: bool = False
    final_models: dict[str, str] = {}  # file name -> sha256

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


def final_losses(manifest: Manifest) -> str:
    """'loss 1619, val_loss 1623' from a finished run's manifest ('' before its first epoch)."""
    final = manifest.final_metrics or {}
    return ", ".join(f"{key} {final[key]:.4g}" for key in ("loss", "val_loss") if key in final)
