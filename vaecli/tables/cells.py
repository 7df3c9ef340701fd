"""The one way vaecli formats numbers for the screen, and make_table: a plain Rich table of text cells (the sweep
tables)."""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table


def format_number(value: float | str | None, digits: int = 4, missing: str = "n/a") -> str:
    """4 significant digits, thousands separators from 100,000 on; `missing` for None."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def make_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    right: Container[str] = (),
    show_header: bool = True,
    fold: bool = False,
) -> Table:
    """A Rich table: a left-aligned title, the columns (those in right aligned right), cells as given (already
    text, escaped where they hold names); fold wraps long cells instead of cutting them (whole run names)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=show_header)
    for column in columns:
        table.add_column(
            column, justify="right" if column in right else "left", overflow="fold" if fold else "ellipsis"
        )
    for row in rows:
        table.add_row(*row)
    return table
