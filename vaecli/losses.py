"""Loss functions on batches, pure (keras.ops), testable without a model.

Units: with reduction "sum", reconstruction loss is summed over pixels and channels of each
image (BCE: nats under a Bernoulli decoder); with "mean" it is averaged over them instead.
KL is the analytic KL(q(z|x) || N(0, I)) in nats, summed over latent dimensions. Both return
one value per image; the model averages over the batch.
"""

from keras import ops


def reconstruction_loss(images, reconstructions, kind: str = "bce", reduction: str = "sum"):
    """Per-image reconstruction loss; images and reconstructions are floats in [0, 1], NHWC."""
    if kind == "bce":
        per_value = ops.binary_crossentropy(images, reconstructions)  # clips to [eps, 1 - eps]
    elif kind == "mse":
        per_value = ops.square(images - reconstructions)
    else:
        raise ValueError(f"unknown reconstruction loss {kind!r}")
    reduce = ops.sum if reduction == "sum" else ops.mean
    return reduce(per_value, axis=(1, 2, 3))


def kl_divergence(z_mean, z_log_var):
    """Per-image KL(N(z_mean, exp(z_log_var)) || N(0, I)) in nats."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def effective_kl_factor(kl_factor: float, reduction: str, values_per_image: int) -> float:
    """The KL factor that gives the same optimum under reduction "sum".

    With "mean", loss = mean_reco + f * kl = (sum_reco + f * D * kl) / D, so the run behaves
    like a "sum" run with factor f * D (D = pixels x channels). The manifest records this.
    """
    return kl_factor * values_per_image if reduction == "mean" else kl_factor
