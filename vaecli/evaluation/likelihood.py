"""Likelihood bounds and reconstruction errors of a trained model on a set of images.

Conventions (the ones training uses, so the numbers line up with metrics.jsonl):

- One likelihood: log p(x | z) comes from the decoder's logits through the training's own
  function, vaecli.losses.reconstruction_loss (no clipping), in float32 like training.
- The decoder the run trained:
  - `loss.reconstruction: bce` is a Bernoulli decoder: log p(x|z) = -BCE summed over pixels and
    channels. For pixels strictly between 0 and 1 this is the "continuous Bernoulli without its
    normaliser" convention of most VAE code: not a normalised density over [0, 1]^D, so the
    bounds compare models with each other, not with likelihoods of other model families.
  - `loss.reconstruction: mse` (factor f, effective factor f_eff relative to reduction "sum") is
    a Gaussian decoder N(sigmoid(logits), sigma^2 I) with sigma^2 = f_eff / 2: the training loss
    sum (x - mu)^2 + f_eff KL is f_eff times its negative ELBO, up to a constant. Its bounds are
    densities of x in [0, 1] pixel units; the Bernoulli figures are reported beside them,
    labelled, for comparison with BCE runs.
- ELBO = -(E_q[-log p(x|z)] + KL(q(z|x) || N(0, I))) with the KL weighted 1, whatever
  kl_factor or KL schedule the run trained with: the bound on log p(x), not the training loss.
  E_q is the mean over the K samples; the KL is analytic.
- IWAE_K = log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x), z_k ~ q(z | x) (Burda et al. 2016):
  a lower bound on log p(x) that tightens as K grows; in expectation IWAE_K >= ELBO, and on a
  finite set of images the estimate is almost always, but not necessarily, above the sampled ELBO.

An AE's encoder gives one point per image and no q(z | x): its bounds are undefined, and
only the reconstruction errors (from z_mean) are measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from vaecli.evaluation.metrics import (
    diagonal_normal_log_density,
    importance_weighted_bound,
    standard_normal_log_density,
)
from vaecli.latent.stats import kl_terms
from vaecli.runs.run import decode_logits, encode_images

if TYPE_CHECKING:
    from vaecli.data.cached_images import CachedImages
    from vaecli.runs.run import Run

DECODES_PER_CALL = 1024  # latent points per decoder call: images per chunk = this // K
DECODERS = {"bce": "bernoulli", "mse": "gaussian"}  # loss.reconstruction -> the decoder it trains


def reconstruction_nats(
    images: np.ndarray | CachedImages, logits: np.ndarray, kinds: tuple[str, ...] = ("bce", "mse")
) -> dict[str, np.ndarray]:
    """Per-image BCE (nats) and squared error (summed), float64, from uint8 targets and decoder logits."""
    import keras

    from vaecli.losses import reconstruction_loss

    targets = images.astype(np.float32) / 255.0
    errors = {kind: reconstruction_loss(targets, logits, kind, "sum") for kind in kinds}
    return {kind: keras.ops.convert_to_numpy(value).astype(np.float64) for kind, value in errors.items()}


def trained_decoder(run: Run) -> tuple[str, float | None]:
    """("bernoulli", None) or ("gaussian", sigma^2): the decoder the run's loss trained.

    sigma^2 = f_eff / 2 with f_eff the effective KL factor (gamma under a capacity objective,
    which weights the KL the same way once KL > C); None when that factor is 0, and for an AE
    (no KL term: its squared error fixes no variance).
    """
    from vaecli.losses import KLObjective, effective_kl_factor, gaussian_variance

    loss = run.config.loss
    decoder = DECODERS[loss.reconstruction]
    if decoder == "bernoulli" or not run.is_vae:
        return decoder, None
    factor = KLObjective(
        kl_factor=loss.kl_factor,
        capacity_nats=None if loss.capacity is None else loss.capacity.max_nats,
        gamma=1.0 if loss.capacity is None else loss.capacity.gamma,
    ).factor  # the factor the manifest records (vaecli.training.records.new_manifest)
    effective = effective_kl_factor(factor, loss.reduction, int(np.prod(run.image_shape)))
    return decoder, (gaussian_variance(effective) if effective > 0 else None)


def reconstruction_errors(run: Run, images: np.ndarray | CachedImages, logits: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image errors of decoding z_mean: bce (nats), mse (sum), mse_per_value, gaussian (nats, MSE runs)."""
    from vaecli.losses import gaussian_nats

    errors = reconstruction_nats(images, logits)
    values = int(np.prod(images.shape[1:]))
    per_image = {"bce": errors["bce"], "mse": errors["mse"], "mse_per_value": errors["mse"] / values}
    decoder, variance = trained_decoder(run)
    if decoder == "gaussian" and variance is not None:
        per_image["gaussian"] = gaussian_nats(errors["mse"], variance, values)
    return per_image


