"""A finished run loaded from its folder alone: config, manifest, and the final encoder and decoder.

Every latent-space command starts here. A run without its final models (still RUNNING,
KILLED or FAILED) is refused with one sentence that says what state it is in and how to
finish it; nothing else about the run is assumed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vaecli.errors import RunError
from vaecli.runs import RunPaths, existing_run, latest_run, read_manifest

BATCH_SIZE = 256  # images per encoder/decoder call: large enough to keep a CPU busy, small on memory


@dataclass
class TrainedRun:
    paths: RunPaths
    config: Any  # ExperimentConfig
    manifest: dict
    encoder: Any  # keras.Model: images in [0, 1] -> z_mean, or [z_mean, z_log_var] for a VAE
    decoder: Any  # keras.Model: z -> images in [0, 1]

    @property
    def z_dim(self) -> int:
        return self.config.model.z_dim

    @property
    def is_vae(self) -> bool:
        return len(self.encoder.outputs) == 2

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(size) for size in self.encoder.inputs[0].shape[1:])

    @property
    def config_hash(self) -> str:
        """First 16 hex digits of sha256(config.yaml): ties a latent file to the exact config."""
        return hashlib.sha256(self.paths.config.read_bytes()).hexdigest()[:16]

    def provenance(self) -> dict[str, Any]:
        """Attributes every file written from this run carries."""
        from vaecli import __version__

        return {"run": self.paths.name, "run_path": str(self.paths.root), "config_hash": self.config_hash,
                "model_kind": self.config.model.kind, "z_dim": self.z_dim, "data_source": self.config.data.source,
                "dataset_fingerprint": self.manifest.get("data", {}).get("fingerprint", ""),
                "vaecli_version": __version__}


def resolve_run(run: str | Path | None, runs_dir: str | Path = "runs") -> RunPaths:
    """The run folder: the latest run when none is given; a bare name is also looked up in runs_dir."""
    if run is None:
        return latest_run(runs_dir)
    run = Path(run)
    if not run.exists() and (Path(runs_dir) / run).is_dir():
        run = Path(runs_dir) / run
    return existing_run(run)


def _missing_models_error(paths: RunPaths, manifest: dict) -> RunError:
    from vaecli.checkpoints import checkpoint_epoch

    status = manifest.get("status", "of unknown status")
    total = manifest.get("epochs", "?")
    try:
        saved = checkpoint_epoch(paths.checkpoint)
    except RunError:
        saved = 0
    progress = (f"its checkpoint holds epoch {saved} of {total}" if saved
                else "it has no checkpoint yet")
    still = {"RUNNING": "is still RUNNING (or was stopped without being marked)"}.get(status, f"is {status}")
    return RunError(f"{paths.root} has no final models (encoder.keras, decoder.keras): the run {still} and "
                    f"{progress}; finish it with `vae train --resume {paths.root}`")


def load_trained(run: str | Path | None = None, runs_dir: str | Path = "runs") -> TrainedRun:
    """Load the run's config, manifest and final models; RunError if any piece is missing."""
    from vaecli.config import load_config

    paths = resolve_run(run, runs_dir)
    manifest = read_manifest(paths)
    if not (paths.encoder.is_file() and paths.decoder.is_file()):
        raise _missing_models_error(paths, manifest)
    config = load_config(paths.config)

    from vaecli.runtime import import_tensorflow

    import_tensorflow()
    import keras

    import vaecli.models  # noqa: F401  (registers the custom layers the saved models may name)

    models = []
    for target in (paths.encoder, paths.decoder):
        try:
            models.append(keras.models.load_model(target, compile=False))
        except Exception as error:  # a truncated or foreign file: say which, in one line
            raise RunError(f"{target}: cannot load the model ({type(error).__name__}: "
                           f"{str(error).splitlines()[0][:200]})") from None
    encoder, decoder = models
    if int(decoder.inputs[0].shape[-1]) != config.model.z_dim:
        raise RunError(f"{paths.decoder} takes {decoder.inputs[0].shape[-1]}-dimensional points but "
                       f"{paths.config} says z_dim {config.model.z_dim}; the run folder is inconsistent")
    return TrainedRun(paths, config, manifest, encoder, decoder)


def _in_batches(count: int, batch_size: int, on_batch: Callable[[int], None] | None):
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        yield start, stop
        if on_batch is not None:
            on_batch(stop - start)


def encode_images(trained: TrainedRun, images: np.ndarray, batch_size: int = BATCH_SIZE,
                  on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (N, H, W, C) -> (z_mean, z_log_var) float32 (N, z_dim); z_log_var None for an AE.

    uint8 images are scaled as the training model scales them (uint8 / 255); float images are
    taken as already in [0, 1] (decoded images fed back without rounding). on_batch(number of
    images just encoded) drives a progress bar.
    """
    import keras

    count = len(images)
    z_mean = np.empty((count, trained.z_dim), np.float32)
    z_log_var = np.empty((count, trained.z_dim), np.float32) if trained.is_vae else None
    for start, stop in _in_batches(count, batch_size, on_batch):
        batch = images[start:stop].astype(np.float32)
        if images.dtype == np.uint8:  # the same scaling the training model applies (vaecli.models.AutoEncoder)
            batch /= 255.0
        outputs = trained.encoder(batch, training=False)  # eager call: no retracing per batch size
        if z_log_var is None:
            z_mean[start:stop] = keras.ops.convert_to_numpy(outputs)
        else:
            z_mean[start:stop] = keras.ops.convert_to_numpy(outputs[0])
            z_log_var[start:stop] = keras.ops.convert_to_numpy(outputs[1])
    return z_mean, z_log_var


def decode_latents(trained: TrainedRun, z: np.ndarray, batch_size: int = BATCH_SIZE,
                   on_batch: Callable[[int], None] | None = None) -> np.ndarray:
    """Latent points (N, z_dim) -> float32 images (N, H, W, C) in [0, 1]."""
    import keras

    z = np.asarray(z, np.float32)
    images = np.empty((len(z), *trained.image_shape), np.float32)
    for start, stop in _in_batches(len(z), batch_size, on_batch):
        images[start:stop] = keras.ops.convert_to_numpy(trained.decoder(z[start:stop], training=False))
    return images
