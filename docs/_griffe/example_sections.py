"""A griffe extension for the API pages: read vaecli's `Example:` docstring sections as examples.

Griffe's Google-style parser knows `Examples:` but turns a singular `Example:` into an admonition, whose
`>>>` lines would then be read as Markdown (`run.metrics[-1]["val_loss"]` as a link reference). vaecli's
docstrings say `Example:` (tests/test_api.py requires the word), so the section is renamed here, for the
site only; the source stays as it is.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename each docstring's `Example:` section header to `Examples:` before it is parsed."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
