"""Tasks (denoise, recolor): seeded corruption, (input, target) pipelines, and end-to-end runs with their grids."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.helpers import metric_rows, tiny_config, write_jpeg_folder
from vaecli.config import validate


def task(**values):
    return validate(tiny_config(task=values)).task


def test_denoise_noise_and_dropped_pixels_have_the_configured_size_and_are_seeded():
    import tensorflow as tf

    from vaecli.data.tasks import batch_seed, corrupt

    images = tf.fill((64, 16, 16, 3), tf.constant(128, tf.uint8))
    noisy = corrupt(images, task(kind="denoise", noise_std=0.1), batch_seed(1, 0, 0)).numpy().astype(float)
    assert abs((noisy - 128).std() - 25.5) < 1.0 and abs((noisy - 128).mean()) < 0.5
    dropped = corrupt(images, task(kind="denoise", drop_fraction=0.3), batch_seed(1, 0, 0)).numpy()
    black = np.all(dropped == 0, axis=-1)
    assert abs(black.mean() - 0.3) < 0.02 and np.all(dropped[~black] == 128)  # whole pixels, all channels
    again = corrupt(images, task(kind="denoise", drop_fraction=0.3), batch_seed(1, 0, 0)).numpy()
    next_epoch = corrupt(images, task(kind="denoise", drop_fraction=0.3), batch_seed(1, 1, 0)).numpy()
    next_batch = corrupt(images, task(kind="denoise", drop_fraction=0.3), batch_seed(1, 0, 1)).numpy()
    assert np.array_equal(dropped, again) and not np.array_equal(dropped, next_epoch)
    assert not np.array_equal(dropped, next_batch)


def test_recolor_input_is_grey_in_three_equal_channels():
    from vaecli.data.synthetic import generate_faces
    from vaecli.data.tasks import batch_seed, corrupt

    images, _ = generate_faces(4, 16, seed=0)
    grey = corrupt(images, task(kind="recolor"), batch_seed(0, 0, 0)).numpy()
    assert grey.shape == images.shape and grey.dtype == np.uint8
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    expected = np.asarray(Image.fromarray(images[0]).convert("L"), float)
    assert np.abs(grey[0, ..., 0] - expected).max() <= 1


def test_denoise_pipeline_pairs_clean_targets_with_fresh_corruption_and_resumes_exactly():
    from vaecli.data.pipeline import ordered_batches, training_batches

    images = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 3), dtype=np.uint8)
    denoise = task(kind="denoise", noise_std=0.2)
    plain = [batch.numpy() for batch in training_batches(images, 4, seed=1, first_epoch=0, last_epoch=3)]
    pairs = [(x.numpy(), y.numpy()) for x, y in training_batches(images, 4, 1, 0, 3, denoise)]
    assert all(np.array_equal(target, clean) for (_, target), clean in zip(pairs, plain))  # same order, clean
    assert all(not np.array_equal(noisy, target) for noisy, target in pairs)
    resumed = [(x.numpy(), y.numpy()) for x, y in training_batches(images, 4, 1, 2, 3, denoise)]
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(resumed, pairs[6:]))
    first, second = ([x.numpy() for x, _ in ordered_batches(images, 4, denoise, seed=1)] for _ in range(2))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))  # validation: one fixed corruption


runner = CliRunner()


@pytest.mark.slow
def test_denoise_run_end_to_end_with_three_row_grids(write_config, tmp_path):
    from vaecli.cli import app

    config = tiny_config(
        name="denoise", task={"kind": "denoise", "noise_std": 0.1, "drop_fraction": 0.2}, train={"epochs": 2}
    )
    result = runner.invoke(app, ["train", str(write_config(config)), "--runs-dir", str(tmp_path / "runs"), "-q"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "denoise"
    rows = metric_rows(run)
    for row in rows:
        assert row["val_loss"] == pytest.approx(row["val_reconstruction_loss"] + row["val_kl_loss"], rel=1e-6)
    assert rows[-1]["val_loss"] < rows[0]["val_loss"]
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["task"] == {"kind": "denoise", "noise_std": 0.1, "drop_fraction": 0.2}
    grid = np.asarray(Image.open(run / "images" / "reconstructions_e0002.png"))
    # 8 images in one row per group, three groups (clean, corrupted, output) of 16 px cells, shown 4x.
    assert grid.shape[0] == (3 * (16 + 2) + 2) * 4
    cell = 4 * 2  # the first cell of each row group, inside the padding
    clean, corrupted = grid[cell : cell + 64, cell : cell + 64], grid[cell + 72 : cell + 136, cell : cell + 64]
    assert np.mean(np.all(corrupted == 0, axis=-1)) > 0.05 > np.mean(np.all(clean == 0, axis=-1))


@pytest.mark.slow
def test_recolor_run_on_an_image_folder_then_encode_its_test_split(write_config, tmp_path):
    from vaecli.api import load_run
    from vaecli.cli import app

    write_jpeg_folder(tmp_path / "photos", 120, size=(40, 48))
    config = tiny_config(
        name="recolor",
        task={"kind": "recolor"},
        train={"epochs": 2, "batch_size": 32},
        data={
            "source": "image_folder",
            "path": str(tmp_path / "photos"),
            "image_size": 16,
            "cache_dir": str(tmp_path / "cache"),
        },
    )
    result = runner.invoke(app, ["train", str(write_config(config)), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert "Cached 120 images" in result.output and "no unreadable files" in result.output
    run = tmp_path / "runs" / "recolor"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["data"]["train"] + manifest["data"]["validation"] + manifest["data"]["test"] == 120
    assert manifest["data"]["cache"].startswith(str(tmp_path / "cache")) and manifest["task"]["kind"] == "recolor"
    assert len(metric_rows(run)) == 2
    grid = np.asarray(Image.open(run / "images" / "reconstructions_e0002.png"))
    middle = grid[8 + 72 : 8 + 136, 8 : 8 + 64].astype(int)  # the grey input row
    assert np.abs(middle[..., 0] - middle[..., 1]).max() <= 1
    trained = load_run(run)
    encoded = trained.encode_split("test")
    assert len(encoded.z_mean) == manifest["data"]["test"] and not encoded.warnings
    assert len(trained.encode_split("all", limit=50).z_mean) == 50
