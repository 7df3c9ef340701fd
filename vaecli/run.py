"""Run: a trained run loaded from its folder alone, and every latent-space operation on it.

    run = vaecli.load_run("runs/quickstart")     # a folder, a bare name in runs/, or None: the latest
    run.config, run.manifest, run.metrics         # resolved config, typed manifest, per-epoch rows
    z = run.encode(images)                        # uint8 or float images -> z_mean
    images = run.decode(z)                        # float32 images in [0, 1]
    points, images = run.sample(box=10, n=64)     # the regions of `vae sample`

Each method is the code path of one `vae` command (the CLI calls it with save=True): it returns
a result dataclass of NumPy arrays, and writes the command's files only when asked. The final
encoder and decoder are loaded on first use, so config, manifest and metrics can be read from
a run that is still training; using the models of such a run raises a RunError that says how
to finish it.
"""

from __future__ import annotations

import hashlib
import os
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from vaecli.errors import LatentError, RunError
from vaecli.runs import Manifest, RunPaths, read_manifest, read_metrics, resolve_run


class Run:
    """A run folder with its config, manifest, metrics and (loaded on first use) final models.

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
        return hashlib.sha256(self.paths.config.read_bytes()).hexdigest()[:16]

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
        from vaecli.runs import load_final_models

        encoder, decoder = load_final_models(self.paths, self.manifest)
        if int(decoder.inputs[0].shape[-1]) != self.z_dim:
            raise RunError(
                f"{self.paths.decoder} takes {decoder.inputs[0].shape[-1]}-dimensional points but "
                f"{self.paths.config} says z_dim {self.z_dim}; the run folder is inconsistent"
            )
        return encoder, decoder

    @property
    def encoder(self):
        """The final keras encoder: images in [0, 1] -> z_mean, or [z_mean, z_log_var] for a VAE."""
        return self._models[0]

    @property
    def decoder(self):
        """The final keras decoder: z -> images in [0, 1]."""
        return self._models[1]

    @cached_property
    def decoder_logits(self):
        """z -> the decoder's logits (before its sigmoid), sharing its weights: every likelihood starts here.

        Works for runs saved before the decoder's sigmoid became a layer of its own
        (vaecli.models.builders.decoder_logits_model).
        """
        from vaecli.models.builders import decoder_logits_model

        try:
            return decoder_logits_model(self.decoder)
        except ValueError as error:
            raise RunError(f"{self.paths.decoder}: {error}") from None

    def require_models(self) -> Run:
        """Load the final models now (a RunError if the run has none); returns the run.

        Example:
            >>> run = vaecli.load_run("quickstart").require_models()  # fails early on an unfinished run
        """
        _ = self._models
        return self

    # ------------------------------------------------------------------------------------ data

    def split(self, split: str = "test", limit: int | None = None):
        """The images of a split of the run's data set: an ImageSplit (images uint8, labels, index).

        Example:
            >>> test = run.split("test")
            >>> test.images.shape, list(test.labels)
            ((2000, 32, 32, 3), ['smile', 'hair_colour', ...])
        """
        from vaecli.latent.inference import load_split

        return load_split(self, split, limit)[0]

    # ------------------------------------------------------------------- encode, decode, sample

    def encode(self, images, return_log_var: bool = False):
        """Images (N, H, W, C), uint8 or float in [0, 1] -> z_mean (N, z_dim) float32.

        With return_log_var, (z_mean, z_log_var); z_log_var is None for an AE.

        Example:
            >>> z = run.encode(run.split("test").images[:8])
            >>> z.shape
            (8, 32)
        """
        from vaecli.latent.inference import encode_images

        z_mean, z_log_var = encode_images(self.require_models(), images)
        return (z_mean, z_log_var) if return_log_var else z_mean

    def decode(self, z) -> np.ndarray:
        """Latent points (N, z_dim), or one point (z_dim,) -> float32 images (N, H, W, C) in [0, 1].

        Example:
            >>> run.decode(np.zeros(run.z_dim)).shape
            (1, 32, 32, 3)
        """
        from vaecli.latent.files import checked_points
        from vaecli.latent.inference import decode_latents

        points = checked_points(np.asarray(z), "z", z_dim=self.z_dim, run=f"run {self.paths.root}")
        return decode_latents(self.require_models(), points)

    def encode_split(
        self,
        split: str = "test",
        limit: int | None = None,
        sample: bool = False,
        seed: int = 0,
        save: bool = True,
        out: str | Path | None = None,
        console=None,
    ):
        """Encode a split (`vae encode`): an Encoding with z_mean, z_log_var, z, index, labels.

        Writes RUN/latent/z_SPLIT.h5 (or out) unless save is False.

        Example:
            >>> encoding = run.encode_split("test", save=False)
            >>> encoding.z_mean.shape
            (2000, 32)
        """
        from vaecli.latent.encode import encode_split

        return encode_split(self.require_models(), split, limit, sample, seed, save, out, console)

    def decode_file(
        self,
        file: str | Path,
        dataset: str | None = None,
        limit: int | None = 256,
        columns: int | None = None,
        save: bool = True,
        out: str | Path | None = None,
        array_out: str | Path | None = None,
        console=None,
    ):
        """Decode the points of a latent file (.h5, .npy, .npz) (`vae decode`): a Decoding.

        Example:
            >>> decoding = run.decode_file("runs/quickstart/latent/z_test.h5", limit=64, save=False)
            >>> decoding.images.shape
            (64, 32, 32, 3)
        """
        from vaecli.latent.decode import decode_file

        return decode_file(self.require_models(), file, dataset, limit, columns, save, out, array_out, console)

    def sample(
        self,
        box: float | Sequence[float] | None = None,
        *,
        symmetric: float | Sequence[float] | None = None,
        sphere: float | Sequence[float] | None = None,
        prior: float | Sequence[float] | None = None,
        n: int | None = None,
        seed: int = 0,
        save: bool = False,
        columns: int | None = None,
        out: str | Path | None = None,
    ):
        """Decode random latent points of one region (`vae sample`); unpacks as (points, images).

        box=B: uniform in 0 < z_i < B. symmetric=B: -B < z_i < B. sphere=R: uniform on ||z|| = R.
        prior=s: N(0, s^2 I). A list of values gives n points per value, in that order. n
        defaults to 100 for one value, 10 per value for several.

        Example:
            >>> points, images = run.sample(box=10, n=64)
            >>> points.shape, images.shape
            ((64, 32), (64, 32, 32, 3))
        """
        from vaecli.latent.sample import sample

        region, values = _one_region(box=box, symmetric=symmetric, sphere=sphere, prior=prior)
        return sample(self.require_models(), region, values, n, seed, save, columns, out)

    def interpolate(
        self,
        start,
        end,
        *,
        steps: int = 10,
        method: str = "linear",
        split: str = "test",
        save: bool = False,
        out: str | Path | None = None,
    ):
        """Decode a path between the encodings of two images (`vae interpolate`): an Interpolation.

        start and end are each an index into split, an image file, or an image array (H, W, C).

        Example:
            >>> walk = run.interpolate(3, 17, method="slerp")
            >>> walk.path.shape, walk.images.shape
            ((10, 32), (10, 32, 32, 3))
        """
        from vaecli.latent.interpolate import interpolate

        return interpolate(self.require_models(), start, end, split, steps, method, save, out)

    def traverse(
        self,
        index: int,
        *,
        split: str = "test",
        dims: str | Sequence[int] | None = None,
        top_kl: int | None = None,
        value_range: tuple[float, float] = (-3.0, 3.0),
        steps: int = 9,
        block: int = 1,
        save: bool = False,
        out: str | Path | None = None,
        console=None,
    ):
        """Vary single latent dimensions around an image's encoding (`vae traverse`): a Traversal.

        Example:
            >>> traversal = run.traverse(5, top_kl=8)
            >>> traversal.images.shape
            (8, 9, 32, 32, 3)
        """
        from vaecli.latent.traverse import traverse

        return traverse(
            self.require_models(), index, split, dims, top_kl, value_range, steps, block, save, out, console
        )

    # --------------------------------------------------------------------------------- measure

    def latent_stats(
        self,
        split: str = "test",
        limit: int | None = None,
        boundaries: Sequence[float] | None = None,
        seed: int = 0,
        save: bool = True,
        out: str | Path | None = None,
        console=None,
    ):
        """Statistics of the encoded split (`vae latent-stats`): LatentStats, its numbers in .statistics.

        boundaries: B of the boxes 0 < z_i < B whose coverage is reported (default 1, 2, 5, 10).
        Writes RUN/latent_stats/ (stats.json and the plots) unless save is False.

        Example:
            >>> stats = run.latent_stats(save=False)
            >>> stats.statistics["active_units"]["count"]
            30
        """
        from vaecli.latent.stats import DEFAULT_BOXES, latent_stats

        boxes = DEFAULT_BOXES if boundaries is None else tuple(float(value) for value in boundaries)
        return latent_stats(self.require_models(), split, limit, boxes, seed, save, out, console)

    def evaluate(
        self,
        split: str = "test",
        iw_samples: int = 16,
        n_samples: int = 1000,
        boundaries: Sequence[float] | None = None,
        features: str | None = None,
        seed: int = 0,
        limit: int | None = None,
        save: bool = True,
        console=None,
    ):
        """Likelihood bounds and plausibility of samples (`vae evaluate`): an Evaluation.

        Its .evaluation holds every number of evaluation.json, which is written unless save is False.

        Example:
            >>> result = run.evaluate(features="pixels", n_samples=200)
            >>> result.evaluation["likelihood"]["elbo_nats"]
            -1615.2
        """
        from vaecli.evaluation.evaluate import evaluate_run
        from vaecli.evaluation.plausibility import DEFAULT_BOXES

        return evaluate_run(
            self.require_models(),
            split,
            iw_samples,
            n_samples,
            DEFAULT_BOXES if boundaries is None else tuple(boundaries),
            features,
            seed,
            limit,
            save,
            console,
        )


def _one_region(**regions) -> tuple[str, list[float]]:
    """(region name, its values) from keyword arguments of which exactly one is given."""
    chosen = {name: value for name, value in regions.items() if value is not None}
    if len(chosen) != 1:
        raise LatentError(f"give exactly one region of {', '.join(regions)} (got {', '.join(chosen) or 'none'})")
    name, value = chosen.popitem()
    values = [value] if isinstance(value, (int, float, np.number)) else list(value)
    return name, [float(item) for item in values]


def load_run(run: str | Path | None = None, runs_dir: str | Path = "runs") -> Run:
    """The run in a folder, a bare name looked up in runs_dir, or (None) the latest run there.

    Example:
        >>> run = vaecli.load_run("runs/quickstart")
        >>> run.metrics[-1]["val_loss"]
        1622.8
    """
    for value, argument in ((run, "run"), (runs_dir, "runs_dir")):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise RunError(f"{argument} must be a run folder or name (str or Path), not a {type(value).__name__}")
    return Run(resolve_run(run, runs_dir))
