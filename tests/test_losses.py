"""Loss functions against a NumPy reference written from the definitions."""

import numpy as np
import pytest

from vaecli.losses import (
    KLObjective,
    effective_kl_factor,
    gaussian_nats,
    gaussian_variance,
    kl_divergence,
    kl_per_dimension,
    reconstruction_loss,
)

rng = np.random.default_rng(0)
IMAGES = rng.uniform(0, 1, (5, 6, 7, 3)).astype("float32")
OUTPUTS = rng.uniform(0.01, 0.99, (5, 6, 7, 3)).astype("float32")
LOGITS = np.log(OUTPUTS.astype("float64") / (1 - OUTPUTS)).astype("float32")  # sigmoid(LOGITS) == OUTPUTS


def numpy_bce(x, p):
    return -(x * np.log(p) + (1 - x) * np.log(1 - p))


@pytest.mark.parametrize("reduction, reduce", [("sum", np.sum), ("mean", np.mean)])
def test_bce_from_logits_matches_numpy_per_image(reduction, reduce):
    expected = reduce(numpy_bce(IMAGES.astype("float64"), OUTPUTS.astype("float64")), axis=(1, 2, 3))
    got = np.asarray(reconstruction_loss(IMAGES, LOGITS, "bce", reduction))
    assert got.shape == (5,)
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_bce_sum_is_nats_per_image_and_counts_every_channel():
    # A decoder whose logits are 0 (outputs 0.5) costs log(2) nats for every pixel and channel.
    got = np.asarray(reconstruction_loss(IMAGES, np.zeros_like(IMAGES), "bce", "sum"))
    np.testing.assert_allclose(got, np.full(5, 6 * 7 * 3 * np.log(2)), rtol=1e-5)


