"""Gaussian mixtures over latent points, as numbers only (no run, no files): fitting one with scikit-learn's
GaussianMixture, its log-density, drawing from it. vaecli.latent.densities fits them to a run's encodings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from vaecli.config import MAX_SEED
from vaecli.errors import LatentError
from vaecli.results import Result

AUTO_COMPONENTS = (1, 2, 5, 10, 20, 50)  # the K tried by components="auto"; the lowest BIC wins
REG_COVAR = 1e-6  # added to each covariance's diagonal (latent units squared): scikit-learn's default
MAX_ITERATIONS = 200  # EM iterations per start


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
