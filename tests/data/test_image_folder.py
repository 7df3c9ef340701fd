"""Image folders: scanning, decoding messy files, the fingerprinted cache, crash safety, lazy splits."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.helpers import BAD_FILES, GOOD_FILES, cached, tiny_config, write_jpeg_folder, write_messy_folder
from vaecli.config import validate
from vaecli.data.cache import find_or_build, is_complete
from vaecli.data.cached_images import CachedImages
from vaecli.data.folder_decoding import finish
from vaecli.data.image_folder import Preprocessing, decode_rgb
from vaecli.errors import ConfigError, DataError


def folder_config(folder, cache, **data):
    channels = 1 if data.get("channels") == "grayscale" else 3
    return validate(
        tiny_config(
            data={"source": "image_folder", "path": str(folder), "image_size": 16, "cache_dir": str(cache), **data},
            model={"decoder": {"filters": [16, channels], "kernel_sizes": [3, 3], "strides": [2, 2]}},
        )
    )


def test_messy_folder_converts_every_mode_and_logs_the_unreadable(tmp_path):
    expected = write_messy_folder(tmp_path / "photos")
    info = find_or_build(folder_config(tmp_path / "photos", tmp_path / "cache").data)
    assert (info.num_images, info.num_skipped, info.built) == (len(GOOD_FILES), len(BAD_FILES), True)
    names, images = cached(info)
    assert names == sorted(GOOD_FILES) and images.shape == (len(GOOD_FILES), 16, 16, 3) and images.dtype == np.uint8
    assert np.array_equal(np.asarray(CachedImages(info.path)), images)  # the skipped files' rows are not images
    log = dict(line.split("\t") for line in info.skip_log.read_text().splitlines())
    assert set(log) == set(BAD_FILES) and log["n_empty.jpg"] == "empty file"
    assert "UnidentifiedImageError" in log["o_text.jpg"] and "runcated" in log["m_truncated.jpg"]
    # Each good file decodes to (nearly) the same picture: the centre square of the 40x48 original, resized.
    reference = np.asarray(
        Image.fromarray(expected["rgb"]).crop((0, 4, 40, 44)).resize((16, 16), Image.BILINEAR), np.float32
    )
    for name, image in zip(names, images.astype(np.float32)):
        if name in ("f_grey.png", "j_sixteen_bit.png"):
            assert np.all(image[..., 0] == image[..., 1]) and np.all(image[..., 1] == image[..., 2]), name
            if name == "j_sixteen_bit.png":  # 16-bit scaled down, not clipped to white
                target = np.asarray(
                    Image.fromarray(expected["sixteen"]).crop((0, 4, 40, 44)).resize((16, 16), Image.BILINEAR),
                    np.float32,
                )
                assert np.abs(image[..., 0] - target).mean() < 2, name
        elif name not in ("d_palette.gif", "g_palette_transparent.png", "i_cmyk.jpg"):
            assert np.abs(image - reference).mean() < 4, name
        else:  # palettes quantise colours, CMYK round-trips through JPEG: close, not exact
            assert np.abs(image - reference).mean() < 25, name


def test_cache_is_reused_unchanged_and_rebuilt_when_anything_changes(tmp_path):
    write_jpeg_folder(tmp_path / "photos", 20, size=(30, 40))
    config = folder_config(tmp_path / "photos", tmp_path / "cache")
    first = find_or_build(config.data)
    stamp = first.path.stat().st_mtime_ns
    again = find_or_build(config.data)
    assert not again.built and again.path == first.path and again.path.stat().st_mtime_ns == stamp
    resized = find_or_build(folder_config(tmp_path / "photos", tmp_path / "cache", image_size=8).data)
    assert resized.built and resized.path != first.path and cached(resized)[1].shape == (20, 8, 8, 3)
    grey = find_or_build(folder_config(tmp_path / "photos", tmp_path / "cache", channels="grayscale").data)
    assert grey.built and cached(grey)[1].shape == (20, 16, 16, 1)
    limited = find_or_build(folder_config(tmp_path / "photos", tmp_path / "cache", limit=5).data)
    assert limited.built and cached(limited)[0] == [f"{index:06d}.jpg" for index in range(1, 6)]
    os.utime(tmp_path / "photos" / "000003.jpg", ns=(1, 1))  # touched: a new modification time
    touched = find_or_build(config.data)
    assert touched.built and touched.path != first.path
    write_jpeg_folder(tmp_path / "photos" / "more", 1, size=(30, 40))
    assert find_or_build(config.data).num_images == 21


def test_explicit_crop_box_and_a_box_larger_than_the_image(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    pixels = np.zeros((60, 50, 3), np.uint8)
    pixels[10:30, 5:25] = (200, 40, 90)  # the box [10, 5, 20, 20] is one flat colour
    Image.fromarray(pixels).save(folder / "big.png")
    Image.fromarray(pixels[:20, :20]).save(folder / "small.png")
    info = find_or_build(folder_config(folder, tmp_path / "cache", crop=[10, 5, 20, 20], image_size=8).data)
    names, images = cached(info)
    assert names == ["big.png"] and np.all(images[0] == (200, 40, 90))
    assert "smaller than the crop box" in info.skip_log.read_text() and info.num_skipped == 1


def test_empty_missing_and_undecodable_folders_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match="holds no image files"):
        find_or_build(folder_config(tmp_path / "empty", tmp_path / "cache").data)
    with pytest.raises(DataError, match="is not a folder"):
        find_or_build(folder_config(tmp_path / "nowhere", tmp_path / "cache").data)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_text("text")
    (tmp_path / "junk" / "b.png").write_bytes(b"")
    with pytest.raises(DataError, match="none of the 2 image files"):
        find_or_build(folder_config(tmp_path / "junk", tmp_path / "cache").data)
    assert not list((tmp_path / "cache").glob("*.h5*"))  # nothing that looks like a cache
    with pytest.raises(ConfigError, match="needs data.path"):
        validate(tiny_config(data={"source": "image_folder", "image_size": 16}))
    with pytest.raises(ConfigError, match=r"data.crop must be 'center' or \[top, left, height, width\]"):
        folder_config(tmp_path, tmp_path, crop=[1, 2, 3])


@pytest.mark.parametrize("image_size", [16, 24])  # 16: the 40x40 crops decode at 1/2 DCT scale; 24: whole
def test_tensorflow_decoding_agrees_with_pillow_and_with_itself_on_one_thread(tmp_path, image_size):
    write_jpeg_folder(tmp_path / "photos", 150, size=(40, 48), per_subfolder=100)
    for path in sorted((tmp_path / "photos").rglob("*.jpg"))[:20]:
        Image.open(path).save(path.with_suffix(".png"))  # PNGs take the decode_image path
    config = folder_config(tmp_path / "photos", tmp_path / "a", image_size=image_size)
    parallel = find_or_build(config.data)
    serial = find_or_build(folder_config(tmp_path / "photos", tmp_path / "b", image_size=image_size).data, threads=1)
    assert parallel.fingerprint == serial.fingerprint and parallel.num_images == 170
    names, images = cached(parallel)
    assert names == cached(serial)[0] and np.array_equal(images, cached(serial)[1])
    preprocessing = Preprocessing.from_config(config.data)
    by_pillow = np.stack(
        [finish(decode_rgb(tmp_path / "photos" / name, "center"), preprocessing).numpy() for name in names]
    )
    difference = np.abs(images.astype(np.float32) - by_pillow)
    # The same libjpeg-turbo either way: decoded whole, they differ by rounding; decoded at 1/2 scale in the
    # DCT domain (which Pillow is not asked to do here), by the filtering.
    if image_size == 24:
        assert difference.mean() < 1.5 and difference.max() <= 8
    else:
        assert difference.mean() < 2.5 and np.percentile(difference, 99) < 20


def test_files_tensorflow_refuses_go_to_pillow_in_bounded_batches(tmp_path):
    from vaecli.data.cache import decode_in_order, scan
    from vaecli.data.folder_decoding import BATCH

    paths = write_jpeg_folder(tmp_path / "photos", 150, size=(24, 24))
    for path in paths:  # PNGs under a .jpg name: the JPEG pipeline refuses every one
        Image.open(path).save(path, format="PNG")
    config = folder_config(tmp_path / "photos", tmp_path / "cache")
    root, entries, preprocessing = scan(config.data)
    batches = list(decode_in_order(root, entries, preprocessing))
    assert [len(batch) for batch in batches] == [BATCH, BATCH, 150 - 2 * BATCH]
    assert all(isinstance(image, np.ndarray) and image.shape == (16, 16, 3) for batch in batches for _, image in batch)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open descriptors in /proc")
def test_reading_cached_images_leaves_no_descriptor_open(tmp_path):
    write_jpeg_folder(tmp_path / "photos", 20, size=(20, 20))
    info = find_or_build(folder_config(tmp_path / "photos", tmp_path / "cache").data)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(50):
        images = CachedImages(info.path)
        images[3], images.take([1, 2])[:], np.asarray(images)
    assert len(os.listdir("/proc/self/fd")) <= before + 1


KILLED_BUILD = textwrap.dedent("""
    import sys, time
    import vaecli.data.cache as cache
    from vaecli.config import validate

    original = cache.decode_in_order
    def slow(*arguments):  # a slow disk: each batch of 64 files takes half a second
        for batch in original(*arguments):
            time.sleep(0.5)
            yield batch
    cache.decode_in_order = slow
    config = validate({"data": {"source": "image_folder", "path": sys.argv[1], "image_size": 16,
                                "cache_dir": sys.argv[2]},
                       "model": {"encoder": {"filters": [8, 16], "kernel_sizes": [3, 3], "strides": [2, 2]},
                                 "decoder": {"filters": [16, 3], "kernel_sizes": [3, 3], "strides": [2, 2]}}})
    cache.find_or_build(config.data)
