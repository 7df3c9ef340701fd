"""The tables of `vae factors` (disentanglement scores, per factor) and `vae assay` (the latent response
matrix)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vaecli.tables.cells import format_number

if TYPE_CHECKING:
    import numpy as np
    from rich.table import Table


def _three_places(value: float | None) -> str:
    """0.123, or '-' for a factor that is constant on the split (None in factors.json)."""
    return "-" if value is None else f"{value:.3f}"


def factor_table(report_dict: dict) -> tuple[Table, Table]:
    """Two Rich tables: the summary scores, then one row per factor."""
    from rich.table import Table

    summary = Table(title="disentanglement (0 = none, 1 = perfect)", show_header=False, title_justify="left")
    summary.add_column("measure", style="bold")
    summary.add_column("value", justify="right")
    for label, key in (
        ("MIG (20 equal-width bins)", "mig"),
        ("DCI disentanglement", "dci_disentanglement"),
        ("DCI completeness", "dci_completeness"),
        ("DCI informativeness (chance-corrected)", "dci_informativeness"),
        ("SAP", "sap"),
    ):
        summary.add_row(label, format_number(report_dict[key]))
    summary.add_row("active units (Var z_mean > 0.01)", str(len(report_dict["active_units"])))
    per_factor = Table(
        title="per factor (gaps and informativeness 0..1; probe: accuracy for discrete, R^2 for continuous)",
        title_justify="left",
    )
    for column in ("factor", "kind", "best", "MIG", "SAP", "info", "probe"):
        per_factor.add_column(column, justify="left" if column in ("factor", "kind") else "right", no_wrap=True)
    for k, name in enumerate(report_dict["factor_names"]):
        per_factor.add_row(
            name,
            "discrete" if report_dict["discrete"][k] else "cont.",
            f"z{report_dict['best_dimension'][k]}",
            *(
                _three_places(report_dict[key][k])
                for key in ("mig_per_factor", "sap_per_factor", "informativeness_per_factor", "probe_score")
            ),
        )
    return summary, per_factor


def response_table(matrix: np.ndarray, unused: list[int]) -> Table:
    """The latent response matrix as a Rich table (rows: intervened dimension)."""
    from rich.table import Table

    table = Table(title="latent response matrix (row: intervened z_i, column: responding z_j)", title_justify="left")
    table.add_column("z_i", no_wrap=True)
    for j in range(matrix.shape[1]):
        table.add_column(f"z{j}", justify="right", no_wrap=True)
    for i, row in enumerate(matrix):
        label = f"z{i}" + (" (unused)" if i in unused else "")
        table.add_row(label, *(f"{value:.2f}" for value in row))
    return table
