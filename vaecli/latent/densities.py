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
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vaecli.config import MAX_SEED
from vaecli.errors import LatentError
from vaecli.io.atomic import timestamp, write_bytes_atomic, write_json_atomic
from vaecli.results import Result

if TYPE_CHECKING:
    from vaecli.runs.run import Run

KINDS = ("gaussian", "gmm")
ENCODINGS = ("z_mean", "z")  # what is fit: the encoder's means, or one posterior sample per image
DEFAULT_COMPONENTS = 10
AUTO_COMPONENTS = (1, 2, 5, 10, 20, 50)  # the K tried by components="auto"; the lowest BIC wins
REG_COVAR = 1e-6  # added to each covariance's diagonal (latent units squared): scikit-learn's default
MAX_ITERATIONS = 200  # EM iterations per start
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.=-]{0,63}$")


def densities_folder(run: Run) -> Path:
    """RUN/densities (vaecli.runs.paths spells it)."""
    return run.paths.densities


@dataclass
class DensityFit(Result):
    name: str
    kind: str  # gaussian or gmm
    weights: np.ndarray  # (K,) float64, summing to 1
    means: np.ndarray  # (K, z_dim) float64
    covariances: np.ndarray  # (K, z_dim, z_dim) float64, reg_covar included
    details: dict = field(default_factory=dict)  # everything of NAME.json: fit data, scores, seconds

    @property
    def components(self) -> int:
        return len(self.weights)

    @property
    def z_dim(self) -> int:
        return int(self.means.shape[1])

    def describe(self) -> str:
        """'GMM, 10 components' or 'full Gaussian': for row labels and summaries."""
        return "full Gaussian" if self.kind == "gaussian" else f"GMM, {self.components} components"


# ------------------------------------------------------------------------------ pure numerics


def log_density(fit: DensityFit, points: np.ndarray) -> np.ndarray:
    """log q(z) of each point (N,) in nats, under the fitted mixture (float64 throughout)."""
    from scipy.special import logsumexp

    points = np.asarray(points, np.float64)
    per_component = np.empty((len(points), fit.components))
    for k in range(fit.components):
        cholesky = np.linalg.cholesky(fit.covariances[k])
        whitened = np.linalg.solve(cholesky, (points - fit.means[k]).T)  # (D, N)
        log_determinant = 2.0 * np.sum(np.log(np.diag(cholesky)))
        per_component[:, k] = -0.5 * (np.sum(whitened**2, axis=0) + log_determinant + fit.z_dim * math.log(2 * math.pi))
    return logsumexp(per_component + np.log(fit.weights), axis=1)


def sample_density(fit: DensityFit, n: int, seed: int = 0) -> np.ndarray:
    """n points (n, z_dim) float32 from the fitted mixture; the same seed gives the same points."""
    if n < 1:
        raise LatentError(f"n must be at least 1, got {n}")
    if not 0 <= seed <= MAX_SEED:
        raise LatentError(f"seed must be between 0 and {MAX_SEED}, got {seed}")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(fit.components, size=n, p=fit.weights / fit.weights.sum())
    noise = rng.standard_normal((n, fit.z_dim))
    points = np.empty((n, fit.z_dim))
    for k in range(fit.components):
        rows = chosen == k
        points[rows] = fit.means[k] + noise[rows] @ np.linalg.cholesky(fit.covariances[k]).T
    return points.astype(np.float32)


def check_encodings(z: np.ndarray, what: str) -> np.ndarray:
    """z as float64 (N, D), refusing NaN or Inf (a diverged encoder) with one line."""
    z = np.asarray(z, np.float64)
    if z.ndim != 2 or len(z) == 0:
        raise LatentError(f"{what}: expected encodings of shape (N, z_dim), got {z.shape}")
    bad = ~np.isfinite(z).all(axis=1)
    if bad.any():
        raise LatentError(
            f"{what}: {int(bad.sum()):,} of {len(z):,} encodings hold NaN or Inf (a diverged encoder?); nothing was fit"
        )
    return z


