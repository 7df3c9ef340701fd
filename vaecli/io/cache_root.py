"""Where vaecli keeps what it can rebuild: image-folder caches and trained feature classifiers.

$VAECLI_CACHE                   when set
$XDG_CACHE_HOME/vaecli          else, when XDG_CACHE_HOME is set
~/.cache/vaecli                 else
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    if os.environ.get("VAECLI_CACHE"):
        return Path(os.environ["VAECLI_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "vaecli"
