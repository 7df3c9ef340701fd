"""The tables of several runs: `vae compare` and `vae sweep` (runs or seed groups as rows) and the Welch tests
between two groups of seeds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vaecli.tables.cells import format_number

if TYPE_CHECKING:
    from rich.table import Table

# The columns shown on screen (every column goes to --csv), with their short headers.
SCREEN_NUMBERS = {
    "n": "n",
    "kl_schedule": "KL schedule",
    "epochs": "epochs",
    "val_loss": "val loss",
    "val_reconstruction_loss": "val reco",
    "val_kl_loss": "val KL",
    "decoder": "decoder",
    "elbo": "ELBO",
    "iwae": "IWAE",
    "iwae_bits_per_dim": "IWAE bits/dim",
    "kl": "KL (eval)",
    "active_units": "active",
    "precision_prior": "P prior",
    "recall_prior": "R prior",
    "frechet_prior": "FD prior",
    "best_box_precision": "P best box",
    "best_box": "best B",
    "mig": "MIG",  # vae factors (vaecli.evaluation.factors)
    "dci_d": "DCI D",
    "dci_c": "DCI C",
    "dci_i": "DCI I",
    "sap": "SAP",
}


DENSITY_PREFIXES = {"precision_density_": "P ", "recall_density_": "R ", "prior_gap_": "gap "}


def density_columns(rows: list[dict]) -> list[str]:
    """The compare columns of fitted densities present in any row (vae evaluate --density), in a stable order."""
    present = dict.fromkeys(key for row in rows for key in row if key.startswith(tuple(DENSITY_PREFIXES)))
    return [key for key in present if not key.endswith(("_sd", "_ci_low", "_ci_high"))]


def _density_header(column: str) -> str:
    """'precision_density_gmm10' -> 'P gmm10', 'prior_gap_gaussian_z' -> 'gap gaussian_z'."""
    for prefix, short in DENSITY_PREFIXES.items():
        if column.startswith(prefix):
            return short + column.removeprefix(prefix)
    return column


def _cell(row: dict, column: str) -> str:
    """A value, or 'mean ± sd [95% interval]' for a column aggregated over seeds (vaecli.evaluation.aggregate)."""
    sd = row.get(f"{column}_sd")
    text = format_number(row.get(column), missing="-")
    if not sd:  # no "± 0" for values every seed shares
        return text
    low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
    interval = f" [{format_number(low)}, {format_number(high)}]" if low is not None and high is not None else ""
    return f"{text} ± {format_number(sd, 2)}{interval}"


def group_test_table(tests: list[dict], first: str, second: str) -> Table:
    """One row per numeric column: the two groups' means, their difference and Welch's p-value."""
    from rich.table import Table

    table = Table(
        title=f"{second} against {first}: Welch t-test over seeds (two-sided; not adjusted for the many columns)",
        title_justify="left",
    )
    for header in ("column", first, second, "difference", "p"):
        table.add_column(header, justify="left" if header == "column" else "right", overflow="fold")
    for test in tests:
        p_value = test["p_value"]
        table.add_row(
            test["column"],
            format_number(test[first]),
            format_number(test[second]),
            format_number(test["difference"]),
            "n/a" if p_value is None else f"{p_value:.2g}",
        )
    return table


def compare_table(rows: list[dict], differing: list[str], width: int = 200) -> Table:
    """Runs as rows when that fits in `width` characters, else transposed (a row per measure)."""
    from rich.table import Table

    shown = [key for key in SCREEN_NUMBERS if key not in differing and any(row.get(key) is not None for row in rows)]
    shown += density_columns(rows)
    spaces = sorted({row["features"] for row in rows if row.get("features")})
    groups = [row["n"] for row in rows if row.get("n")]
    title = (
        f"{len(groups)} groups of {sum(groups)} runs (mean ± sd [95% t-interval of the mean] over seeds)"
        if groups
        else f"{len(rows)} runs"
    )
    title += f" (plausibility in the {', '.join(spaces)} feature space)" if spaces else ""
    statuses = {row.get("status") for row in rows}
    columns = [*(["status"] if statuses != {"COMPLETED"} else []), *differing, *shown]
    headers = ["run", *(SCREEN_NUMBERS.get(column, _density_header(column)) for column in columns)]
    cells = [[row["run"], *(_cell(row, column) for column in columns)] for row in rows]
    needed = sum(max(len(text) for text in column) + 3 for column in zip(headers, *cells))
    if needed > width:  # transpose: measures down the side, one column per run
        measures = zip(headers[1:], *(row[1:] for row in cells))
        headers, cells = ["run", *(row[0] for row in cells)], [list(line) for line in measures]
    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, overflow="fold", justify="left" if index == 0 else "right")
    for line in cells:
        table.add_row(*line)
    return table