def fit_mixture(
    z: np.ndarray, components: int, *, seed: int = 0, n_init: int = 1, reg_covar: float = REG_COVAR
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
    """(weights, means, covariances, BIC, converged) of a K-component full-covariance GaussianMixture on z."""
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    if components < 1:
        raise LatentError(f"components must be at least 1, got {components}")
    if components > len(z):
        raise LatentError(f"components ({components}) must not exceed the number of encodings ({len(z):,})")
    mixture = GaussianMixture(
        n_components=components,
        covariance_type="full",
        reg_covar=reg_covar,
        max_iter=MAX_ITERATIONS,
        n_init=n_init,
        random_state=seed,
    )
    import warnings

    # One BLAS/OpenMP thread: beside TensorFlow's threads on a busy CPU, scikit-learn's thread pools
    # oversubscribe it (a 10-component fit to 3,600 16-d points: 16 s with them, 0.7 s without).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore")  # non-convergence is recorded in the JSON, not printed
        mixture.fit(z)
    return mixture.weights_, mixture.means_, mixture.covariances_, float(mixture.bic(z)), bool(mixture.converged_)


def choose_components(
    z: np.ndarray, candidates: tuple[int, ...], *, seed: int, n_init: int, reg_covar: float
) -> tuple[tuple, dict[int, float]]:
    """The fit of the candidate K with the lowest BIC, and every candidate's BIC."""
    usable = [k for k in candidates if k <= len(z)]
    if not usable:
        raise LatentError(f"components='auto' needs at least {min(candidates)} encodings, got {len(z)}")
    fits = {k: fit_mixture(z, k, seed=seed, n_init=n_init, reg_covar=reg_covar) for k in usable}
    best = min(fits, key=lambda k: fits[k][3])
    return fits[best], {k: fit[3] for k, fit in fits.items()}


# --------------------------------------------------------------------------------- run level


def _check_options(kind: str, components: int | str | None, name: str | None, n_init: int, reg_covar: float) -> None:
    if kind not in KINDS:
        raise LatentError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "gaussian" and components not in (None, 1):
        raise LatentError("kind='gaussian' is one component; give components only with kind='gmm'")
    if isinstance(components, str) and components != "auto":
        raise LatentError(f"components must be a number or 'auto', got {components!r}")
    if isinstance(components, int) and components < 1:
        raise LatentError(f"components must be at least 1, got {components}")
    if name is not None and not NAME_PATTERN.match(name):
        raise LatentError(f"name {name!r}: use letters, digits, _ . = - (at most 64, not starting with . or -)")
    if n_init < 1:
        raise LatentError(f"n_init must be at least 1, got {n_init}")
    if not reg_covar >= 0:
        raise LatentError(f"reg_covar must be non-negative, got {reg_covar}")


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
    console=None,
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

    _check_options(kind, components, name, n_init, reg_covar)
    if encoding not in ENCODINGS:
        raise LatentError(f"encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}")
    if encoding == "z" and not run.is_vae:
        raise LatentError("encoding 'z' needs a VAE (an AE has no posterior to sample); use 'z_mean'")
    suffix = "_z" if encoding == "z" else ""
    requested = 1 if kind == "gaussian" else (DEFAULT_COMPONENTS if components is None else components)
    if name is None and requested != "auto":
        name = ("gaussian" if kind == "gaussian" else f"gmm{requested}") + suffix
    if name is not None and save and not force and (densities_folder(run) / f"{name}.json").exists():
        raise LatentError(f"density {name!r} already exists in {densities_folder(run)}; use force=True to replace it")
    chosen, _, fingerprint, warnings = load_split(run, split, limit)
    if isinstance(requested, int) and requested > len(chosen):
        raise LatentError(
            f"components ({requested}) must not exceed the number of encodings ({len(chosen):,} {split} images)"
        )
    z = check_encodings(encodings_of(run, chosen.images, encoding, seed), f"the {split} split of {run.paths.root}")
    started = time.perf_counter()
    (weights, means, covariances, bic, converged), bic_by_k = _fit_requested(z, requested, seed, n_init, reg_covar)
    seconds = time.perf_counter() - started
    fit = DensityFit(name or f"gmm{len(weights)}{suffix}", kind, weights, means, covariances, warnings=warnings)
    test_z = z if split == "test" else encodings_of(run, load_split(run, "test")[0].images, encoding, seed + 1)
    test_z = check_encodings(test_z, f"the test split of {run.paths.root}")
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
        "train_log_likelihood_nats": float(np.mean(log_density(fit, z))),
        "test_log_likelihood_nats": float(np.mean(log_density(fit, test_z))),
        "test_count": len(test_z),
        "test_held_out": split not in ("test", "all"),
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


def _fit_requested(
    z: np.ndarray, requested: int | str, seed: int, n_init: int, reg_covar: float
) -> tuple[tuple, dict[int, float]]:
    """((weights, means, covariances, BIC, converged), BIC by K tried) for a number of components or "auto"."""
    if requested == "auto":
        return choose_components(z, AUTO_COMPONENTS, seed=seed, n_init=n_init, reg_covar=reg_covar)
    return fit_mixture(z, int(requested), seed=seed, n_init=n_init, reg_covar=reg_covar), {}


def encodings_of(run: Run, images: np.ndarray, encoding: str, seed: int) -> np.ndarray:
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
