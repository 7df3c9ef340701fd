"""Bits per dimension of a Gaussian (MSE) run: the discretised convention of 8-bit data, stated (issue 17)."""

from __future__ import annotations

import json
import math

import pytest
import yaml

from tests.helpers import ok, tiny_config
from vaecli.evaluation.metrics import bits_per_dimension, discretised_bits_per_dimension


def test_the_uniform_density_on_the_unit_cube_is_8_bits_per_dimension():
    # -log p(x) = 0 nats for the uniform density on [0, 1]^D: each of the 256 bins has probability 1/256
    assert discretised_bits_per_dimension(0.0, (4, 4, 3)) == pytest.approx(8.0)
    # a density 2x the uniform one in every value: 7 bits/dim
    assert discretised_bits_per_dimension(-48 * math.log(2), (4, 4, 3)) == pytest.approx(7.0)
    assert bits_per_dimension(48 * math.log(2), (4, 4, 3)) == pytest.approx(1.0)  # a discrete model's: as it was


def test_an_mse_run_reports_discretised_bits_per_dimension(tmp_path):
    config = tmp_path / "mse.yaml"
    config.write_text(yaml.safe_dump(tiny_config(loss={"reconstruction": "mse", "kl_factor": 0.05})))
    runs = tmp_path / "runs"
    ok("train", config, "--runs-dir", runs, "--quiet")
    ok("evaluate", runs / "tiny", "--features", "pixels", "-k", "2", "-n", "20", "--box", "1")
    likelihood = json.loads((runs / "tiny" / "evaluation.json").read_text())["likelihood"]
    values = 16 * 16 * 3
    assert likelihood["decoder"] == "gaussian"
    for bound in ("elbo", "iwae"):
        nats = likelihood[f"{bound}_nats"]
        assert nats > 0  # a small variance (0.025): a density far above 1, so the raw bits/dim would be negative
        expected = (-nats + values * math.log(256)) / (values * math.log(2))
        assert likelihood[f"{bound}_bits_per_dim"] == pytest.approx(expected)
        assert 0 < likelihood[f"{bound}_bits_per_dim"] < 8
    assert "ln 256" in likelihood["bits_per_dim_convention"]
    bernoulli = likelihood["bernoulli"]  # the Bernoulli figures beside them keep the discrete convention
    assert bernoulli["iwae_bits_per_dim"] == pytest.approx(-bernoulli["iwae_nats"] / (values * math.log(2)))
