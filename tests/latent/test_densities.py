"""Fitted latent densities: known answers on constructed encodings, a tiny real run end to end, bad input."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest
import yaml

from tests.helpers import ok, tiny_config, vae
from vaecli.errors import LatentError
from vaecli.latent.mixtures import DensityFit, check_encodings, fit_mixture, log_density, sample_density
from vaecli.runs import RunPaths
from vaecli.runs.integrity import record_final_models

TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, -2.0], [0.0, 7.0, 3.0]])
TRUE_SCALES = np.array([1.0, 0.5, 0.8])


def _mixture_points(count: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    component = rng.choice(3, size=count, p=TRUE_WEIGHTS)
    return TRUE_MEANS[component] + rng.standard_normal((count, 3)) * TRUE_SCALES[component, None]


def test_a_gmm_recovers_a_known_three_component_mixture():
    weights, means, covariances, bic, converged = fit_mixture(_mixture_points(6000), 3, seed=0)
    order = [int(np.argmin(np.linalg.norm(means - true, axis=1))) for true in TRUE_MEANS]
    assert sorted(order) == [0, 1, 2]  # each true component found once
    np.testing.assert_allclose(means[order], TRUE_MEANS, atol=0.1)
    np.testing.assert_allclose(weights[order], TRUE_WEIGHTS, atol=0.02)
    variances = np.array([np.diag(covariances[k]).mean() for k in order])
    np.testing.assert_allclose(variances, TRUE_SCALES**2, rtol=0.1)
    assert converged and np.isfinite(bic)


def _fit(weights, means, covariances) -> DensityFit:
    return DensityFit("test", "gmm", np.asarray(weights, float), np.asarray(means, float), np.asarray(covariances))


def test_10000_samples_match_the_fitted_mean_and_covariance():
    covariances = np.array([[[1.0, 0.6], [0.6, 2.0]], [[0.5, -0.2], [-0.2, 0.3]]])
    fit = _fit([0.7, 0.3], [[1.0, -1.0], [4.0, 2.0]], covariances)
    points = sample_density(fit, 10_000, seed=5)
    mean = fit.weights @ fit.means  # the mixture's mean and covariance, from its parameters
    second = sum(w * (c + np.outer(m, m)) for w, m, c in zip(fit.weights, fit.means, fit.covariances))
    covariance = second - np.outer(mean, mean)
    assert points.shape == (10_000, 2) and points.dtype == np.float32
    standard_error = np.sqrt(np.diag(covariance) / 10_000)
    np.testing.assert_array_less(np.abs(points.mean(axis=0) - mean), 4 * standard_error)
    np.testing.assert_allclose(np.cov(points.T), covariance, atol=0.1)
    np.testing.assert_array_equal(points, sample_density(fit, 10_000, seed=5))  # seeded
    assert not np.array_equal(points, sample_density(fit, 10_000, seed=6))


def test_log_density_is_the_mixture_of_scipy_normals():
    from scipy.stats import multivariate_normal

    covariances = np.array([[[1.0, 0.6], [0.6, 2.0]], [[0.5, -0.2], [-0.2, 0.3]]])
    fit = _fit([0.7, 0.3], [[1.0, -1.0], [4.0, 2.0]], covariances)
    points = np.array([[0.0, 0.0], [4.0, 2.0], [10.0, -3.0]])
    expected = np.log(
        0.7 * multivariate_normal(fit.means[0], covariances[0]).pdf(points)
        + 0.3 * multivariate_normal(fit.means[1], covariances[1]).pdf(points)
    )
    np.testing.assert_allclose(log_density(fit, points), expected, rtol=1e-10)


def test_nan_encodings_and_too_many_components_are_refused():
    points = _mixture_points(20)
    points[3, 1] = np.nan
    with pytest.raises(LatentError, match="1 of 20 encodings hold NaN"):
        check_encodings(points, "z")
    with pytest.raises(LatentError, match=r"components \(21\) must not exceed the number of encodings \(20\)"):
        fit_mixture(_mixture_points(20), 21)


# ------------------------------------------------------------------------------ a tiny real run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny VAE (z_dim 4) and a tiny AE (z_dim 6), trained for real."""
    root = tmp_path_factory.mktemp("densities")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAECLI_CACHE", str(root / "cache"))
        for name, kind, z_dim in (("tiny", "vae", 4), ("tiny_ae", "ae", 6)):
            config = root / f"{name}.yaml"
            config.write_text(yaml.safe_dump(tiny_config(name=name, model={"kind": kind, "z_dim": z_dim})))
            ok("train", config, "--runs-dir", root / "runs", "--quiet")
        yield root / "runs"


