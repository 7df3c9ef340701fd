"""Full disks (issue 13), on real tmpfs mounts: the image-cache build, a training checkpoint and the run
folder's own files end in one line naming the file and the space it needs; never a segfault, never a
partial file. A disk that fills up during a cache build does not stop it (the space is reserved first)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from tests.helpers import SEGFAULT, assert_one_clean_line, mounted_tmpfs, run_vae, tiny_config, vae

pytestmark = pytest.mark.slow


def _photos(folder, count: int, size: int = 40):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8)).save(folder / f"{index:04d}.png")
    return folder


def _folder_config(tmp_path, photos, cache, image_size: int):
    data = {"source": "image_folder", "path": str(photos), "image_size": image_size, "cache_dir": str(cache)}
    path = tmp_path / "folder.yaml"
    path.write_text(json.dumps(tiny_config(data=data)))
    return path


def test_cache_build_on_a_full_disk_is_one_line_not_a_segfault(tmp_path):
    photos = _photos(
        tmp_path / "photos", 80
    )  # 80 images of 128x128x3: 3.9 MB of pixels, 5.0 MB with the reserve for the rest
    with mounted_tmpfs(tmp_path / "cache", size="3m") as cache:
        config = _folder_config(tmp_path, photos, cache, image_size=128)
        code, output = run_vae("data", "prepare", config)
        assert code != SEGFAULT, output  # 7 of 7 times before
        assert_one_clean_line(code, output, f"cannot write {cache}/image_folder-")
        assert "No space left on device (it needs 5.0 MB, 3.1 MB free in" in output
        assert list(cache.iterdir()) == []  # no partial file
        code, output = run_vae("train", config, "--runs-dir", tmp_path / "runs")  # `vae train` builds it too
        assert code != SEGFAULT, output
        assert_one_clean_line(code, output, "No space left on device (it needs 5.0 MB")
        assert list(cache.iterdir()) == [] and list((tmp_path / "runs").iterdir()) == []


def test_a_disk_that_fills_up_during_the_cache_build_does_not_stop_it(tmp_path):
    photos = _photos(tmp_path / "photos", 200)  # 4 batches of 64
    with mounted_tmpfs(tmp_path / "cache", size="3m") as cache:
        config = _folder_config(tmp_path, photos, cache, image_size=32)
        script = textwrap.dedent(
            f"""
            import os
            from vaecli.config import load_config
            from vaecli.data.cache import find_or_build
            from vaecli.data.cached_images import CachedImages

            def fill_the_disk(done, total):  # after the first batch: the disk is full from here on
                if done == 64:
                    with open({str(cache / "filler")!r}, "wb") as handle:
                        try:
                            while True:
                                handle.write(bytes(1 << 16))
                        except OSError:
                            pass
                    assert os.statvfs({str(cache)!r}).f_bavail == 0

            info = find_or_build(load_config({str(config)!r}).data, fill_the_disk)
            images = CachedImages(info.path)[:]
            print(info.num_images, images.shape, int(images[-1].sum() > 0))
            """
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.split("\n")[-2] == "200 (200, 32, 32, 3) 1"


def test_full_disk_at_the_first_checkpoint(tmp_path):
    # z_dim 1024 makes a 6.4 MB checkpoint: it cannot fit in 3 MB; the grids and metrics before it do.
    config = tmp_path / "big.yaml"
    config.write_text(json.dumps(tiny_config(model={"kind": "ae", "z_dim": 1024}, train={"epochs": 2})))
    with mounted_tmpfs(tmp_path / "runs", size="3m") as runs:
        code, output = run_vae("train", config, "--runs-dir", runs, "-q")
        assert code != SEGFAULT, output
        assert_one_clean_line(code, output, f"cannot write {runs}/tiny/checkpoints/last.h5: No space left on device")
        assert "(it needs 6.4 MB" in output
        assert "No checkpoint was written yet" in output and "is kept" not in output  # it said kept: there was none
        manifest = json.loads((runs / "tiny" / "manifest.json").read_text())
        assert manifest["status"] == "FAILED" and "No space left on device" in manifest["error"]
        assert not [path for path in (runs / "tiny").rglob(".*") if path.is_file()]  # no temporaries


def test_no_free_inodes_once_the_run_folder_is_claimed(write_config, tmp_path):
    # 5 inodes: the tmpfs root, the run folder, its lock, config.yaml and the first manifest.json; then none.
    with mounted_tmpfs(tmp_path / "runs", size="1m", inodes=5) as runs:
        result = vae("train", write_config(tiny_config()), "--runs-dir", runs, "-q")
        assert_one_clean_line(result.exit_code, result.output, f"no free inodes left in {runs}/tiny")
        assert list(runs.iterdir()) == []  # the claimed folder went with the failure
