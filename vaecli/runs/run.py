"""Run: a trained run loaded from its folder alone (config, manifest, metrics, split, final models), and the
batched inference of its encoder and decoder on NumPy arrays that every command goes through.

    run = vaecli.load_run("runs/quickstart")     # a folder, a bare name in runs/, or None: the latest
    run.config, run.manifest, run.metrics         # resolved config, typed manifest, per-epoch rows
    z = run.encode(images)                        # uint8 or float images -> z_mean
    images = run.decode(z)                        # float32 images in [0, 1]

The final encoder and decoder are loaded on first use, so config, manifest and metrics can be read from a run
that is still training; using the models of such a run raises a RunError that says how to finish it. uint8
images are scaled as the training model scales them, batches are bounded, and results are float32 arrays. The
commands (vaecli.latent, vaecli.evaluation) take a Run; vaecli.api.Run adds them as methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import TYPE_CHECKING, Any, Callable, Literal, TypeVar, overload

import numpy as np

from vaecli.errors import LatentError, RunError
from vaecli.progress import progress_bar
from vaecli.runs.folders import load_final_models
from vaecli.runs.integrity import config_hash
from vaecli.runs.manifest import Manifest, read_manifest
from vaecli.runs.paths import RunPaths
from vaecli.runs.records import read_metrics

if TYPE_CHECKING:
    import keras
    import numpy.typing as npt
    from rich.console import Console

    from vaecli.data.cached_images import CachedImages
    from vaecli.data.splits import DataSplits, ImageSplit

AnyRun = TypeVar("AnyRun", bound="Run")  # require_models returns the caller's own class (vaecli.api.Run)


class Run:
    """A run folder with its config, manifest, metrics, split and (loaded on first use) final models.

    Example:
        >>> run = vaecli.load_run("quickstart")
        >>> run.z_dim, run.manifest.status
        (32, 'COMPLETED')
    """

    def __init__(self, paths: RunPaths):
        from vaecli.config import load_config

        self.paths = paths
        self.manifest: Manifest = read_manifest(paths)
        self.config = load_config(paths.config)

    def __repr__(self) -> str:
        return f"Run({str(self.paths.root)!r}, {self.config.model.kind}, z_dim {self.z_dim}, {self.manifest.status})"

    # ----------------------------------------------------------------------------- what it is

    @property
    def metrics(self) -> list[dict]:
        """One dict per finished epoch, as in metrics.jsonl (read anew on each access)."""
        return read_metrics(self.paths)

    @property
    def z_dim(self) -> int:
        return self.config.model.z_dim

    @property
    def is_vae(self) -> bool:
        return self.config.model.kind == "vae"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        from vaecli.data.sources import image_shape

        return image_shape(self.config.data)

    @property
    def config_hash(self) -> str:
        """First 16 hex digits of sha256(config.yaml): ties a latent file to the exact config."""
        return config_hash(self.paths)

    def provenance(self) -> dict[str, Any]:
        """Attributes every file written from this run carries.

        Example:
            >>> run.provenance()["config_hash"]
            '3f2a9c0b41d7e655'
        """
        from vaecli import __version__

        return {
            "run": self.paths.name,
            "run_path": str(self.paths.root),
            "config_hash": self.config_hash,
            "model_kind": self.config.model.kind,
            "z_dim": self.z_dim,
            "data_source": self.config.data.source,
            "dataset_fingerprint": self.manifest.fingerprint or "",
            "vaecli_version": __version__,
        }

    # ---------------------------------------------------------------------------------- models

    @cached_property
    def _models(self) -> tuple[Any, Any]:
        encoder, decoder = load_final_models(self.paths, self.manifest)
        if int(decoder.inputs[0].shape[-1]) != self.z_dim:
            raise RunError(
                f"{self.paths.decoder} takes {decoder.inputs[0].shape[-1]}-dimensional points but "
                f"{self.paths.config} says z_dim {self.z_dim}; the run folder is inconsistent"
            )
        return encoder, decoder

    @property
    def encoder(self) -> keras.Model:
        """The final keras encoder: images in [0, 1] -> z_mean, or [z_mean, z_log_var] for a VAE."""
        return self._models[0]

    @property
    def decoder(self) -> keras.Model:
        """The final keras decoder: z -> images in [0, 1]."""
        return self._models[1]

    @cached_property
    def decoder_logits(self) -> keras.Model:
        """z -> the decoder's logits (before its sigmoid), sharing its weights: every likelihood starts here.

        Works for runs saved before the decoder's sigmoid became a layer of its own
        (vaecli.models.builders.decoder_logits_model).
        """
        from vaecli.models.builders import decoder_logits_model

        try:
            return decoder_logits_model(self.decoder)
        except ValueError as error:
            raise RunError(f"{self.paths.decoder}: {error}") from None

    def require_models(self: AnyRun) -> AnyRun:
        """Load the final models now (a RunError if the run has none); returns the run.

        Example:
            >>> run = vaecli.load_run("quickstart").require_models()  # fails early on an unfinished run
        """
        _ = self._models
        return self

    # ------------------------------------------------------------------------------------ data

    def split(self, split: str = "test", limit: int | None = None) -> ImageSplit:
        """The images of a split of the run's data set: an ImageSplit (images uint8, labels, index).

        Example:
            >>> test = run.split("test")
            >>> test.images.shape, list(test.labels)
            ((2000, 32, 32, 3), ['smile', 'hair_colour', ...])
        """
        return load_split(self, split, limit)[0]

    # ------------------------------------------------------------------- encode, decode, sample

    @overload
    def encode(self, images: npt.ArrayLike, return_log_var: Literal[False] = False) -> np.ndarray: ...
    @overload
    def encode(self, images: npt.ArrayLike, return_log_var: Literal[True]) -> tuple[np.ndarray, np.ndarray | None]: ...
    @overload
    def encode(
        self, images: npt.ArrayLike, return_log_var: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]: ...

    def encode(
        self, images: npt.ArrayLike, return_log_var: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
        """Images (N, H, W, C), uint8 or float in [0, 1] -> z_mean (N, z_dim) float32.

        With return_log_var, (z_mean, z_log_var); z_log_var is None for an AE.

        Example:
            >>> z = run.encode(run.split("test").images[:8])
            >>> z.shape
            (8, 32)
        """
        z_mean, z_log_var = encode_images(self.require_models(), images)
        return (z_mean, z_log_var) if return_log_var else z_mean

    def decode(self, z: npt.ArrayLike) -> np.ndarray:
        """Latent points (N, z_dim), or one point (z_dim,) -> float32 images (N, H, W, C) in [0, 1].

        Example:
            >>> run.decode(np.zeros(run.z_dim)).shape
            (1, 32, 32, 3)
        """
        from vaecli.latent.files import checked_points

        points = checked_points(np.asarray(z), "z", z_dim=self.z_dim, run=f"run {self.paths.root}")
        return decode_latents(self.require_models(), points)


# ------------------------------------------------------------------------- batched inference

BATCH_SIZE = 256  # images per encoder/decoder call: large enough to keep a CPU busy, small on memory
SPLITS = ("train", "validation", "test", "all")


def _in_batches(count: int, batch_size: int, on_batch: Callable[[int], None] | None) -> Iterator[tuple[int, int]]:
    for start in range(0, count, batch_size):
        stop = min(start + batch_size, count)
        yield start, stop
        if on_batch is not None:
            on_batch(stop - start)


def encode_images(
    run: Run, images: npt.ArrayLike, batch_size: int = BATCH_SIZE, on_batch: Callable[[int], None] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (N, H, W, C) -> (z_mean, z_log_var) float32 (N, z_dim); z_log_var None for an AE.

    uint8 images are scaled as the training model scales them (uint8 / 255); float images are
    taken as already in [0, 1] (decoded images fed back without rounding). on_batch(number of
    images just encoded) drives a progress bar.
    """
    import keras

    from vaecli.images import checked_images

    images = checked_images(images, run.image_shape)
    count = len(images)
    z_mean = np.empty((count, run.z_dim), np.float32)
    z_log_var = np.empty((count, run.z_dim), np.float32) if run.is_vae else None
    for start, stop in _in_batches(count, batch_size, on_batch):
        batch = np.asarray(images[start:stop]).astype(np.float32)
        if images.dtype == np.uint8:  # the same scaling the training model applies (vaecli.models.AutoEncoder)
            batch /= 255.0
        outputs = run.encoder(batch, training=False)  # eager call: no retracing per batch size
        if z_log_var is None:
            z_mean[start:stop] = keras.ops.convert_to_numpy(outputs)
        else:
            z_mean[start:stop] = keras.ops.convert_to_numpy(outputs[0])
            z_log_var[start:stop] = keras.ops.convert_to_numpy(outputs[1])
    return z_mean, z_log_var


