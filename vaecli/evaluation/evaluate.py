"""`vae evaluate`: the whole evaluation of one run, one file per feature space.

    runs/NAME/evaluation/<space>.json       every number, in that feature space (classifier, pixels, ...)
    runs/NAME/evaluation.json               a copy of the latest evaluation, whatever its space
    runs/NAME/evaluation/samples_<space>.png  a labelled row of decoded images per latent region

Definitions: vaecli.evaluation.likelihood (ELBO, IWAE, units), .plausibility (regions,
reference rows) and .metrics (precision/recall, Frechet distance).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import numpy as np

from vaecli.errors import ConfigError
from vaecli.evaluation.metrics import bits_per_dimension, discretised_bits_per_dimension
from vaecli.evaluation.plausibility import PLAUSIBILITY_BOXES, RegionOutcome
from vaecli.io.atomic import timestamp, write_json_atomic
from vaecli.latent.densities import load_density
from vaecli.latent.mixtures import DensityFit
from vaecli.latent.stats import ACTIVE_UNIT_THRESHOLD, active_units
from vaecli.progress import progress_bar
from vaecli.results import Result
from vaecli.runs.run import load_split

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.data.cached_images import CachedImages
    from vaecli.runs.run import Run

NOT_APPLICABLE = (
    "an AE's encoder gives one point per image and no posterior q(z|x), so the ELBO and the "
    "importance-weighted bound are undefined"
)


@dataclass
class Evaluation(Result):
    evaluation: dict  # every number of evaluation.json


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values))


CONVENTIONS = {
    "bernoulli": "log p(x|z) = -BCE from the decoder's logits, summed over pixels and channels (Bernoulli decoder; "
    "for non-binary pixels a continuous Bernoulli without its normaliser)",
    "gaussian": "log p(x|z) = log N(x | sigmoid(logits), sigma^2 I) over pixels and channels in [0, 1] units, "
    "sigma^2 = effective KL factor / 2 (the Gaussian decoder an MSE run trains)",
}
COMMON_CONVENTION = "; ELBO weights the KL by 1 whatever the run's KL factor or schedule"
BITS_CONVENTIONS = {
    "bernoulli": "bits/dim = -bound / (H*W*C ln 2)",
    "gaussian": "bits/dim = (-bound + H*W*C ln 256) / (H*W*C ln 2): the density over [0, 1] discretised to the "
    "8-bit data's bins of width 1/256 (the convention of continuous models, Theis et al. 2016)",
}


def _bound_numbers(per_image: dict, image_shape: tuple[int, ...], prefix: str = "", decoder: str = "bernoulli") -> dict:
    """ELBO, IWAE and E_q reconstruction in nats per image (and bits/dim, BITS_CONVENTIONS) from per-image arrays."""
    elbo, iwae = _mean(per_image[f"{prefix}elbo"]), _mean(per_image[f"{prefix}iwae"])
    bits = discretised_bits_per_dimension if decoder == "gaussian" else bits_per_dimension
    return {
        "elbo_nats": elbo,
        "elbo_bits_per_dim": bits(-elbo, image_shape),
        "iwae_nats": iwae,
        "iwae_bits_per_dim": bits(-iwae, image_shape),
        "bits_per_dim_convention": BITS_CONVENTIONS[decoder],
        "expected_reconstruction_nats": _mean(per_image[f"{prefix}expected_reconstruction"]),
    }


def likelihood_section(
    per_image: dict,
    image_shape: tuple[int, ...],
    num_samples: int,
    is_vae: bool,
    decoder: tuple[str, float | None] = ("bernoulli", None),
) -> dict[str, Any]:
    """Means over images, in nats per image and in bits per dimension, under the decoder the run trained.

    decoder: ("bernoulli", None) or ("gaussian", sigma^2) (vaecli.evaluation.likelihood.trained_decoder).
    A Gaussian run also gets its Bernoulli figures under "bernoulli", for comparison with BCE runs.
    """
    name, variance = decoder
    reconstruction = {
        "bce_nats": _mean(per_image["bce"]),
        "bce_bits_per_dim": bits_per_dimension(_mean(per_image["bce"]), image_shape),
        "mse_sum": _mean(per_image["mse"]),
        "mse_per_value": _mean(per_image["mse_per_value"]),
        "decoded_from": "z_mean",
    }
    if "gaussian" in per_image:
        reconstruction["gaussian_nats"] = _mean(per_image["gaussian"])
    section: dict[str, Any] = {"decoder": name, **({"gaussian_variance": variance} if name == "gaussian" else {})}
    if not is_vae:
        return {"applicable": False, "reason": NOT_APPLICABLE, **section, "reconstruction": reconstruction}
    if name == "gaussian" and variance is None:
        reason = "an MSE run with KL factor 0 is a Gaussian decoder of variance 0: its bounds are undefined"
        return {"applicable": False, "reason": reason, **section, "reconstruction": reconstruction}
    section.update(
        applicable=True,
        reconstruction=reconstruction,
        **_bound_numbers(per_image, image_shape, decoder=name),
        iw_samples=num_samples,
        kl_nats=_mean(per_image["kl"]),
        convention=CONVENTIONS[name] + COMMON_CONVENTION,
    )
    if name == "gaussian":
        section["bernoulli"] = {
            **_bound_numbers(per_image, image_shape, "bernoulli_"),
            "convention": CONVENTIONS["bernoulli"],
        }
    return section


def regions_to_measure(boxes: Iterable[float]) -> list[tuple[str, float]]:
    return [("prior", 1.0)] + [("box", float(boundary)) for boundary in boxes]


def _check_options(iw_samples: int, n_samples: int) -> None:
    if iw_samples < 1:
        raise ConfigError(f"iw_samples must be at least 1, got {iw_samples}", arguments=("iw_samples",))
    if n_samples < 10:
        raise ConfigError(
            f"n_samples must be at least 10 (the k-NN radii need neighbours), got {n_samples}", arguments=("n_samples",)
        )


def evaluate(
    run: Run,
    split: str = "test",
    *,
    iw_samples: int = 16,
    n_samples: int = 1000,
    boundaries: Sequence[float] = PLAUSIBILITY_BOXES,
    features: str | None = None,
    densities: Sequence[str] = (),
    seed: int = 0,
    limit: int | None = None,
    save: bool = True,
    console: Console | None = None,
) -> Evaluation:
    """Likelihood bounds and plausibility of samples (`vae evaluate`): an Evaluation.

    Its .evaluation holds every number of evaluation.json, which is written unless save is False. boundaries: B of
    the boxes 0 < z_i < B whose samples are measured; densities: names of fitted densities (fit_density) whose
    samples are measured too.

    Example:
        >>> result = run.evaluate(features="pixels", n_samples=200)
        >>> result.evaluation["likelihood"]["elbo_nats"]
        -1615.2
    """
    from vaecli.data.splits import load_splits
    from vaecli.evaluation.features import load_feature_space
    from vaecli.evaluation.likelihood import measure_likelihood, trained_decoder
    from vaecli.evaluation.plausibility import plausibility

    _check_options(iw_samples, n_samples)
    fits = [load_density(run, name) for name in dict.fromkeys(densities)]  # fail before any work
    seconds: dict[str, float] = {}
    with _timed(seconds, "feature_space"):
        splits = load_splits(run.config)
        chosen, _, fingerprint, warnings = load_split(run, split, limit, splits)
        space = load_feature_space(features, run.config.data, splits.source, console)
    bar = progress_bar(console, len(chosen) if run.is_vae else 0, f"IWAE, K={iw_samples}")
    with _timed(seconds, "likelihood"), bar as advance:
        per_image, z_mean = measure_likelihood(run, chosen.images, iw_samples, seed, advance)
    regions = regions_to_measure(float(value) for value in boundaries)
    with _timed(seconds, "plausibility"):
        section, outcomes = plausibility(run, space, chosen.images, z_mean, regions, n_samples, seed, fits)
        fitted = density_section(run, fits, chosen.images, z_mean, section["num_samples"], seed) if fits else None
    evaluation: dict[str, Any] = {
        "provenance": {
            **run.provenance(),
            "split": split,
            "dataset_fingerprint": fingerprint,
            "limit": limit,
            "created": timestamp(),
        },
        "split": split,
        "num_images": len(chosen),
        "kl_factor": run.manifest.kl_factor,
        "likelihood": likelihood_section(per_image, run.image_shape, iw_samples, run.is_vae, trained_decoder(run)),
        "active_units": {"count": len(active_units(z_mean)), "of": run.z_dim, "threshold": ACTIVE_UNIT_THRESHOLD},
        "plausibility": section,
        **({"densities": fitted} if fitted else {}),
        "seconds": {key: round(value, 1) for key, value in seconds.items()}
        | {"total": round(sum(seconds.values()), 1)},
    }
    result = Evaluation(
        clean_for_json(evaluation),
        warnings=warnings + [warning for fit in fits for warning in fit.warnings],
        summary=f"Evaluated {run.paths.root} on {len(chosen):,} {split} images in "
        f"{evaluation['seconds']['total']:.1f} s (feature space: {space.name})",
    )
    if save:
        result.files = _save(run, result.evaluation, outcomes, space.name, seed)
        result.summary += f" -> {result.files[0]} (+ {', '.join(path.name for path in result.files[1:])})"
    return result


@contextmanager
def _timed(seconds: dict[str, float], key: str) -> Iterator[None]:
    """Adds the seconds the block took to seconds[key]."""
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - started


def density_section(
    run: Run,
    fits: list[DensityFit],
    images: np.ndarray | CachedImages,
    z_mean: np.ndarray,
    num_samples: int,
    seed: int,
) -> dict:
    """Per density: mean log q(z) of the split's encodings and (VAE) of prior samples, nats per image.

    The split's encodings are what the density was fit to: z_mean, or (encoding "z") one
    posterior sample per image.

    For a VAE, prior_gap_nats = mean log q(prior samples) - mean log q(encodings): about 0 when the
    aggregate posterior fills the prior; strongly negative when prior samples fall where no image
    is encoded (the "holes" of Dai & Wipf 2019). Read it for a density fit to posterior samples
    (encoding "z"): one fit to z_mean is nearly singular along the dimensions the KL collapsed
    (z_mean ~ 0 there), so every prior sample is far outside it and the gap is enormous.
    """
    from vaecli.latent.densities import encodings_of
    from vaecli.latent.geometry import sample_region
    from vaecli.latent.mixtures import log_density

    prior = sample_region("prior", 1.0, num_samples, run.z_dim, seed)
    section = {}
    points = {"z_mean": z_mean}  # what each density was fit to; posterior samples drawn once, when needed
    for fit in fits:
        encoding = fit.details.get("encoding", "z_mean")
        if encoding not in points:
            points[encoding] = encodings_of(run, images, encoding, seed)
        encodings = _mean(log_density(fit, points[encoding]))
        entry = {
            "kind": fit.kind,
            "components": fit.components,
            "encoding": encoding,
            "fit_on": fit.details.get("fit_on"),
            "split_log_likelihood_nats": encodings,
        }
        if run.is_vae:
            prior_nats = _mean(log_density(fit, prior))
            entry.update(prior_log_likelihood_nats=prior_nats, prior_gap_nats=prior_nats - encodings)
            entry["prior_samples"] = num_samples
        entry["units"] = "mean log q(z) in nats per point (z_mean of one image, or one prior sample)"
        section[fit.name] = entry
    return section


def _save(run: Run, evaluation: dict, outcomes: list[RegionOutcome], space_name: str, seed: int) -> list[Path]:
    """evaluation/<space>.json (one per feature space), evaluation.json (the latest), the sample figure."""
    figure = _sample_figure(run, outcomes, space_name, seed)
    evaluation["files"] = {"samples": str(figure.relative_to(run.paths.root))}
    per_space = write_json_atomic(run.paths.evaluation_in(space_name), evaluation)
    latest = write_json_atomic(run.paths.evaluation, evaluation)
    return [per_space, latest, figure]


def clean_for_json(value: Any) -> Any:
    """JSON has no NaN/Inf and no numpy types: numbers become plain ints/floats, non-finite ones null."""
    if isinstance(value, dict):
        return {str(key): clean_for_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_for_json(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _sample_figure(run: Run, outcomes: list[RegionOutcome], space_name: str, seed: int) -> Path:
    from vaecli.figures import labelled_rows

    target = run.paths.evaluation_images / f"samples_{space_name}.png"
    rows = [outcome.images for outcome in outcomes]
    labels = [
        outcome.row["label"].replace(" (held out)", "").replace("reconstructions", "recon.") for outcome in outcomes
    ]
    title = (
        f"{run.paths.name} ({run.config.model.kind}, z_dim {run.z_dim}): decoded points per region; "
        f"precision in {space_name} space in the table (seed {seed})"
    )
    return labelled_rows(target, rows, labels, title)