""")


def test_a_killed_build_leaves_no_complete_looking_cache(tmp_path):
    write_jpeg_folder(tmp_path / "photos", 320, size=(24, 24))
    cache = tmp_path / "cache"
    process = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(tmp_path / "photos"), str(cache)])
    deadline = time.time() + 60
    while not list(cache.glob("*.partial-*")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(1.2)  # a few chunks written
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(cache.glob("*.h5.partial-*")), "the build should have been mid-way"
    assert not list(cache.glob("*.h5")) and not list(cache.glob("*.skipped.txt"))
    assert not any(is_complete(path) for path in cache.iterdir())
    info = find_or_build(folder_config(tmp_path / "photos", cache).data)  # the next build starts afresh
    assert info.built and info.num_images == 320
    assert not list(cache.glob("*.partial-*"))  # the dead build's leftovers are cleaned up


def test_cached_images_index_like_an_array(tmp_path):
    write_jpeg_folder(tmp_path / "photos", 40, size=(20, 20))
    info = find_or_build(folder_config(tmp_path / "photos", tmp_path / "cache").data)
    everything = cached(info)[1]
    rows = np.array([1, 3, 4, 5, 9, 20, 21, 39])
    lazy = CachedImages(info.path).take(rows)
    assert len(lazy) == 8 and lazy.shape == (8, 16, 16, 3) and lazy.dtype == np.uint8
    assert np.array_equal(lazy[2], everything[4]) and np.array_equal(lazy[-1], everything[39])
    assert np.array_equal(lazy[1:4], everything[[3, 4, 5]]) and np.array_equal(lazy[:100], everything[rows])
    assert np.array_equal(lazy[np.array([7, 0, 7])], everything[[39, 1, 39]])  # unsorted, repeated
    assert np.array_equal(np.asarray(lazy), everything[rows]) and np.array_equal(
        lazy[[0, 1], :2], everything[[1, 3], :2]
    )
    assert np.array_equal(np.concatenate([lazy, lazy[:1]]), everything[[*rows, 1]])
    with pytest.raises(IndexError):
        lazy[8]


def test_splits_of_an_image_folder_are_lazy_disjoint_and_fingerprinted_by_the_cache(tmp_path):
    from vaecli.data.splits import load_splits

    write_jpeg_folder(tmp_path / "photos", 100, size=(20, 20))
    config = folder_config(tmp_path / "photos", tmp_path / "cache", test_split=0.2)
    splits = load_splits(config)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (72, 8, 20)
    assert isinstance(splits.train.images, CachedImages) and splits.train.labels == {}
    rows = [set(split.images.rows) for split in (splits.train, splits.validation, splits.test)]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and len(set.union(*rows)) == 100
    assert load_splits(config).fingerprint == splits.fingerprint
    reseeded = load_splits(validate({**tiny_config(seed=9), "data": config.data.model_dump()}))
    assert set(reseeded.test.images.rows) == rows[2] and reseeded.fingerprint != splits.fingerprint


def test_vae_data_prepare_command(tmp_path, write_config, capfd):
    from vaecli.cli import app

    write_messy_folder(tmp_path / "photos")
    config = tiny_config(
        data={
            "source": "image_folder",
            "path": str(tmp_path / "photos"),
            "image_size": 16,
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    result = CliRunner().invoke(app, ["data", "prepare", str(write_config(config)), "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert f"Cached {len(GOOD_FILES)} images" in result.output and "skipped 3 unreadable file(s)" in result.output
    assert "JPEG" not in capfd.readouterr().err  # libjpeg's own complaints about the broken files stay hidden
    result = CliRunner().invoke(app, ["data", "prepare", str(write_config(config))])
    assert result.exit_code == 0 and "Using cached" in result.output
    result = CliRunner().invoke(app, ["data", "prepare", str(write_config(tiny_config()))])
    assert result.exit_code == 2 and "needs no preparation" in result.output
    code = "import sys, vaecli.cli.data; print('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