def decode_latents(
    run: Run, z: np.ndarray, batch_size: int = BATCH_SIZE, on_batch: Callable[[int], None] | None = None
) -> np.ndarray:
    """Latent points (N, z_dim) -> float32 images (N, H, W, C) in [0, 1]."""
    return _decode_with(run.decoder, run.image_shape, z, batch_size, on_batch)


def decode_logits(
    run: Run, z: np.ndarray, batch_size: int = BATCH_SIZE, on_batch: Callable[[int], None] | None = None
) -> np.ndarray:
    """Latent points (N, z_dim) -> float32 decoder logits (N, H, W, C): what every likelihood is computed from."""
    return _decode_with(run.decoder_logits, run.image_shape, z, batch_size, on_batch)


def _decode_with(
    network: keras.Model,
    image_shape: tuple[int, ...],
    z: npt.ArrayLike,
    batch_size: int,
    on_batch: Callable[[int], None] | None,
) -> np.ndarray:
    import keras

    z = np.asarray(z, np.float32)
    outputs = np.empty((len(z), *image_shape), np.float32)
    for start, stop in _in_batches(len(z), batch_size, on_batch):
        outputs[start:stop] = keras.ops.convert_to_numpy(network(z[start:stop], training=False))
    return outputs


def encode_with_progress(
    run: Run, images: np.ndarray | CachedImages, console: Console | None, description: str
) -> tuple[np.ndarray, np.ndarray | None]:
    with progress_bar(console, len(images), description) as advance:
        return encode_images(run, images, on_batch=advance)


