"""`vae fit-density`: a density fitted to a run's encodings, to sample from and to score points with.

    runs/NAME/densities/gmm10.npz     the parameters: weights (K,), means (K, D), covariances (K, D, D)
    runs/NAME/densities/gmm10.json    what it was fit on, its scores and its time (written last: it
                                      is the mark that the density is complete)

A density is a mixture of K full-covariance Gaussians over z_mean (K = 1: `kind="gaussian"`),
fit with scikit-learn's GaussianMixture (EM, `reg_covar` added to every covariance's diagonal,
seeded k-means initialisation, the best of `n_init` starts). Its log-likelihoods are log-densities
in latent space, in nats per encoding (one encoding per image), so they depend on the latent
scale: compare them between densities of ONE run, not between runs. BIC is scikit-learn's:
-2 * total log-likelihood of the fitting encodings + (free parameters) * ln(number of encodings).
Ghosh et al. 2020 ("From variational to deterministic regularized autoencoders") sample such
fitted densities ("ex-post density estimation") instead of the prior.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaecli.errors import LatentError
from vaecli.io.atomic import timestamp, write_bytes_atomic, write_json_atomic
from vaecli.latent.mixtures import (
    AUTO_COMPONENTS,
    MAX_ITERATIONS,
    REG_COVAR,
    DensityFit,
    check_encodings,
    choose_components,
    fit_mixture,
    log_density,
)

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.data.cached_images import CachedImages
    from vaecli.runs.run import Run

KINDS = ("gaussian", "gmm")
ENCODINGS = ("z_mean", "z")  # what is fit: the encoder's means, or one posterior sample per image
DEFAULT_COMPONENTS = 10
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]{0,63}$")


def densities_folder(run: Run) -> Path:
    """RUN/densities (vaecli.runs.paths spells it)."""
    return run.paths.densities


def _check_options(
    run: Run, kind: str, components: int | str | None, name: str | None, encoding: str, n_init: int, reg_covar: float
) -> None:
    if kind not in KINDS:
        raise LatentError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", arguments=("kind",))
    if kind == "gaussian" and components not in (None, 1):
        raise LatentError(
            "kind 'gaussian' is one component; give components only with kind 'gmm'", arguments=("kind", "components")
        )
    if isinstance(components, str) and components != "auto":
        raise LatentError(f"components must be a number or 'auto', got {components!r}", arguments=("components",))
    if isinstance(components, int) and components < 1:
        raise LatentError(f"components must be at least 1, got {components}", arguments=("components",))
    if name is not None and not NAME_PATTERN.match(name):
        raise LatentError(
            f"name {name!r}: use letters, digits, _ . = - (at most 64, not starting with . or -)", arguments=("name",)
        )
    if encoding not in ENCODINGS:
        raise LatentError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}", arguments=("encoding",))
    if encoding == "z" and not run.is_vae:
        raise LatentError(
            "encoding 'z' needs a VAE (an AE has no posterior to sample); use 'z_mean'", arguments=("encoding",)
        )
    if n_init < 1:
        raise LatentError(f"n_init must be at least 1, got {n_init}", arguments=("n_init",))
    if not reg_covar >= 0:
        raise LatentError(f"reg_covar must be non-negative, got {reg_covar}", arguments=("reg_covar",))


def _default_name(kind: str, components: int | str, encoding: str) -> str | None:
    """gaussian, gmmK, with _z for posterior samples; None while "auto" has not chosen K."""
    if components == "auto":
        return None
    return ("gaussian" if kind == "gaussian" else f"gmm{components}") + ("_z" if encoding == "z" else "")


def fit_density(
    run: Run,
    *,
    kind: str = "gmm",
    components: int | str | None = None,
    split: str = "train",
    limit: int | None = None,
    name: str | None = None,
    encoding: str = "z_mean",
    seed: int = 0,
    n_init: int = 1,
    reg_covar: float = REG_COVAR,
    force: bool = False,
    save: bool = True,
    console: Console | None = None,
) -> DensityFit:
    """Fit a density to the z_mean of a split (`vae fit-density`); when save, write RUN/densities/NAME.*.

    kind "gaussian" is one full-covariance Gaussian; "gmm" a mixture of `components` of them (default 10), or
    with components="auto" the K of AUTO_COMPONENTS with the lowest BIC. The name defaults to
    "gaussian" or "gmmK" (with "_z" added for encoding "z"). The test split's encodings are scored
    as held-out data (nats per encoding).

    encoding "z_mean" fits the encoder's means (the deterministic encoding, Ghosh et al. 2020);
    "z" (VAE only) one sample z ~ q(z|x) per image (seeded): a fit of the aggregate posterior
    q(z) = E_x q(z|x), whose dimensions that the KL pushed to the prior keep their unit variance.

    Example:
        >>> fit = fit_density(run, kind="gmm", components=10)
        >>> fit.name, fit.details["test_log_likelihood_nats"]
        ('gmm10', -12.3)
    """
    from vaecli.runs.run import load_split

    _check_options(run, kind, components, name, encoding, n_init, reg_covar)
    requested = 1 if kind == "gaussian" else (DEFAULT_COMPONENTS if components is None else components)
    name = name or _default_name(kind, requested, encoding)
    if name is not None and save and not force and (densities_folder(run) / f"{name}.json").exists():
        raise LatentError(
            f"density {name!r} already exists in {densities_folder(run)}; give force to replace it",
            arguments=("force",),
        )
    chosen, _, fingerprint, warnings = load_split(run, split, limit)
    if isinstance(requested, int) and requested > len(chosen):
        raise LatentError(
            f"components ({requested}) must not exceed the number of encodings ({len(chosen):,} {split} images)"
        )
    z = check_encodings(encodings_of(run, chosen.images, encoding, seed), f"the {split} split of {run.paths.root}")
    started = time.perf_counter()
    (weights, means, covariances, bic, converged), bic_by_k = _fit_requested(z, requested, seed, n_init, reg_covar)
    seconds = time.perf_counter() - started
    name = name or _default_name(kind, len(weights), encoding)
    fit = DensityFit(str(name), kind, weights, means, covariances, warnings=warnings)
    fit.details = {
        **run.provenance(),
        "name": fit.name,
        "kind": kind,
        "components": len(weights),
        "components_requested": requested,
        "bic_by_components": {str(k): value for k, value in bic_by_k.items()},
        "fit_on": {"split": split, "limit": limit, "count": len(z), "dataset_fingerprint": fingerprint},
        "encoding": encoding,
        "seed": seed,
        "n_init": n_init,
        "reg_covar": reg_covar,
        "max_iterations": MAX_ITERATIONS,
        "converged": converged,
        "bic": bic,
        **_scores(run, fit, z, split, encoding, seed),
        "units": "log-likelihoods: mean log q(z_mean) in nats per encoding (one per image), in latent units",
        "fit_seconds": round(seconds, 2),
        "created": timestamp(),
    }
    fit.summary = (
        f"Fit a {fit.describe()} to {len(z):,} {split} encodings of {run.paths.root} in {seconds:.1f} s: "
        f"test log-likelihood {fit.details['test_log_likelihood_nats']:.2f} nats per image, BIC {bic:,.0f}"
    )
    if save:
        fit.files = _save(run, fit)
        fit.summary += f" -> {fit.files[-1]}"
    return fit


def _scores(run: Run, fit: DensityFit, z: np.ndarray, split: str, encoding: str, seed: int) -> dict:
    """Mean log q of the encodings fit and of the test split's (held out unless the fit was on it), nats."""
    from vaecli.runs.run import load_split

    test_z = z if split == "test" else encodings_of(run, load_split(run, "test")[0].images, encoding, seed + 1)
    test_z = check_encodings(test_z, f"the test split of {run.paths.root}")
    return {
        "train_log_likelihood_nats": float(np.mean(log_density(fit, z))),
        "test_log_likelihood_nats": float(np.mean(log_density(fit, test_z))),
        "test_count": len(test_z),
        "test_held_out": split not in ("test", "all"),
    }