def _one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def test_fit_sample_and_evaluate_through_the_cli(runs, monkeypatch):
    from vaecli.cli import console

    monkeypatch.setattr(console, "width", 250)
    run = runs / "tiny"
    output = ok("fit-density", run, "--kind", "gmm", "--components", "3")
    assert "GMM, 3 components" in output and "576 train encodings" in output
    details = json.loads((run / "densities" / "gmm3.json").read_text())
    assert details["components"] == 3 and details["fit_on"] == {
        "split": "train",
        "limit": None,
        "count": 576,
        "dataset_fingerprint": details["fit_on"]["dataset_fingerprint"],
    }
    assert details["z_dim"] == 4 and details["test_count"] == 64 and details["test_held_out"]
    assert np.isfinite(details["test_log_likelihood_nats"]) and np.isfinite(details["bic"])
    with np.load(run / "densities" / "gmm3.npz") as arrays:
        assert arrays["means"].shape == (3, 4) and arrays["covariances"].shape == (3, 4, 4)
        assert arrays["weights"].sum() == pytest.approx(1.0)

    ok("sample", "--run", run, "--density", "gmm3", "-n", "12", "--seed", "2")
    with h5py.File(run / "samples" / "density_gmm3_seed2.h5") as handle:
        points = handle["z"][:]
        assert handle.attrs["density"] == "gmm3" and handle.attrs["region"] == "density"
    assert points.shape == (12, 4)
    assert (run / "samples" / "density_gmm3_seed2.png").stat().st_size > 0

    ok("fit-density", run, "--kind", "gaussian")
    output = ok(
        "evaluate", run, "--features", "pixels", "-n", "20", "--box", "1", "--density", "gmm3", "--density", "gaussian"
    )
    assert "density gmm3" in output and "fitted densities" in output
    evaluation = json.loads((run / "evaluation.json").read_text())
    rows = {row["label"]: row for row in evaluation["plausibility"]["rows"]}
    assert rows["density gmm3"]["num_points"] == rows["prior"]["num_points"] == rows["box B=1"]["num_points"] == 20
    assert 0 <= rows["density gmm3"]["precision"] <= 1 and rows["density gaussian"]["frechet_distance"] > 0
    gap = evaluation["densities"]["gaussian"]
    assert gap["prior_gap_nats"] == pytest.approx(gap["prior_log_likelihood_nats"] - gap["split_log_likelihood_nats"])

    ok("report", run)
    page = (run / "report.html").read_text()
    assert "density gmm3" in page and "Fitted densities" in page
    compared = ok("compare", run, "--features", "pixels")
    assert "P gmm3" in compared and "R gaussian" in compared and "gap gaussian" in compared


