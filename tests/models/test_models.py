"""Encoder/decoder shapes and layer choices built from configs."""

import numpy as np
import pytest

from tests.helpers import tiny_config
from vaecli.config import validate


def build(**sections):
    from vaecli.models import build_decoder, build_encoder

    config = validate(tiny_config(**sections))
    return config, build_encoder(config, (16, 16, 3)), build_decoder(config, (16, 16, 3))


def test_vae_encoder_gives_mean_and_log_var_and_decoder_restores_the_shape():
    config, encoder, decoder = build()
    z_mean, z_log_var = encoder(np.zeros((2, 16, 16, 3), "float32"))
    assert z_mean.shape == (2, 4) and z_log_var.shape == (2, 4)
    images = np.asarray(decoder(np.random.default_rng(0).normal(size=(2, 4)).astype("float32")))
    assert images.shape == (2, 16, 16, 3) and images.min() >= 0 and images.max() <= 1


def test_ae_encoder_gives_one_code():
    _, encoder, _ = build(model={"kind": "ae"})
    assert encoder(np.zeros((3, 16, 16, 3), "float32")).shape == (3, 4)


def test_book_architecture_on_28x28_grey():
    from vaecli.models import build_decoder, build_encoder

    config = validate(
        {
            "data": {"source": "fashion_mnist"},
            "model": {
                "z_dim": 2,
                "decoder": {"filters": [64, 64, 32, 1], "kernel_sizes": [3] * 4, "strides": [1, 2, 2, 1]},
            },
        }
    )
    encoder, decoder = build_encoder(config, (28, 28, 1)), build_decoder(config, (28, 28, 1))
    assert encoder.get_layer("flatten").output.shape[1:] == (7 * 7 * 64,)
    assert decoder.output.shape[1:] == (28, 28, 1)
    assert [layer.strides for layer in encoder.layers if "conv" in layer.name and hasattr(layer, "strides")] == [
        (1, 1),
        (2, 2),
        (2, 2),
        (1, 1),
    ]


@pytest.mark.parametrize(
    "activation, dropout_class, initializer",
    [
        ("selu", "AlphaDropout", "LecunNormal"),
        ("relu", "Dropout", "GlorotUniform"),
        ("leaky_relu", "Dropout", "GlorotUniform"),
    ],
)
def test_activation_dropout_and_init_follow_the_config(activation, dropout_class, initializer):
    _, encoder, decoder = build(model={"activation": activation, "dropout": 0.2, "batch_norm": True})
    names = [type(layer).__name__ for layer in encoder.layers]
    assert dropout_class in names and "BatchNormalization" in names
    conv = encoder.get_layer("encoder_conv_0")
    assert type(conv.kernel_initializer).__name__ == initializer


def test_sampling_is_seeded_and_follows_the_variance():
    from vaecli.models import Sampling

    mean, log_var = np.full((20000, 2), 3.0, "float32"), np.full((20000, 2), np.log(4.0), "float32")
    first = np.asarray(Sampling(seed=1, dtype="float32")([mean, log_var]))
    second = np.asarray(Sampling(seed=1, dtype="float32")([mean, log_var]))
    assert np.array_equal(first, second)
    assert abs(first.mean() - 3.0) < 0.05 and abs(first.std() - 2.0) < 0.05


def test_every_dropout_layer_and_the_sampling_layer_draw_their_own_noise():
    # Two dropout layers of the same rate on inputs of the same shape: with one shared seed their
    # masks were identical element by element; each now has a seed derived from train.seed and its name.
    from vaecli.models import layer_seed

    _, encoder, _ = build(model={"dropout": 0.5})
    dropouts = [layer for layer in encoder.layers if type(layer).__name__ == "Dropout"]
    assert len(dropouts) == 2 and len({layer.seed for layer in dropouts}) == 2
    ones = np.ones((4, 8, 8, 16), "float32")
    masks = [np.asarray(layer(ones, training=True)) != 0 for layer in dropouts]
    assert 0.3 < masks[0].mean() < 0.7 and 0.3 < masks[1].mean() < 0.7
    assert (masks[0] != masks[1]).mean() > 0.3  # independent masks disagree on about half of the elements
    seeds = {layer_seed(3, name) for name in ("encoder_conv_0_dropout", "encoder_conv_1_dropout", "sampling")}
    assert len(seeds) == 3 and layer_seed(3, "sampling") != layer_seed(4, "sampling")


def test_the_decoder_ends_in_logits_then_a_sigmoid_layer():
    from vaecli.models import decoder_logits_model

    _, _, decoder = build()
    assert decoder.layers[-1].name == "decoder_images" and decoder.layers[-2].name == "decoder_logits"
    z = np.random.default_rng(1).normal(size=(3, 4)).astype("float32")
    logits = np.asarray(decoder_logits_model(decoder)(z))
    np.testing.assert_allclose(np.asarray(decoder(z)), 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-7)
