"""One likelihood: training, validation and `vae evaluate` give the same nats for the same images and z.

Hand-built decoders make the numbers exact: on a folder of white images, a decoder whose logit
is -20 for one pixel and +40 for every other costs 20 nats per image (not the 16.1 of BCE from
probabilities clipped at 1e-7), in the training loss and in `vae evaluate`, for decoders saved
in today's layout (linear logits + a sigmoid layer) and in the layout of older runs (a last
layer with the sigmoid built in).
"""

import json
import math
import shutil

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.helpers import ok, tiny_config
from vaecli.runs import RunPaths
from vaecli.runs.integrity import record_final_models

pytestmark = pytest.mark.slow

SIZE = 16
WRONG_LOGIT, RIGHT_LOGIT = -20.0, 40.0
EXPECTED_NATS = (
    -WRONG_LOGIT + math.log1p(math.exp(WRONG_LOGIT)) + (SIZE * SIZE - 1) * math.log1p(math.exp(-RIGHT_LOGIT))
)
EVALUATE_FAST = ["--iw-samples", "2", "--n-samples", "10", "--box", "1", "--features", "pixels"]


def white_folder_run(tmp_path):
    """A tiny VAE trained for one epoch on 60 white 16x16 grey images (every target pixel is 1)."""
    folder = tmp_path / "white"
    folder.mkdir()
    for index in range(60):
        Image.fromarray(np.full((SIZE, SIZE), 255, np.uint8)).save(folder / f"{index:03d}.png")
    config = tiny_config(
        name="white",
        data={"source": "image_folder", "path": str(folder), "image_size": SIZE, "channels": "grayscale"},
        model={"decoder": {"filters": [16, 1], "kernel_sizes": [3, 3], "strides": [2, 2]}},
        train={"epochs": 1, "batch_size": 20},
    )
    config["data"].pop("num_images"), config["data"].pop("num_test_images")
    config["data"]["cache_dir"] = str(tmp_path / "cache")
    path = tmp_path / "white.yaml"
    path.write_text(yaml.safe_dump(config))
    ok("train", path, "--runs-dir", tmp_path / "runs", "--quiet")
    return tmp_path / "runs" / "white"


def hand_decoder(z_dim: int, old_layout: bool):
    """z -> logit -20 at pixel (0, 0), +40 elsewhere, whatever z; then the sigmoid (as its own layer, or built
    into a last 1x1 Conv2DTranspose as decoders saved before the split were)."""
    import keras
    from keras import layers

    bias = np.full(SIZE * SIZE, RIGHT_LOGIT, np.float32)
    bias[0] = WRONG_LOGIT
    z = keras.Input((z_dim,), name="z")
    dense = layers.Dense(SIZE * SIZE, kernel_initializer="zeros", name="decoder_dense")
    logits = layers.Reshape((SIZE, SIZE, 1))(dense(z))
    dense.set_weights([np.zeros((z_dim, SIZE * SIZE), np.float32), bias])
    if old_layout:
        last = layers.Conv2DTranspose(1, 1, activation="sigmoid", name="decoder_conv_t_1")
        images = last(logits)
        last.set_weights([np.ones((1, 1, 1, 1), np.float32), np.zeros(1, np.float32)])
    else:
        images = layers.Activation("sigmoid", name="decoder_images")(logits)
    return keras.Model(z, images, name="decoder")


def training_reconstruction(encoder, decoder) -> float:
    """The reconstruction_loss one real training step logs on a batch of white images (learning rate 0)."""
    import keras
    import tensorflow as tf

    from vaecli.models import AutoEncoder

    model = AutoEncoder(encoder, decoder)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    batch = tf.data.Dataset.from_tensors(np.full((20, SIZE, SIZE, 1), 255, np.uint8))
    return float(model.fit(batch, epochs=1, verbose=0, shuffle=False).history["reconstruction_loss"][0])


