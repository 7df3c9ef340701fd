"""The measuring commands: evaluate, compare, report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, List, Optional

import typer

from vaecli.cli.common import Limit, RunArgument, RunsDir, console, say, trained_run

if TYPE_CHECKING:
    from vaecli.evaluation.compare import Comparison

FEATURES_HELP = (
    "Feature space of precision/recall/Frechet distance: classifier (a CNN trained once on the data "
    "set's labels, cached), inception (InceptionV3, local weights only) or pixels (default: the first "
    "of these available)."
)


def evaluate(
    run: RunArgument = None,
    split: Annotated[str, typer.Option("--split", help="Split to measure: train, validation, test or all.")] = "test",
    iw_samples: Annotated[
        int,
        typer.Option(
            "--iw-samples", "-k", help="K, posterior samples per image of the importance-weighted bound (VAE only)."
        ),
    ] = 16,
    n_samples: Annotated[
        int,
        typer.Option(
            "--n-samples", "-n", help="Decoded points per latent region, and real images in the reference set."
        ),
    ] = 1000,
    boundaries: Annotated[
        Optional[str],
        typer.Option(
            "--boundary",
            "--box",
            "-b",
            show_default=False,
            help="B values of the boxes 0 < z_i < B (default: the classic 0.5,2.5,5,8,10,15,20,30,50).",
        ),
    ] = None,
    features: Annotated[str, typer.Option("--features", help=FEATURES_HELP)] = "auto",
    limit: Limit = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the posterior samples, latent points and real subsets.")
    ] = 0,
    densities: Annotated[
        Optional[List[str]],
        typer.Option(
            "--density",
            help="Also measure samples of this fitted density (vae fit-density; repeatable).",
            show_default=False,
        ),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Measure a trained run: likelihood bounds and plausibility of samples.

    Writes RUN/evaluation/SPACE.json (one per feature space), RUN/evaluation.json
    (the latest) and RUN/evaluation/samples_SPACE.png, and prints two tables: ELBO
    and the IWAE bound (nats and bits/dim) under the decoder the run trained
    (Bernoulli for BCE; Gaussian with sigma^2 = f_eff/2 for MSE, with the
    Bernoulli figures beside), reconstruction errors, KL and active units;
    then, for latent points from the prior
    N(0, I) and from each box 0 < z_i < B, the precision and recall
    (Kynkaanniemi et al. 2019, k=3) and Frechet distance against real
    images in one named feature space, and the encode->decode cycle error.
    An AE has no ELBO or IWAE (marked n/a). Each --density adds a row of
    samples from a density fitted with `vae fit-density`, and for a VAE the
    gap between the prior and the aggregate posterior that the density shows.

    Examples:

      vae evaluate                               # the latest run, test split

      vae evaluate runs/fmnist --iw-samples 64 --n-samples 2000

      vae evaluate quickstart --features pixels --boundary 1,10

      vae evaluate runs/ae_z16 --density gaussian --density gmm10
    """
    from vaecli.evaluation.plausibility import PLAUSIBILITY_BOXES
    from vaecli.latent.geometry import parse_parameters
    from vaecli.tables import density_table, likelihood_table, plausibility_table

    result = trained_run(run, runs_dir).evaluate(
        split,
        iw_samples=iw_samples,
        n_samples=n_samples,
        boundaries=parse_parameters(boundaries) if boundaries else PLAUSIBILITY_BOXES,
        features=features,
        densities=densities or (),
        seed=seed,
        limit=limit,
        save=True,
        console=console,
    )
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, markup=False)
    console.print(likelihood_table(result.evaluation))
    console.print(plausibility_table(result.evaluation))
    if result.evaluation.get("densities"):
        console.print(density_table(result.evaluation))
    say(result.summary)


SPACE_HELP = (
    "Show the evaluation in this feature space (classifier, inception, pixels; each run keeps one per space). "
    "Default: each run's latest evaluation, which must then be in one space."
)


