"""`vae evaluate` agrees with an independent float64 NumPy recomputation (benchmarks/numpy_reference.py)."""

import numpy as np
import pytest
import yaml

from tests.helpers import ok, tiny_config

pytestmark = pytest.mark.slow


def test_numpy_convolutions_match_keras():
    import keras

    from benchmarks.numpy_reference import conv2d, conv2d_transpose

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 6, 3)).astype("float32")
    for layer_class, function in ((keras.layers.Conv2D, conv2d), (keras.layers.Conv2DTranspose, conv2d_transpose)):
        for kernel, stride in ((3, 1), (3, 2), (4, 2), (1, 2)):
            layer = layer_class(5, kernel, strides=stride, padding="same")
            expected = np.asarray(layer(x))
            got = function(x.astype(np.float64), *[w.astype(np.float64) for w in layer.get_weights()], stride)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=f"{layer_class.__name__} {kernel}")


@pytest.mark.parametrize(
    ("model", "loss"),
    [({}, {}), ({"batch_norm": True, "dropout": 0.1, "activation": "selu"}, {}), ({}, {"reconstruction": "mse"})],
    ids=["default", "bn", "mse"],
)
def test_vae_evaluate_agrees_with_float64_numpy_to_a_thousandth_of_a_nat(tmp_path, model, loss):
    from benchmarks.numpy_reference import TOLERANCE_NATS, compare

    config = tmp_path / "tiny.yaml"
    config.write_text(
        yaml.safe_dump(tiny_config(model=model, loss=loss, train={"epochs": 2, "mixed_precision": False}))
    )
    ok("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    results = compare(tmp_path / "runs" / "tiny", "test")
    expected = {"kl", "bce", "elbo", "iwae"} | ({"gaussian", "elbo_bernoulli", "iwae_bernoulli"} if loss else set())
    assert set(results) == expected
    for name, (evaluated, recomputed) in results.items():
        assert abs(evaluated - recomputed) <= TOLERANCE_NATS, (name, evaluated, recomputed)
    assert results["bce"][1] > 100 and results["kl"][1] > 0  # real numbers, not zeros
    assert results["iwae"][1] != results["elbo"][1]  # the bounds are sampled, not copies of one number


def test_the_reference_bounds_use_the_documented_noise(tmp_path):
    """Changing the noise stream's seed changes the reference's IWAE: it really draws from the noise it states."""
    from benchmarks.numpy_reference import reference
    from vaecli.api import load_run
    from vaecli.runs.run import load_split

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(train={"epochs": 1, "mixed_precision": False})))
    ok("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    images = load_split(load_run(tmp_path / "runs" / "tiny"), "test", 16)[0].images
    first, again = reference(tmp_path / "runs" / "tiny", images), reference(tmp_path / "runs" / "tiny", images)
    other = reference(tmp_path / "runs" / "tiny", images, seed=1)
    np.testing.assert_array_equal(first["iwae_bce"], again["iwae_bce"])
    assert not np.allclose(first["iwae_bce"], other["iwae_bce"])
    np.testing.assert_array_equal(first["kl"], other["kl"])  # no noise in the analytic KL


def test_bfloat16_tolerance():
    from benchmarks.numpy_reference import tolerance

    assert tolerance(-1600.0, bfloat16=False) == 1e-3
    assert tolerance(-1600.0, bfloat16=True) == pytest.approx(1.6)
    assert tolerance(3.0, bfloat16=True) == 1e-2