def load_split(
    run: Run, split: str, limit: int | None = None, splits: DataSplits | None = None
) -> tuple[ImageSplit, np.ndarray | None, str, list[str]]:
    """(ImageSplit, per-row split codes or None, fingerprint, warnings) for train/validation/test/all,
    from the run's data (or from splits, when the caller has loaded them already)."""
    from vaecli.data.splits import SPLIT_NAMES, ImageSplit, load_splits

    if split not in SPLITS:
        raise LatentError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
    if limit is not None and limit < 1:
        raise LatentError(f"limit must be at least 1, got {limit}", arguments=("limit",))
    splits = splits or load_splits(run.config)
    warnings = []
    recorded = run.manifest.fingerprint
    if recorded is not None and splits.fingerprint != recorded:
        warnings.append(
            f"the data set changed since {run.paths.root} was trained (fingerprint {recorded} -> {splits.fingerprint})"
        )
    if split != "all":
        chosen, codes = splits.split(split), None
    else:
        parts = [splits.split(name) for name in SPLIT_NAMES]
        chosen = ImageSplit(
            np.concatenate([part.images for part in parts]),
            {name: np.concatenate([part.labels[name] for part in parts]) for name in parts[0].labels},
            np.concatenate([part.index for part in parts]),
        )
        codes = np.concatenate([np.full(len(part), code, np.uint8) for code, part in enumerate(parts)])
    if limit is not None:
        chosen = ImageSplit(
            chosen.images[:limit],
            {name: values[:limit] for name, values in chosen.labels.items()},
            chosen.index[:limit],
        )
        codes = None if codes is None else codes[:limit]
    if len(chosen) == 0:
        raise LatentError(f"the {split} split of {run.paths.root} holds no images")
    return chosen, codes, splits.fingerprint, warnings
