"""One cache root for every cache: image-folder caches and feature classifiers agree on where it is."""

from pathlib import Path

import pytest

from vaecli.config import validate
from vaecli.data.cache import cache_folder
from vaecli.io.cache_root import cache_root


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"VAECLI_CACHE": "/scratch/vc", "XDG_CACHE_HOME": "/xdg"}, Path("/scratch/vc")),
        ({"XDG_CACHE_HOME": "/xdg"}, Path("/xdg/vaecli")),
        ({"HOME": "/home/someone"}, Path("/home/someone/.cache/vaecli")),
    ],
)
def test_the_cache_root_and_the_image_folder_cache_follow_one_rule(monkeypatch, env, expected):
    for name in ("VAECLI_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    data = validate({"data": {"source": "image_folder", "path": "/photos"}}).data
    assert cache_root() == expected and cache_folder(data) == expected
    explicit = validate({"data": {"source": "image_folder", "path": "/photos", "cache_dir": "/fast/cache"}}).data
    assert cache_folder(explicit) == Path("/fast/cache")