def test_posterior_sample_density_of_a_vae(runs):
    from vaecli.api import load_run
    from vaecli.latent.densities import fit_density, load_density

    run = load_run(runs / "tiny")
    fit = fit_density(run, kind="gaussian", encoding="z", seed=1)
    assert fit.name == "gaussian_z" and fit.details["encoding"] == "z"
    loaded = load_density(run, "gaussian_z")
    np.testing.assert_array_equal(loaded.covariances, fit.covariances)
    z_mean_fit = fit_density(run, kind="gaussian", save=False)
    # a posterior sample adds its noise: every variance of the z fit is larger than the z_mean fit's
    assert np.all(np.diag(fit.covariances[0]) > np.diag(z_mean_fit.covariances[0]))
    with pytest.raises(LatentError, match="encoding 'z' needs a VAE"):
        fit_density(load_run(runs / "tiny_ae"), kind="gaussian", encoding="z")


def test_more_components_than_encodings_writes_nothing(runs):
    line = _one_error_line(vae("fit-density", runs / "tiny_ae", "--components", "5", "--limit", "3"))
    assert "components (5) must not exceed the number of encodings (3 train images)" in line
    assert not (runs / "tiny_ae" / "densities").exists()


def test_an_unknown_density_is_one_line(runs):
    line = _one_error_line(vae("sample", "--run", runs / "tiny_ae", "--density", "gmm99"))
    assert "density 'gmm99' does not exist" in line
    line = _one_error_line(vae("evaluate", runs / "tiny_ae", "--features", "pixels", "--density", "nope"))
    assert "density 'nope' does not exist" in line
    assert not (runs / "tiny_ae" / "evaluation.json").exists()


def test_a_density_of_another_z_dim_is_refused(runs):
    ok("fit-density", runs / "tiny", "--kind", "gaussian", "--name", "four_dims")
    target = runs / "tiny_ae" / "densities"
    target.mkdir(exist_ok=True)
    for suffix in (".json", ".npz"):
        shutil.copy(runs / "tiny" / "densities" / f"four_dims{suffix}", target)
    line = _one_error_line(vae("sample", "--run", runs / "tiny_ae", "--density", "four_dims"))
    assert "fit to 4-dimensional encodings, but the run's z_dim is 6" in line
    assert not (runs / "tiny_ae" / "samples").exists()


def test_nan_encodings_from_a_diverged_encoder_write_nothing(runs, tmp_path):
    import keras

    broken = tmp_path / "broken"
    shutil.copytree(runs / "tiny_ae", broken)
    shutil.rmtree(broken / "densities", ignore_errors=True)
    encoder = keras.models.load_model(broken / "encoder.keras")
    encoder.set_weights([np.full_like(weights, np.nan) for weights in encoder.get_weights()])
    encoder.save(broken / "encoder.keras")
    record_final_models(RunPaths(broken))  # replaced on purpose, not damaged
    line = _one_error_line(vae("fit-density", broken, "--kind", "gaussian"))
    assert "encodings hold NaN or Inf" in line
    assert not (broken / "densities").exists()


def test_an_existing_density_is_kept_unless_forced(runs):
    ok("fit-density", runs / "tiny_ae", "--kind", "gaussian", "--name", "kept")
    before = (runs / "tiny_ae" / "densities" / "kept.json").read_text()
    assert "already exists" in _one_error_line(
        vae("fit-density", runs / "tiny_ae", "--kind", "gaussian", "--name", "kept")
    )
    assert (runs / "tiny_ae" / "densities" / "kept.json").read_text() == before
    ok("fit-density", runs / "tiny_ae", "--kind", "gmm", "--components", "2", "--name", "kept", "--force")
    assert json.loads((runs / "tiny_ae" / "densities" / "kept.json").read_text())["components"] == 2


def test_doctor_finds_half_written_densities(tmp_path):
    from vaecli.runs.doctor import incomplete_densities

    folder = tmp_path / "densities"
    assert incomplete_densities(folder) == []
    folder.mkdir()
    for name in ("whole.npz", "whole.json", "killed.npz", "orphan.json"):
        (folder / name).write_text("")
    problems = incomplete_densities(folder)
    assert len(problems) == 2
    assert "killed.npz has no killed.json" in problems[0] and "orphan.json has no orphan.npz" in problems[1]
