"""Statistics over seeds: intervals and Welch tests against hand-computed values, and `vae compare --groups`."""

from __future__ import annotations

import csv
import json
import math

import pytest
import yaml
from scipy import stats

from tests.helpers import ok, tiny_config, vae
from vaecli.evaluation.aggregate import group_tests
from vaecli.evaluation.statistics import summarize, welch_p_value


def test_the_interval_of_three_values_by_hand():
    summary = summarize([1.0, 2.0, 3.0])
    t_975_2 = 4.30265273  # Student's t, 97.5% quantile, 2 degrees of freedom (tables, 9 digits)
    assert (summary.n, summary.mean, summary.sd) == (3, 2.0, 1.0)
    assert summary.low == pytest.approx(2.0 - t_975_2 / math.sqrt(3), abs=1e-8)
    assert summary.high == pytest.approx(2.0 + t_975_2 / math.sqrt(3), abs=1e-8)
    assert summary.format(2) == "2.00 [-0.48, 4.48]"


def test_one_value_has_no_interval_and_missing_values_are_left_out():
    assert summarize([0.5]).low is None and summarize([0.5]).format(1) == "0.5"
    assert summarize([1.0, None, float("nan"), 3.0]).mean == 2.0
    with pytest.raises(ValueError):
        summarize([None])


def test_welch_by_hand():
    first, second = [1.0, 2.0, 3.0], [4.0, 5.0, 6.5]
    variance_first, variance_second = 1.0, ((4 - 31 / 6) ** 2 + (5 - 31 / 6) ** 2 + (6.5 - 31 / 6) ** 2) / 2
    error = math.sqrt(variance_first / 3 + variance_second / 3)
    t_value = (2.0 - 31 / 6) / error
    freedom = (variance_first / 3 + variance_second / 3) ** 2 / (
        (variance_first / 3) ** 2 / 2 + (variance_second / 3) ** 2 / 2
    )  # Welch-Satterthwaite
    expected = 2 * stats.t.sf(abs(t_value), freedom)
    assert welch_p_value(first, second) == pytest.approx(expected, rel=1e-10)
    assert welch_p_value(first, second) == pytest.approx(0.0291453, rel=1e-5)
    assert welch_p_value(second, first) == pytest.approx(expected, rel=1e-10)  # two-sided


def test_welch_undefined_cases():
    assert welch_p_value([1.0], [2.0, 3.0]) is None
    assert welch_p_value([1.0, 1.0], [2.0, 2.0]) is None
    assert welch_p_value([1.0, 1.0], [2.0, 3.0]) == pytest.approx(
        stats.ttest_ind([1, 1], [2, 3], equal_var=False).pvalue
    )


def test_group_tests_on_constructed_rows():
    rows = [
        {"run": "a_seed=0", "loss": 1.0, "name": "x"},
        {"run": "a_seed=1", "loss": 2.0, "name": "x"},
        {"run": "a_seed=2", "loss": 3.0, "name": "x"},
        {"run": "b_seed=0", "loss": 4.0, "name": "y"},
        {"run": "b_seed=1", "loss": 5.0, "name": "y"},
        {"run": "b_seed=2", "loss": 6.5, "name": "y"},
    ]
    groups = [
        {"run": "a", "runs": "a_seed=0, a_seed=1, a_seed=2"},
        {"run": "b", "runs": "b_seed=0, b_seed=1, b_seed=2"},
    ]
    (test,) = group_tests(rows, groups, "a", "b")
    assert test["column"] == "loss" and test["a"] == 2.0 and test["difference"] == pytest.approx(31 / 6 - 2)
    assert test["p_value"] == pytest.approx(0.0291453, rel=1e-5)


def test_compare_aggregate_shows_means_intervals_and_welch_tests_over_seeds(tmp_path, monkeypatch):
    from vaecli.cli import console
    from vaecli.evaluation.aggregate import mean_and_sd

    monkeypatch.setattr(console, "width", 250)
    config = tmp_path / "seeds.yaml"
    config.write_text(yaml.safe_dump(tiny_config(name="seeds", train={"epochs": 1})))
    runs = tmp_path / "runs"
    ok("sweep", config, "--set", "loss.kl_factor=0.5,1", "--seeds", "3", "--runs-dir", runs)
    names = [f"seeds_kl_factor={factor}_seed={seed}" for factor in ("0.5", "1") for seed in (0, 1, 2)]
    for name in names:
        ok(
            "evaluate",
            name,
            "--runs-dir",
            runs,
            "--iw-samples",
            4,
            "--n-samples",
            30,
            "--box",
            1,
            "--features",
            "pixels",
        )
    groups_csv, plot = tmp_path / "groups.csv", tmp_path / "groups.png"
    output = ok(
        "compare",
        *names,
        *("--runs-dir", runs, "--aggregate", "--csv", groups_csv, "--plot", plot),
        *("--groups", "seeds_kl_factor=0.5,seeds_kl_factor=1"),
    )
    assert "2 groups of 6 runs" in output and "95% t-interval" in output and "Welch" in output
    assert "train.seed" not in output and plot.stat().st_size > 5000
    with open(groups_csv) as handle:
        groups = list(csv.DictReader(handle))
    assert [group["run"] for group in groups] == ["seeds_kl_factor=0.5", "seeds_kl_factor=1"]
    last = {name: json.loads((runs / name / "metrics.jsonl").read_text().splitlines()[-1]) for name in names}
    elbo = {
        name: json.loads((runs / name / "evaluation.json").read_text())["likelihood"]["elbo_nats"] for name in names
    }
    for group, members in zip(groups, (names[:3], names[3:])):
        assert group["n"] == "3" and group["runs"] == ", ".join(members)
        for column, values in (
            ("val_loss", [last[name]["val_loss"] for name in members]),
            ("elbo", [elbo[n] for n in members]),
        ):
            mean, sd = mean_and_sd(values)
            assert float(group[column]) == pytest.approx(mean) and float(group[f"{column}_sd"]) == pytest.approx(sd)
    losses = {name: last[name]["val_loss"] for name in names}
    first, second = [losses[name] for name in names[:3]], [losses[name] for name in names[3:]]
    expected = summarize(first)
    assert float(groups[0]["val_loss_ci_low"]) == pytest.approx(expected.low)
    assert float(groups[0]["val_loss_ci_high"]) == pytest.approx(expected.high)
    p_value = stats.ttest_ind(first, second, equal_var=False).pvalue
    line = next(line for line in output.splitlines() if line.strip().strip("│┃ ").startswith("val_loss "))
    assert f"{p_value:.2g}" in line
    result = vae("compare", *names, "--runs-dir", runs, "--aggregate", "--groups", "seeds_kl_factor=0.5,nope")
    assert result.exit_code == 2 and "group 'nope' is not among the compared groups" in result.output
    result = vae("compare", *names, "--runs-dir", runs, "--groups", "a,b")
    assert result.exit_code == 2 and "add --aggregate" in result.output