def show_comparison(
    comparison: Comparison,
    csv_file: Path | None = None,
    plot_file: Path | None = None,
    groups: tuple[str, str] | None = None,
) -> None:
    """The compare table (and its CSV and plot when asked): `vae compare` and the end of `vae sweep`."""
    from vaecli.tables import compare_table, group_test_table

    for warning in comparison.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, markup=False)
    console.print(compare_table(comparison.rows, comparison.differing, console.width))
    if groups is not None:
        console.print(group_test_table(comparison.tests, *groups))
    if csv_file is not None:
        say(f"Wrote {comparison.write_csv(csv_file)}")
    if plot_file is not None:
        say(f"Wrote {comparison.plot(plot_file)}")


def compare(
    runs: Annotated[List[str], typer.Argument(metavar="RUN...", help="Run folders or names.", show_default=False)],
    sort: Annotated[
        Optional[str],
        typer.Option("--sort", help="Sort by this column, e.g. val_loss or precision_prior.", show_default=False),
    ] = None,
    csv_file: Annotated[
        Optional[Path], typer.Option("--csv", help="Also write every column to this CSV file.", show_default=False)
    ] = None,
    plot_file: Annotated[
        Optional[Path],
        typer.Option(
            "--plot",
            help="Also draw rate-distortion and plausibility against the KL factor to this PNG.",
            show_default=False,
        ),
    ] = None,
    features: Annotated[Optional[str], typer.Option("--features", help=SPACE_HELP, show_default=False)] = None,
    aggregate: Annotated[
        bool,
        typer.Option(
            "--aggregate",
            help="One row per group of runs that differ only in train.seed: mean ± sd, the 95% t-interval of "
            "the mean and n for every number (CSV: <column>, <column>_sd, <column>_ci_low, <column>_ci_high; "
            "plot: error bars).",
        ),
    ] = False,
    groups: Annotated[
        Optional[str],
        typer.Option(
            "--groups",
            help="A,B: with --aggregate, a Welch t-test p-value per numeric column between the groups named A "
            "and B (as in the table's run column).",
            show_default=False,
        ),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Compare runs in one table: differing config keys, KL schedule, final metrics, evaluation.

    Examples:

      vae compare runs/fmnist_kl*

      vae compare quickstart quickstart_ae --sort val_loss --csv runs.csv --plot runs.png

      vae compare runs/study_* --aggregate --features classifier --csv study.csv

      vae compare runs/study_* --aggregate --groups study_kl_schedule=constant,study_kl_schedule=cyclical
    """
    from vaecli.errors import ConfigError
    from vaecli.evaluation.compare import compare as compare_runs

    pair = None
    if groups is not None:
        names = groups.split(",")
        if len(names) != 2 or not all(names):
            raise ConfigError(f"--groups: expected two group names A,B, got {groups!r}")
        if not aggregate:
            raise ConfigError("--groups compares groups of seeds: add --aggregate")
        pair = (names[0], names[1])
    show_comparison(compare_runs(runs, sort, runs_dir, features, aggregate, pair), csv_file, plot_file, pair)


def report_page(
    run: RunArgument = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="HTML file to write (default: RUN/report.html).", show_default=False),
    ] = None,
    features: Annotated[
        Optional[str],
        typer.Option(
            "--features", help="The evaluation's feature space (default: the latest evaluation).", show_default=False
        ),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Write a self-contained HTML page about a run (images embedded).

    Config and manifest, loss curves, reconstruction and sample grids across
    epochs, latent statistics and evaluation when present. Opens in any
    browser with no other files.

    Examples:

      vae report

      vae report runs/fmnist --out fmnist.html
    """
    from vaecli.evaluation.report import write_report
    from vaecli.runs import resolve_run

    target = write_report(resolve_run(run, runs_dir), out, features)
    say(f"Wrote {target} ({target.stat().st_size / 1e6:.1f} MB, images embedded)")


COMMANDS = {"evaluate": evaluate, "compare": compare, "report": report_page}