@pytest.mark.parametrize("old_layout", [False, True], ids=["logits+sigmoid layer", "older runs' sigmoid conv"])
def test_a_logit_of_minus_20_on_a_white_pixel_costs_20_nats_in_training_and_in_evaluate(tmp_path, old_layout):
    import keras

    run = white_folder_run(tmp_path)
    encoder = keras.models.load_model(run / "encoder.keras")
    decoder = hand_decoder(4, old_layout)
    decoder.save(run / "decoder.keras")
    record_final_models(RunPaths(run))  # replaced on purpose, not damaged
    if not old_layout:  # training always builds today's layout (an older run resumes into it: same weights)
        assert training_reconstruction(encoder, decoder) == pytest.approx(EXPECTED_NATS, rel=1e-5)

    ok("evaluate", run, *EVALUATE_FAST, "--split", "train")  # the test split holds only 6 images
    likelihood = json.loads((run / "evaluation.json").read_text())["likelihood"]
    assert likelihood["reconstruction"]["bce_nats"] == pytest.approx(EXPECTED_NATS, rel=1e-5)  # not 16.1
    assert likelihood["expected_reconstruction_nats"] == pytest.approx(EXPECTED_NATS, rel=1e-5)
    assert likelihood["elbo_nats"] == pytest.approx(-(EXPECTED_NATS + likelihood["kl_nats"]), rel=1e-5)
    # The saved decoder still gives users images in [0, 1].
    images = np.asarray(keras.models.load_model(run / "decoder.keras")(np.zeros((1, 4), np.float32)))
    assert images.min() >= 0 and images.max() <= 1 and images[0, 0, 0, 0] < 1e-8


def test_the_evaluations_reconstruction_from_z_mean_equals_the_validation_steps(tmp_path):
    """Same images, same z (z_mean): the same nats, even where the logits saturate (|l| up to ~100)."""
    import keras

    from vaecli.data.splits import load_splits
    from vaecli.models import AutoEncoder

    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(train={"epochs": 2})))
    ok("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    run = tmp_path / "runs" / "tiny"
    decoder = keras.models.load_model(run / "decoder.keras")
    last = decoder.get_layer("decoder_logits")
    kernel, bias = last.get_weights()
    last.set_weights([kernel * 25.0, bias * 25.0 + 5.0])  # a confident decoder: many saturated pixels
    decoder.save(run / "decoder.keras")
    record_final_models(RunPaths(run))
    shutil.rmtree(run / "evaluation", ignore_errors=True)

    ok("evaluate", run, *EVALUATE_FAST)
    evaluated = json.loads((run / "evaluation.json").read_text())["likelihood"]["reconstruction"]["bce_nats"]

    encoder = keras.models.load_model(run / "encoder.keras")
    model = AutoEncoder(encoder, decoder)
    model.compile(optimizer="adam")
    images = load_splits(yaml_config(config)).test.images
    reconstruction, _ = model.per_image_losses(images, training=False, sample=False)
    validation = float(np.mean(np.asarray(reconstruction, np.float64)))
    assert validation > 2000  # saturated: far above the 532 nats of predicting 0.5 everywhere
    assert evaluated == pytest.approx(validation, rel=1e-4)


def yaml_config(path):
    from vaecli.config import load_config

    return load_config(path)


def test_an_mse_run_is_evaluated_under_its_gaussian_decoder_with_the_bernoulli_figures_beside(tmp_path):
    config = tmp_path / "mse.yaml"
    config.write_text(
        yaml.safe_dump(tiny_config(name="mse", loss={"reconstruction": "mse", "kl_factor": 0.02}, train={"epochs": 2}))
    )
    ok("train", config, "--runs-dir", tmp_path / "runs", "--quiet")
    output = ok("evaluate", tmp_path / "runs" / "mse", *EVALUATE_FAST)
    assert "Gaussian, sigma^2 = 0.01" in output and "[Bernoulli]" in output
    likelihood = json.loads((tmp_path / "runs" / "mse" / "evaluation.json").read_text())["likelihood"]
    assert likelihood["decoder"] == "gaussian" and likelihood["gaussian_variance"] == pytest.approx(0.01)
    values = 16 * 16 * 3
    reconstruction = likelihood["reconstruction"]
    # -log N(x | mu, 0.01 I) = sum (x - mu)^2 / 0.02 + D/2 log(2 pi 0.01), averaged over images (linear).
    expected = reconstruction["mse_sum"] / 0.02 + 0.5 * values * math.log(2 * math.pi * 0.01)
    assert reconstruction["gaussian_nats"] == pytest.approx(expected, rel=1e-9)
    assert likelihood["elbo_nats"] == pytest.approx(
        -(likelihood["expected_reconstruction_nats"] + likelihood["kl_nats"])
    )
    bernoulli = likelihood["bernoulli"]
    assert bernoulli["elbo_nats"] == pytest.approx(-(bernoulli["expected_reconstruction_nats"] + likelihood["kl_nats"]))
    assert bernoulli["expected_reconstruction_nats"] == pytest.approx(reconstruction["bce_nats"], rel=0.05)
    assert likelihood["elbo_nats"] != pytest.approx(bernoulli["elbo_nats"], rel=0.01)  # two different decoders
