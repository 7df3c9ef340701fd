"""`vae assay` on real tiny runs: a decoder that ignores dimensions shows them as unused; bad input is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import ok, tiny_config, train_run, vae
from vaecli.runs import RunPaths
from vaecli.runs.integrity import record_final_models

pytestmark = pytest.mark.slow
IGNORED = (1, 3)


@pytest.fixture(scope="module")
def blind_run(tmp_path_factory):
    """A tiny VAE (z_dim 5) whose decoder's first Dense layer gets zero input rows for IGNORED."""
    import keras

    # kl_factor 0.01: no dimension collapses, so the only unused ones are those zeroed here
    run = train_run(tmp_path_factory.mktemp("assay"), tiny_config(model={"z_dim": 5}, loss={"kl_factor": 0.01}))
    decoder = keras.models.load_model(run / "decoder.keras", compile=False)
    dense = decoder.get_layer("decoder_dense")
    kernel, bias = dense.get_weights()
    kernel[list(IGNORED), :] = 0.0
    dense.set_weights([kernel, bias])
    decoder.save(run / "decoder.keras")
    record_final_models(RunPaths(run))  # replaced on purpose, not damaged
    return run


def test_dimensions_the_decoder_ignores_are_unused_in_the_response_matrix(blind_run):
    output = ok("assay", blind_run, "--limit", "200", "--steps", "9")
    assert "z1 (unused)" in output and "z3 (unused)" in output and "3/5 dimensions used" in output
    found = json.loads((blind_run / "evaluation" / "assay.json").read_text())
    matrix = np.array(found["response_matrix"])
    assert found["unused"] == list(IGNORED)
    assert np.all(matrix[list(IGNORED)] == 0.0)  # the decoder's output does not change at all
    used = [d for d in range(5) if d not in IGNORED]
    assert matrix[used].max(axis=1).min() > 0.05  # every other dimension moves the response
    # the map's default dims are the two with the largest diagonal response, both used ones
    assert set(found["response_map"]["dims"]) <= set(used)
    distance = np.array(found["response_map"]["distance"])
    assert distance.shape == (9, 9) and np.all(distance >= 0)
    for name in ("latent_response_matrix.png", "response_map.png"):
        assert (blind_run / "evaluation" / name).stat().st_size > 1000


def test_the_matrix_agrees_with_a_direct_computation(blind_run):
    """M_ij from the saved models by hand: the same base points and the same intervention draws."""
    import keras

    import vaecli.api
    from vaecli.evaluation.assays import aggregate_posterior, assay

    run = vaecli.api.load_run(blind_run)
    result = assay(run, limit=64, response_map=False, seed=4, save=False)
    encoder = keras.models.load_model(blind_run / "encoder.keras", compile=False)
    decoder = keras.models.load_model(blind_run / "decoder.keras", compile=False)
    images = run.split("test", 64).images.astype(np.float32) / 255.0
    z_mean, z_log_var = (np.asarray(part) for part in encoder(images))
    base = aggregate_posterior(z_mean, z_log_var, seed=4)

    def response(z):
        return np.asarray(encoder(np.asarray(decoder(z)))[0])

    rng = np.random.default_rng(4)
    for i in range(5):
        intervened = base.copy()
        intervened[:, i] = base[rng.integers(0, 64, 64), i]
        moved = response(intervened) - response(base)
        expected = np.sqrt(np.mean(moved.astype(np.float64) ** 2, axis=0)) / base.std(axis=0)
        np.testing.assert_allclose(result.response_matrix[i], expected, rtol=1e-3, atol=1e-5)


def test_a_response_map_of_a_one_dimensional_run_is_one_line(tmp_path):
    run = train_run(tmp_path, tiny_config(name="line", model={"z_dim": 1}, train={"epochs": 1}))
    result = vae("assay", run)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and "z_dim >= 2" in lines[0], result.output
    assert not (run / "evaluation").exists()
    ok("assay", run, "--no-map", "--limit", "50")  # the matrix alone works
    assert not (run / "evaluation" / "response_map.png").exists()
    bad = vae("assay", run, "--dims", "0,0", "--no-map")
    assert bad.exit_code == 2
