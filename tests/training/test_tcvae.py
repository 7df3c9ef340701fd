"""beta-TCVAE: the MWS decomposition against a NumPy reference, training, exact resume, tc_weight 1 = a VAE."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.helpers import (
    comparable,
    finish,
    killed_after_first_checkpoint,
    ok,
    tiny_config,
    weights,
)
from tests.helpers import vae_process as vae

pytestmark = pytest.mark.slow


def reference_terms(z, mean, log_var, dataset_size):
    """Chen et al. 2018 written out with loops: log q(z_i) ~ log (1/(N M)) sum_j q(z_i | x_j), per dimension too."""
    count, dims = z.shape

    def log_normal(x, m, lv):
        return -0.5 * (math.log(2 * math.pi) + lv + (x - m) ** 2 / math.exp(lv))

    information = correlation = dimensionwise = 0.0
    for i in range(count):
        log_conditional = sum(log_normal(z[i, d], mean[i, d], log_var[i, d]) for d in range(dims))
        log_prior = sum(log_normal(z[i, d], 0.0, 0.0) for d in range(dims))
        joint = [sum(log_normal(z[i, d], mean[j, d], log_var[j, d]) for d in range(dims)) for j in range(count)]
        log_q = np.logaddexp.reduce(joint) - math.log(dataset_size * count)
        log_product = sum(
            np.logaddexp.reduce([log_normal(z[i, d], mean[j, d], log_var[j, d]) for j in range(count)])
            - math.log(dataset_size * count)
            for d in range(dims)
        )
        information += (log_conditional - log_q) / count
        correlation += (log_q - log_product) / count
        dimensionwise += (log_product - log_prior) / count
    return information, correlation, dimensionwise


def test_the_decomposition_matches_the_reference_and_sums_to_the_kl():
    from keras import ops

    from vaecli.losses import kl_divergence, tc_decomposition

    rng = np.random.default_rng(0)
    mean = rng.normal(0, 1, (12, 3)).astype(np.float32)
    log_var = rng.normal(-1, 0.3, (12, 3)).astype(np.float32)
    z = (mean + np.exp(0.5 * log_var) * rng.standard_normal((12, 3))).astype(np.float32)
    terms = [float(ops.convert_to_numpy(value)) for value in tc_decomposition(z, mean, log_var, 500)]
    np.testing.assert_allclose(terms, reference_terms(z, mean, log_var, 500), rtol=1e-4, atol=1e-4)

    # MI + TC + DWKL = mean [log q(z|x) - log p(z)] exactly; over many posterior draws that is the analytic KL
    mean = rng.normal(0, 1, (4000, 4)).astype(np.float32)
    log_var = rng.normal(-1, 0.3, (4000, 4)).astype(np.float32)
    total = []
    for start in range(0, 4000, 200):
        m, lv = mean[start : start + 200], log_var[start : start + 200]
        draw = (m + np.exp(0.5 * lv) * rng.standard_normal(m.shape)).astype(np.float32)
        total.append(sum(float(ops.convert_to_numpy(value)) for value in tc_decomposition(draw, m, lv, 4000)))
    analytic = float(np.mean(ops.convert_to_numpy(kl_divergence(mean, log_var))))
    # the Monte Carlo sd of the one-sample KL over 4,000 images is ~0.03 nats here: 0.1 nats is > 3 sd
    assert np.mean(total) == pytest.approx(analytic, abs=0.1)


def train_tiny(tmp_path, name: str, **loss) -> list[dict]:
    import yaml

    config = tiny_config(name=name, loss={"kl_factor": 1.0, **loss}, model={"z_dim": 4})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    from tests.helpers import ok as run_ok

    run_ok("train", path, "--runs-dir", tmp_path / "runs", "--quiet")
    return [json.loads(line) for line in (tmp_path / "runs" / name / "metrics.jsonl").read_text().splitlines()]


def test_tcvae_trains_logs_the_three_terms_and_keeps_the_loss_identity(tmp_path):
    rows = train_tiny(tmp_path, "tc4", tc_weight=4.0)
    for row in rows:
        for prefix in ("", "val_"):
            information, correlation, dimensionwise = (
                row[f"{prefix}{key}"] for key in ("mutual_information", "total_correlation", "dimensionwise_kl")
            )
            assert row[f"{prefix}loss"] == pytest.approx(
                row[f"{prefix}reconstruction_loss"] + row[f"{prefix}kl_penalty"]
            )
            expected = row["kl_weight"] * (information + 4.0 * correlation + dimensionwise)
            assert row[f"{prefix}kl_penalty"] == pytest.approx(expected, rel=1e-4, abs=1e-3)
            # the sum is a one-sample Monte Carlo estimate of the analytic KL of the same images: its sd is about
            # 0.1 nats over the 576 training images and 0.3 over the 64 validation ones; we allow about 3 sd
            tolerance = 1.0 if prefix else 0.35
            assert information + correlation + dimensionwise == pytest.approx(row[f"{prefix}kl_loss"], abs=tolerance)
            assert information >= -0.5 and correlation >= -0.5  # MWS can dip below 0 only by its bias
    assert (
        "TC weight 4"
        in json.loads((tmp_path / "runs" / "tc4" / "manifest.json").read_text())["kl_schedule"]["description"]
    )


def test_tc_weight_one_trains_like_the_plain_vae(tmp_path):
    """beta = 1: the loss is recon + a one-sample estimate of the KL (unbiased), so it tracks the plain VAE's."""
    plain = train_tiny(tmp_path, "plain")
    tc_one = train_tiny(tmp_path, "tc1", tc_weight=1.0)
    for a, b in zip(plain, tc_one):
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=0.02)
        assert b["val_kl_penalty"] == pytest.approx(b["val_kl_loss"], abs=1.0)  # ~3 sd over 64 images (above)


def test_tc_weight_is_refused_with_free_bits_capacity_or_an_ae():
    from vaecli.config import validate
    from vaecli.errors import ConfigError

    with pytest.raises((ConfigError, ValueError), match="not combinable"):
        validate(tiny_config(loss={"tc_weight": 2.0, "free_bits": 0.1}))
    with pytest.raises((ConfigError, ValueError), match="tc_weight"):
        validate(tiny_config(model={"kind": "ae"}, loss={"tc_weight": 2.0}))


CONFIG = tiny_config(
    data={"num_images": 3000}, loss={"tc_weight": 6.0}, train={"epochs": 4, "batch_size": 50}, output={"image_every": 2}
)


def test_tcvae_resumes_bit_exactly_after_sigkill(write_config, tmp_path):
    path = write_config(CONFIG)
    code, output = finish(vae("train", path, "--runs-dir", tmp_path / "a", "-q"))
    assert code == 0, output
    run = tmp_path / "b" / "tiny"
    killed_after_first_checkpoint(path, run)
    assert json.loads((run / "manifest.json").read_text())["epochs_completed"] < 4
    code, output = finish(vae("train", "--resume", run, "-q"))
    assert code == 0, output
    resumed, uninterrupted = comparable(run), comparable(tmp_path / "a" / "tiny")
    assert resumed == uninterrupted and "total_correlation" in resumed[-1]
    for mine, theirs in zip(weights(run), weights(tmp_path / "a" / "tiny")):
        np.testing.assert_array_equal(mine, theirs)


del ok  # the module's trainings go through train_tiny