def importance_samples(
    run: Run,
    images: np.ndarray | CachedImages,
    z_mean: np.ndarray,
    z_log_var: np.ndarray,
    num_samples: int,
    seed: int = 0,
    on_batch: Callable[[int], None] | None = None,
    kinds: tuple[str, ...] = ("bce", "mse"),
) -> dict[str, np.ndarray]:
    """(N, K) arrays for K posterior draws per image: bce, mse (sums; those in kinds) and log p(z) - log q(z|x).

    Image i draws its noise from its own stream (seed, i): the first k columns of a run with
    K samples are exactly the draws of a run with k (nested estimates), results do not depend
    on the batch size, and memory stays bounded however large N * K * z_dim is.
    """
    count, z_dim = z_mean.shape
    samples = {name: np.empty((count, num_samples)) for name in (*kinds, "log_prior_ratio")}
    per_chunk = max(1, DECODES_PER_CALL // num_samples)
    for start in range(0, count, per_chunk):
        stop = min(start + per_chunk, count)
        mean, log_var = z_mean[start:stop, None].astype(np.float64), z_log_var[start:stop, None].astype(np.float64)
        noise = np.stack(
            [np.random.default_rng([seed, index]).standard_normal((num_samples, z_dim)) for index in range(start, stop)]
        )
        z = mean + np.exp(0.5 * log_var) * noise
        logits = decode_logits(run, z.reshape(-1, z_dim))
        errors = reconstruction_nats(np.repeat(images[start:stop], num_samples, axis=0), logits, kinds)
        for kind in kinds:
            samples[kind][start:stop] = errors[kind].reshape(stop - start, num_samples)
        log_ratio = standard_normal_log_density(z) - diagonal_normal_log_density(z, mean, log_var)
        samples["log_prior_ratio"][start:stop] = log_ratio
        if on_batch is not None:
            on_batch(stop - start)
    return samples


def bounds(reconstruction: np.ndarray, log_prior_ratio: np.ndarray, kl: np.ndarray, prefix: str) -> dict:
    """Per-image expected reconstruction, ELBO and IWAE from (N, K) reconstruction nats -log p(x|z_k)."""
    expected = reconstruction.mean(axis=1)
    return {
        f"{prefix}expected_reconstruction": expected,
        f"{prefix}elbo": -(expected + kl),
        f"{prefix}iwae": importance_weighted_bound(-reconstruction + log_prior_ratio),
    }


def analytic_kl(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """(N,) KL(N(z_mean, exp(z_log_var)) || N(0, I)) in nats (the training's formula, in float64)."""
    return np.sum(kl_terms(z_mean, z_log_var), axis=1)


def measure_likelihood(
    run: Run,
    images: np.ndarray | CachedImages,
    num_samples: int,
    seed: int = 0,
    advance: Callable[[int], None] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-image arrays and the z_mean of every image.

    Always: bce, mse, mse_per_value (decoding z_mean; gaussian too for MSE runs). For a VAE:
    kl, and expected_reconstruction, elbo, iwae under the decoder the run trained; for an MSE
    run also bernoulli_expected_reconstruction, bernoulli_elbo, bernoulli_iwae.
    """
    from vaecli.losses import gaussian_nats

    z_mean, z_log_var = encode_images(run, images)
    per_image = reconstruction_errors(run, images, decode_logits(run, z_mean))
    if z_log_var is None:
        return per_image, z_mean
    decoder, variance = trained_decoder(run)
    kinds = ("bce", "mse") if decoder == "gaussian" else ("bce",)  # a Bernoulli run's bounds need no squared error
    samples = importance_samples(run, images, z_mean, z_log_var, num_samples, seed, advance, kinds)
    per_image["kl"] = analytic_kl(z_mean, z_log_var)
    if decoder == "bernoulli":
        per_image.update(bounds(samples["bce"], samples["log_prior_ratio"], per_image["kl"], ""))
        return per_image, z_mean
    per_image.update(bounds(samples["bce"], samples["log_prior_ratio"], per_image["kl"], "bernoulli_"))
    if variance is not None:
        gaussian = gaussian_nats(samples["mse"], variance, int(np.prod(images.shape[1:])))
        per_image.update(bounds(gaussian, samples["log_prior_ratio"], per_image["kl"], ""))
    return per_image, z_mean
