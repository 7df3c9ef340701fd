"""`vae evaluate` agrees with an independent float64 NumPy recomputation (benchmarks/numpy_reference.py)."""

import numpy as np
import pytest
import yaml

from tests.conftest import ok, tiny_config

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
    "model", [{}, {"batch_norm": True, "dropout": 0.1, "activation": "selu"}], ids=["default", "bn"]
)
def test_vae_evaluate_agrees_with_float64_numpy_to_a_thousandth_of_a_nat(tmp_path, model):
    from benchmarks.numpy_reference import TOLERANCE_NATS, compare

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(model=model, train={"epochs": 2, "mixed_precision": False})))
    ok("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    results = compare(tmp_path / "runs" / "tiny", "test")
    for name, (evaluated, recomputed) in results.items():
        assert abs(evaluated - recomputed) <= TOLERANCE_NATS, (name, evaluated, recomputed)
    assert results["bce"][1] > 100 and results["kl"][1] > 0  # real numbers, not zeros