def test_a_confidently_wrong_pixel_costs_its_logit_not_a_clipped_16_nats():
    # Target 1, logit -20: -log sigmoid(-20) = 20 + log(1 + e^-20) nats. From float32 probabilities
    # clipped at 1e-7 it would be -log(1e-7) = 16.1; from the logit it is exact, at any size.
    targets = np.ones((3, 1, 1, 1), "float32")
    logits = np.array([-20.0, -100.0, 30.0], "float32").reshape(3, 1, 1, 1)
    got = np.asarray(reconstruction_loss(targets, logits, "bce", "sum"))
    np.testing.assert_allclose(got, [20.0 + np.log1p(np.exp(-20.0)), 100.0, np.log1p(np.exp(-30.0))], rtol=1e-6)
    zeros = np.asarray(reconstruction_loss(np.zeros_like(targets), logits, "bce", "sum"))
    np.testing.assert_allclose(zeros, [np.log1p(np.exp(-20.0)), np.log1p(np.exp(-100.0)), 30.0], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("reduction, reduce", [("sum", np.sum), ("mean", np.mean)])
def test_mse_from_logits_matches_numpy(reduction, reduce):
    expected = reduce((IMAGES - OUTPUTS) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(np.asarray(reconstruction_loss(IMAGES, LOGITS, "mse", reduction)), expected, rtol=1e-4)


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
        reconstruction_loss(IMAGES, LOGITS, "l1")


def test_effective_kl_factor_relative_to_sum():
    assert effective_kl_factor(0.5, "sum", 784) == 0.5
    assert effective_kl_factor(0.5, "mean", 784) == 392.0


def test_an_mse_run_is_a_gaussian_decoder_with_variance_half_the_effective_factor():
    # loss = sum (x - mu)^2 + f KL equals f * (-log N(x | mu, f/2 I) + KL) minus a constant.
    f, values = 0.02, IMAGES[0].size
    variance = gaussian_variance(f)
    squared = np.sum((IMAGES.astype(np.float64) - OUTPUTS) ** 2, axis=(1, 2, 3))
    direct = -np.sum(
        -0.5 * np.log(2 * np.pi * variance) - (IMAGES.astype(np.float64) - OUTPUTS) ** 2 / (2 * variance),
        axis=(1, 2, 3),
    )
    np.testing.assert_allclose(gaussian_nats(squared, variance, values), direct, rtol=1e-12)
    constant = 0.5 * values * np.log(2 * np.pi * variance)
    np.testing.assert_allclose(f * (gaussian_nats(squared, variance, values) - constant), squared, rtol=1e-12)


# --------------------------------------------------------------------------- the KL term over time


def objective(**fields) -> KLObjective:
    return KLObjective(**{"epochs": 4, "steps_per_epoch": 10, **fields})


def values(function, steps) -> list[float]:
    return [round(float(function(step)), 9) for step in steps]


def test_constant_schedule_is_the_factor_at_every_step():
    assert values(objective(kl_factor=0.25).weight, [0, 7, 39, 1000]) == [0.25] * 4


def test_warmup_rises_linearly_per_step_over_fractional_epochs():
    # 2.5 epochs of 10 steps: the factor reaches kl_factor at step 25, in steps of 0.5 / 25.
    warmup = objective(kl_factor=0.5, schedule="warmup", warmup_epochs=2.5)
    assert values(warmup.weight, [0, 1, 10, 24, 25, 26, 39]) == [0.0, 0.02, 0.2, 0.48, 0.5, 0.5, 0.5]
    assert values(objective(schedule="warmup", warmup_epochs=0).weight, [0, 5]) == [1.0, 1.0]


def test_cyclical_restarts_each_cycle_and_stays_flat_after_its_ratio():
    # 4 epochs x 10 steps in 2 cycles of 20 steps; each rises over its first 0.5 * 20 = 10 steps.
    cyclical = objective(schedule="cyclical", cycles=2, cycle_ratio=0.5)
    assert values(cyclical.weight, [0, 5, 10, 15, 19, 20, 25, 30, 39]) == [0, 0.5, 1, 1, 1, 0, 0.5, 1, 1]
    # Three cycles of 40/3 steps with ratio 1: a sawtooth.
    sawtooth = objective(schedule="cyclical", cycles=3, cycle_ratio=1.0)
    assert values(sawtooth.weight, [0, 10, 14]) == [0.0, round(10 / (40 / 3), 9), round((14 - 40 / 3) / (40 / 3), 9)]


def test_free_bits_count_each_dimension_at_least_lambda():
    kl_dimensions = np.array([0.01, 0.3, 2.0, 0.0], "float32")
    free = objective(kl_factor=0.5, free_bits=0.25)
    expected = 0.5 * np.sum(np.maximum(kl_dimensions, 0.25))  # 0.5 * (0.25 + 0.3 + 2 + 0.25)
    assert float(free.penalty(kl_dimensions, 3)) == pytest.approx(expected, rel=1e-6)
    assert float(objective(kl_factor=0.5).penalty(kl_dimensions, 3)) == pytest.approx(0.5 * 2.31, rel=1e-6)


def test_capacity_penalises_the_distance_to_a_rising_target():
    capacity = objective(capacity_nats=20.0, capacity_epochs=2.0, gamma=100.0)
    assert values(capacity.capacity, [0, 5, 20, 39]) == [0.0, 5.0, 20.0, 20.0]
    kl_dimensions = np.array([1.0, 2.0, 4.0], "float32")  # KL 7 nats
    for step, target in ((5, 5.0), (20, 20.0)):
        assert float(capacity.penalty(kl_dimensions, step)) == pytest.approx(100.0 * abs(7.0 - target), rel=1e-6)
    assert values(capacity.weight, [0, 39]) == [100.0, 100.0]


def test_objective_from_config_and_its_label():
    from tests.helpers import tiny_config
    from vaecli.config import validate

    config = validate(tiny_config(loss={"kl_schedule": "warmup", "warmup_epochs": 1.5, "free_bits": 0.1}))
    built = KLObjective.from_config(config, steps_per_epoch=6)
    assert (built.schedule, built.warmup_epochs, built.free_bits, built.epochs) == ("warmup", 1.5, 0.1, 3)
    assert built.describe() == "warmup 1.5 ep + free bits 0.1"
    capacity = KLObjective.from_config(validate(tiny_config(loss={"capacity": {"max_nats": 25}})), 6)
    assert capacity.capacity_epochs == 3 and capacity.describe() == "capacity 25 nats/3 ep, gamma 1000"
    ae = KLObjective.from_config(validate(tiny_config(model={"kind": "ae"})), 6)
    assert float(ae.weight(0)) == 0.0


def test_kl_per_dimension_sums_to_the_kl():
    z_mean, z_log_var = rng.normal(size=(3, 5)).astype("float32"), rng.normal(size=(3, 5)).astype("float32")
    np.testing.assert_allclose(
        np.sum(np.asarray(kl_per_dimension(z_mean, z_log_var)), axis=1),
        np.asarray(kl_divergence(z_mean, z_log_var)),
        rtol=1e-6,
    )
