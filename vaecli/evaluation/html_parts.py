"""The HTML pieces of `vae report`'s page: its style sheet, embedded PNGs, figures and tables, every text
escaped. No JavaScript and no external file: the page stays self-contained."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.summary { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; vertical-align: top; }
th { background: #f3f3f3; } td.key, th.key { text-align: left; }
pre.config { columns: 3 18em; column-rule: 1px solid #e5e5e5; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; border: 1px solid #e5e5e5; }
img { max-width: 100%; image-rendering: pixelated; border: 1px solid #eee; }
figure { margin: 0.6em 0; } figcaption { color: #555; font-size: 0.85em; }
.epochs td, .epochs th { text-align: center; } .note { color: #666; font-size: 0.9em; }
.status-COMPLETED { color: #17803d; } .status-RUNNING { color: #9a6700; }
.status-FAILED, .status-KILLED { color: #b42318; }
"""


def embedded_image(path: Path, alt: str, width: int | None = None) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    size = f' width="{width}"' if width else ""
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}"{size}>'


def figure(path: Path, caption: str) -> str:
    if not Path(path).is_file():
        return ""
    return f"<figure>{embedded_image(path, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.5g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


def key_value_table(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(
        f'<tr><td class="key">{html.escape(str(key))}</td><td class="key">{html.escape(_text(value))}</td></tr>'
        for key, value in pairs
    )
    return f"<table>{rows}</table>"


def data_table(header: list[str], rows: list[list]) -> str:
    head = "".join(
        f'<th class="key">{html.escape(header[0])}</th>' if index == 0 else f"<th>{html.escape(name)}</th>"
        for index, name in enumerate(header)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="key">{html.escape(_text(cell))}</td>' if index == 0 else f"<td>{html.escape(_text(cell))}</td>"
            for index, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"