def _fit_requested(
    z: np.ndarray, requested: int | str, seed: int, n_init: int, reg_covar: float
) -> tuple[tuple, dict[int, float]]:
    """((weights, means, covariances, BIC, converged), BIC by K tried) for a number of components or "auto"."""
    if requested == "auto":
        return choose_components(z, AUTO_COMPONENTS, seed=seed, n_init=n_init, reg_covar=reg_covar)
    return fit_mixture(z, int(requested), seed=seed, n_init=n_init, reg_covar=reg_covar), {}


def encodings_of(run: Run, images: np.ndarray | CachedImages, encoding: str, seed: int) -> np.ndarray:
    """float64 (N, z_dim): z_mean of the images, or (encoding "z") z_mean + exp(z_log_var / 2) * noise."""
    from vaecli.runs.run import encode_images

    z_mean, z_log_var = encode_images(run, images)
    if encoding == "z_mean" or z_log_var is None:
        return z_mean.astype(np.float64)
    noise = np.random.default_rng(seed).standard_normal(z_mean.shape)
    return z_mean + np.exp(0.5 * z_log_var.astype(np.float64)) * noise


def _save(run: Run, fit: DensityFit) -> list[Path]:
    """The parameters first, the JSON last: a density without its JSON does not exist (load_density)."""
    folder = densities_folder(run)
    buffer = io.BytesIO()
    np.savez(buffer, weights=fit.weights, means=fit.means, covariances=fit.covariances)
    parameters = write_bytes_atomic(folder / f"{fit.name}.npz", buffer.getbuffer())
    details = write_json_atomic(folder / f"{fit.name}.json", fit.details)
    return [parameters, details]


def density_names(run: Run) -> list[str]:
    """The names of the complete densities of a run, sorted."""
    folder = densities_folder(run)
    return sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []


def load_density(run: Run, name: str) -> DensityFit:
    """The density NAME of the run; a LatentError if it does not exist or was fit for another z_dim.

    Example:
        >>> fit = run.load_density("gmm10")
        >>> fit.components, fit.means.shape
        (10, (10, 32))
    """
    folder = densities_folder(run)
    details_file, parameters_file = folder / f"{name}.json", folder / f"{name}.npz"
    if not NAME_PATTERN.match(name) or not details_file.is_file():
        known = density_names(run)
        raise LatentError(
            f"density {name!r} does not exist in {folder}"
            + (f" (known: {', '.join(known)})" if known else "; fit one with fit_density")
        )
    try:
        details = json.loads(details_file.read_text())
        with np.load(parameters_file) as arrays:
            weights, means, covariances = arrays["weights"], arrays["means"], arrays["covariances"]
    except (OSError, ValueError, KeyError) as error:
        raise LatentError(f"density {name!r} in {folder} cannot be read: {error}") from None
    if means.ndim != 2 or means.shape[1] != run.z_dim:
        raise LatentError(
            f"density {name!r} in {folder} was fit to {means.shape[-1]}-dimensional encodings, "
            f"but the run's z_dim is {run.z_dim}; fit it again"
        )
    fit = DensityFit(name, details.get("kind", "gmm"), weights, means, covariances, details=details)
    if details.get("config_hash") != run.config_hash:
        fit.warnings.append(f"density {name!r} was fit for another config of {run.paths.root} (config hash differs)")
    return fit
