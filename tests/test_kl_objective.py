"""Audit defects of the KL objective (issue 17): cyclical schedules too short for their cycles, and one KL
factor for capacity runs in the manifest, the evaluation and the float64 reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tests.helpers import ok, tiny_config, vae
from vaecli.config import validate
from vaecli.errors import ConfigError
from vaecli.losses import KLObjective


def _config(**loss):
    return validate(tiny_config(loss={"kl_factor": 1.0, **loss}, train={"epochs": 1}))


def test_a_cyclical_schedule_with_too_few_steps_per_cycle_is_refused():
    config = _config(kl_schedule="cyclical", cycles=4, cycle_ratio=0.5)
    with pytest.raises(ConfigError, match=r"loss.cycles is 4 but the run has 6 optimizer steps .* at most 3 cycles"):
        KLObjective.from_config(config, steps_per_epoch=6)  # 1 epoch x 6 steps < 2 steps x 4 cycles


def test_cyclical_with_two_steps_per_cycle_reaches_its_factor():
    objective = KLObjective.from_config(_config(kl_schedule="cyclical", cycles=3, cycle_ratio=0.5), steps_per_epoch=6)
    weights = [float(objective.weight(step)) for step in range(6)]
    assert weights == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]  # each 2-step cycle: phase 0, then phase 1/2 = ratio


def test_vae_train_refuses_it_in_one_line_and_leaves_no_run(tmp_path):
    config = tmp_path / "cyclical.yaml"
    config.write_text(yaml.safe_dump(tiny_config(loss={"kl_schedule": "cyclical", "cycles": 8}, train={"epochs": 1})))
    result = vae("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "loss.cycles is 8 but the run has 6 optimizer steps" in lines[0]
    assert not (tmp_path / "runs" / "tiny" / "manifest.json").exists()


def test_capacity_runs_record_gamma_as_their_kl_factor_everywhere(tmp_path):
    from benchmarks.numpy_reference import TOLERANCE_NATS, compare
    from vaecli.api import load_run
    from vaecli.evaluation.likelihood import trained_decoder

    config = tmp_path / "capacity.yaml"
    loss = {"reconstruction": "mse", "kl_factor": 1.0, "capacity": {"max_nats": 5.0, "gamma": 50.0}}
    config.write_text(yaml.safe_dump(tiny_config(loss=loss, train={"epochs": 1, "mixed_precision": False})))
    ok("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    manifest = json.loads((tmp_path / "runs" / "tiny" / "manifest.json").read_text())
    assert manifest["kl_factor"] == 50.0 and manifest["effective_kl_factor"] == 50.0
    assert trained_decoder(load_run(tmp_path / "runs" / "tiny")) == ("gaussian", 25.0)  # sigma^2 = f_eff / 2
    rows = [json.loads(line) for line in (tmp_path / "runs" / "tiny" / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["kl_weight"] == pytest.approx(50.0)  # the weight training logged: the same factor
    for name, (evaluated, recomputed) in compare(tmp_path / "runs" / "tiny", "test", 32).items():
        assert abs(evaluated - recomputed) <= TOLERANCE_NATS, (name, evaluated, recomputed)
    assert np.isfinite(manifest["effective_kl_factor"])
