"""What each latent dimension means: vae factors (known factors) and vae assay (interventions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaecli.cli.common import RunArgument, RunsDir, Split, console, report
from vaecli.tables import format_number

Seed = Annotated[int, typer.Option("--seed", help="Seed of the draws (and of the models' train/test split).")]
Points = Annotated[
    Optional[int],
    typer.Option("--limit", min=4, help="Use only the first N images of the split.", show_default=False),
]


def factor_table(report_dict: dict):
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
                f"{report_dict[key][k]:.3f}"
                for key in ("mig_per_factor", "sap_per_factor", "informativeness_per_factor")
            ),
            f"{report_dict['probe_score'][k]:.3f}",
        )
    return summary, per_factor


def factors(
    run: RunArgument = None,
    split: Split = "test",
    limit: Points = None,
    seed: Seed = 0,
    runs_dir: RunsDir = Path("runs"),
):
    """Which latent dimension encodes which known factor: MIG, DCI, SAP and linear probes.

    Encodes the split (z_mean) and scores it against the data set's known factors: the
    synthetic faces' 8 attributes, the class label of MNIST / Fashion-MNIST / CIFAR-10, or an
    image folder's data.labels CSV. Writes RUN/evaluation/factors.json and
    RUN/evaluation/factor_importance.png (factors x dimensions heat map).

    Examples:

      vae factors                       # the latest run, test split

      vae factors runs/faces_beta4 --limit 1000
    """
    from vaecli.evaluation.factors import factors as measure_factors
    from vaecli.run import load_run

    result = measure_factors(
        load_run(run, runs_dir).require_models(), split=split, limit=limit, seed=seed, console=console
    )
    for table in factor_table(result.to_dict()):
        console.print(table)
    report(result)


COMMANDS = {"factors": factors}
