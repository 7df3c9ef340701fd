"""Likelihood bounds and reconstruction errors of a trained model on a set of images.

Conventions (the ones training uses, so the numbers line up with metrics.jsonl):

- log p(x | z) is minus the training's binary cross-entropy summed over pixels and channels
  (vaecli.losses.reconstruction_loss, outputs clipped to [1e-7, 1 - 1e-7]), i.e. a Bernoulli
  decoder. For pixels strictly between 0 and 1 this is the "continuous Bernoulli without its
  normaliser" convention of most VAE code: not a normalised density over [0, 1]^D, so the
  bounds compare models with each other, not with likelihoods of other model families.
- ELBO = -(E_q[-log p(x|z)] + KL(q(z|x) || N(0, I))) with the KL weighted 1, whatever
  kl_factor the run trained with: the bound on log p(x), not the training loss. E_q is the
  mean over the K samples; the KL is analytic.
- IWAE_K = log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x), z_k ~ q(z | x) (Burda et al. 2016):
  a lower bound on log p(x) that tightens as K grows; IWAE_1 is the (sampled) ELBO.

An AE's encoder gives one point per image and no q(z | x): its bounds are undefined, and
only the reconstruction errors (from z_mean) are measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from vaecli.evaluation.metrics import (
    diagonal_normal_log_density,
    importance_weighted_bound,
    standard_normal_log_density,
)
from vaecli.latent.inference import decode_latents, encode_images
from vaecli.latent.stats import kl_terms

if TYPE_CHECKING:
    from vaecli.run import Run

DECODES_PER_CALL = 1024  # latent points per decoder call: images per chunk = this // K


def reconstruction_errors(images: np.ndarray, reconstructions: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image BCE (nats, summed over pixels and channels) and squared error (summed and per value)."""
    import keras

    from vaecli.losses import reconstruction_loss

    targets = images.astype(np.float32) / 255.0
    bce = keras.ops.convert_to_numpy(reconstruction_loss(targets, reconstructions, "bce", "sum"))
    squared = np.sum((targets - reconstructions) ** 2, axis=(1, 2, 3), dtype=np.float64)
    return {"bce": bce.astype(np.float64), "mse": squared, "mse_per_value": squared / np.prod(images.shape[1:])}


def importance_log_weights(
    run: Run,
    images: np.ndarray,
    z_mean: np.ndarray,
    z_log_var: np.ndarray,
    num_samples: int,
    seed: int = 0,
    on_batch=None,
) -> tuple[np.ndarray, np.ndarray]:
    """(log w, -log p(x|z)) each (N, K) for K = num_samples posterior draws per image.

    Image i draws its noise from its own stream (seed, i): the first k columns of a run with
    K samples are exactly the draws of a run with k (nested estimates), results do not depend
    on the batch size, and memory stays bounded however large N * K * z_dim is.
    """
    import keras

    from vaecli.losses import reconstruction_loss

    count, z_dim = z_mean.shape
    log_weights = np.empty((count, num_samples))
    reconstruction = np.empty((count, num_samples))
    per_chunk = max(1, DECODES_PER_CALL // num_samples)
    for start in range(0, count, per_chunk):
        stop = min(start + per_chunk, count)
        mean, log_var = z_mean[start:stop, None].astype(np.float64), z_log_var[start:stop, None].astype(np.float64)
        noise = np.stack(
            [np.random.default_rng([seed, index]).standard_normal((num_samples, z_dim)) for index in range(start, stop)]
        )
        z = mean + np.exp(0.5 * log_var) * noise
        flat_z = z.reshape(-1, z_dim).astype(np.float32)
        decoded = keras.ops.convert_to_numpy(run.decoder(flat_z, training=False))
        targets = np.repeat(images[start:stop].astype(np.float32) / 255.0, num_samples, axis=0)
        loss = keras.ops.convert_to_numpy(reconstruction_loss(targets, decoded, "bce", "sum"))
        reconstruction[start:stop] = loss.reshape(stop - start, num_samples)
        log_prior = standard_normal_log_density(z)
        log_posterior = diagonal_normal_log_density(z, mean, log_var)
        log_weights[start:stop] = -reconstruction[start:stop] + log_prior - log_posterior
        if on_batch is not None:
            on_batch(stop - start)
    return log_weights, reconstruction


def analytic_kl(z_mean: np.ndarray, z_log_var: np.ndarray) -> np.ndarray:
    """(N,) KL(N(z_mean, exp(z_log_var)) || N(0, I)) in nats (the training's formula, in float64)."""
    return np.sum(kl_terms(z_mean, z_log_var), axis=1)


def measure_likelihood(
    run: Run, images: np.ndarray, num_samples: int, seed: int = 0, advance=None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-image arrays (reconstruction errors; for a VAE kl, elbo, iwae) and the z_mean of every image."""
    z_mean, z_log_var = encode_images(run, images)
    reconstructions = decode_latents(run, z_mean)
    per_image = reconstruction_errors(images, reconstructions)
    if z_log_var is not None:
        log_weights, reconstruction = importance_log_weights(run, images, z_mean, z_log_var, num_samples, seed, advance)
        per_image["kl"] = analytic_kl(z_mean, z_log_var)
        per_image["expected_reconstruction"] = reconstruction.mean(axis=1)
        per_image["elbo"] = -(per_image["expected_reconstruction"] + per_image["kl"])
        per_image["iwae"] = importance_weighted_bound(log_weights)
    return per_image, z_mean
