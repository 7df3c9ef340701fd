"""Loss functions against a NumPy reference written from the definitions."""

import numpy as np
import pytest

from vaecli.losses import effective_kl_factor, kl_divergence, reconstruction_loss

rng = np.random.default_rng(0)
IMAGES = rng.uniform(0, 1, (5, 6, 7, 3)).astype("float32")
OUTPUTS = rng.uniform(0.01, 0.99, (5, 6, 7, 3)).astype("float32")


def numpy_bce(x, p):
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


@pytest.mark.parametrize("reduction, reduce", [("sum", np.sum), ("mean", np.mean)])
def test_bce_matches_numpy_per_image(reduction, reduce):
    expected = reduce(numpy_bce(IMAGES.astype("float64"), OUTPUTS.astype("float64")), axis=(1, 2, 3))
    got = np.asarray(reconstruction_loss(IMAGES, OUTPUTS, "bce", reduction))
    assert got.shape == (5,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_bce_sum_is_nats_per_image_and_counts_every_channel():
    # A decoder that outputs 0.5 everywhere costs log(2) nats for every pixel and channel.
    got = np.asarray(reconstruction_loss(IMAGES, np.full_like(IMAGES, 0.5), "bce", "sum"))
    np.testing.assert_allclose(got, np.full(5, 6 * 7 * 3 * np.log(2)), rtol=1e-5)


def test_bce_is_finite_at_saturated_outputs():
    got = np.asarray(reconstruction_loss(np.ones((1, 2, 2, 1), "float32"), np.zeros((1, 2, 2, 1), "float32")))
    assert np.isfinite(got).all() and got[0] > 10


@pytest.mark.parametrize("reduction, reduce", [("sum", np.sum), ("mean", np.mean)])
def test_mse_matches_numpy(reduction, reduce):
    expected = reduce((IMAGES - OUTPUTS) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(reconstruction_loss(IMAGES, OUTPUTS, "mse", reduction)), expected, rtol=1e-5)


def test_kl_matches_closed_form_and_is_zero_at_the_prior():
    z_mean = rng.normal(size=(4, 9)).astype("float32")
    z_log_var = rng.normal(size=(4, 9)).astype("float32")
    variance = np.exp(z_log_var.astype("float64"))
    # KL(N(m, v) || N(0, 1)) = 0.5 * (v + m^2 - 1 - log v), summed over dimensions
    expected = 0.5 * np.sum(variance + z_mean.astype("float64") ** 2 - 1 - z_log_var, axis=1)
    np.testing.assert_allclose(np.asarray(kl_divergence(z_mean, z_log_var)), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(kl_divergence(np.zeros((2, 3)), np.zeros((2, 3)))), [0.0, 0.0], atol=1e-7)


def test_unknown_reconstruction_loss_is_refused():
    with pytest.raises(ValueError, match="unknown reconstruction loss"):
        reconstruction_loss(IMAGES, OUTPUTS, "l1")


def test_effective_kl_factor_relative_to_sum():
    assert effective_kl_factor(0.5, "sum", 784) == 0.5
    assert effective_kl_factor(0.5, "mean", 784) == 392.0
