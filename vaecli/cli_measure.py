"""The measuring commands of `vae`: evaluate, compare, sweep, report.

cli.py calls register(app) once. Like vaecli.cli_latent, nothing here imports TensorFlow or
vaecli.cli at module level, so `vae --help` stays instant and there is no import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

RUN_HELP = "Run folder or run name (default: the latest run in --runs-dir)."
RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="Folder that holds run folders.")
RUN_ARGUMENT = typer.Argument(None, metavar="RUN", help=RUN_HELP, show_default=False)
FEATURES_HELP = ("Feature space of precision/recall/Frechet distance: classifier (a CNN trained once on the data "
                 "set's labels, cached), inception (InceptionV3, local weights only) or pixels (default: the first "
                 "of these available).")


def _print_warnings(result) -> None:
    from vaecli.cli import console

    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)


def evaluate(
    run: Optional[str] = RUN_ARGUMENT,
    split: str = typer.Option("test", "--split", help="Split to measure: train, validation, test or all."),
    iw_samples: int = typer.Option(16, "--iw-samples", "-k", help="K, posterior samples per image of the "
                                   "importance-weighted bound (VAE only)."),
    n_samples: int = typer.Option(1000, "--n-samples", "-n", help="Decoded points per latent region, and real "
                                  "images in the reference set."),
    boxes: Optional[str] = typer.Option(None, "--box", show_default=False, help="B values of the boxes "
                                        "0 < z_i < B (default: the classic 0.5,2.5,5,8,10,15,20,30,50)."),
    features: str = typer.Option("auto", "--features", help=FEATURES_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N images of the split."),
    seed: int = typer.Option(0, "--seed", help="Seed of the posterior samples, latent points and real subsets."),
    runs_dir: Path = RUNS_DIR,
):
    """Measure a trained run: likelihood bounds and plausibility of samples.

    Writes RUN/evaluation.json and RUN/evaluation/samples.png and prints two
    tables: ELBO and the IWAE bound (nats and bits/dim), reconstruction
    errors, KL and active units; then, for latent points from the prior
    N(0, I) and from each box 0 < z_i < B, the precision and recall
    (Kynkaanniemi et al. 2019, k=3) and Frechet distance against real
    images in one named feature space, and the encode->decode cycle error.
    An AE has no ELBO or IWAE (marked n/a).

    Examples:

      vae evaluate                               # the latest run, test split

      vae evaluate runs/fmnist --iw-samples 64 --n-samples 2000

      vae evaluate quickstart --features pixels --box 1,10
    """
    from vaecli.cli import console
    from vaecli.evaluation.evaluate import evaluate_run
    from vaecli.evaluation.plausibility import DEFAULT_BOXES
    from vaecli.evaluation.tables import likelihood_table, plausibility_table
    from vaecli.latent import parse_parameters
    from vaecli.trained import load_trained

    box_values = parse_parameters(boxes) if boxes else DEFAULT_BOXES
    trained = load_trained(run, runs_dir)
    result = evaluate_run(trained, split, iw_samples, n_samples, box_values, features, seed, limit, console)
    _print_warnings(result)
    evaluation = result.details["evaluation"]
    console.print(likelihood_table(evaluation))
    console.print(plausibility_table(evaluation))
    console.print(result.summary, highlight=False, soft_wrap=True)


def _resolve_runs(runs: list[str], runs_dir: Path):
    from vaecli.trained import resolve_run

    return [resolve_run(run, runs_dir) for run in runs]


def _show_comparison(run_paths, sort, csv_file, plot_file) -> None:
    from vaecli.cli import console
    from vaecli.evaluation.compare import (
        compare_plot,
        compare_rows,
        compare_table,
        feature_space_warning,
        write_csv,
    )

    rows, differing = compare_rows(run_paths, sort)
    warning = feature_space_warning(rows)
    if warning:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    console.print(compare_table(rows, differing, console.width))
    for target, writer in ((csv_file, write_csv), (plot_file, compare_plot)):
        if target is not None:
            console.print(f"Wrote {writer(rows, target)}", highlight=False)


def compare(
    runs: List[str] = typer.Argument(..., metavar="RUN...", help="Run folders or names."),
    sort: Optional[str] = typer.Option(None, "--sort", help="Sort by this column, e.g. val_loss or precision_prior."),
    csv_file: Optional[Path] = typer.Option(None, "--csv", help="Also write every column to this CSV file."),
    plot_file: Optional[Path] = typer.Option(None, "--plot", help="Also draw rate-distortion and plausibility "
                                             "against the KL factor to this PNG."),
    runs_dir: Path = RUNS_DIR,
):
    """Compare runs in one table: differing config keys, final metrics, evaluation.

    Examples:

      vae compare runs/fmnist_kl*

      vae compare quickstart quickstart_ae --sort val_loss --csv runs.csv --plot runs.png
    """
    _show_comparison(_resolve_runs(runs, runs_dir), sort, csv_file, plot_file)


def sweep(
    config_path: Path = typer.Argument(..., metavar="CONFIG", help="Experiment config (YAML)."),
    settings: List[str] = typer.Option([], "--set", "-s", help="KEY=V1,V2,... : one grid axis (repeatable); "
                                       "KEY=V with one value fixes it for every run."),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="Also repeat every point with train.seed 0..N-1."),
    evaluate_runs: bool = typer.Option(False, "--evaluate", help="Run `vae evaluate` on each finished run."),
    name: Optional[str] = typer.Option(None, "--name", help="Prefix of the run names (default: the config's name)."),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Resume runs that FAILED in an earlier sweep."),
    quiet: bool = typer.Option(True, "--quiet/--verbose", help="Per-epoch lines of each run (--verbose)."),
    runs_dir: Path = RUNS_DIR,
):
    """Train the grid of runs over the --set values, then compare them.

    Each run is named after its values (quickstart_kl_factor=1e-06_z_dim=32).
    COMPLETED runs are skipped, interrupted ones resumed, a failed one
    recorded and the sweep continued; RUNS_DIR/sweeps/NAME.json records the
    outcome of every run. Ctrl-C stops cleanly: run the command again to
    carry on.

    Examples:

      vae sweep configs/quickstart.yaml --set loss.kl_factor=1e-6,1e-4,1e-3,1e-2

      vae sweep configs/fashion_mnist_z32.yaml --set loss.kl_factor=1e-3,1
      --set model.z_dim=32,200 --seeds 2 --evaluate
    """
    from vaecli.cli import console
    from vaecli.evaluation.sweep import plan_sweep, run_sweep
    from vaecli.runs import RunPaths

    plan = plan_sweep(config_path, settings, seeds, name)
    console.print(f"Sweep {plan.name}: {len(plan.points)} runs in {runs_dir}", highlight=False)
    record = run_sweep(plan, runs_dir, config_path, settings, evaluate_runs, retry_failed, console, quiet)
    existing = [RunPaths(runs_dir / point.name) for point in plan.points if (runs_dir / point.name / "manifest.json")
                .exists()]
    if existing:
        _show_comparison(existing, None, None, None)
    failed = [point.name for point in plan.points if point.outcome == "failed"]
    console.print(f"Sweep record: {record}" + (f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""),
                  highlight=False)
    if failed:  # scripts see that not every run finished
        raise typer.Exit(1)


def report(
    run: Optional[str] = RUN_ARGUMENT,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file to write (default: RUN/report.html)."),
    runs_dir: Path = RUNS_DIR,
):
    """Write a self-contained HTML page about a run (images embedded).

    Config and manifest, loss curves, reconstruction and sample grids across
    epochs, latent statistics and evaluation when present. Opens in any
    browser with no other files.

    Examples:

      vae report

      vae report runs/fmnist --out fmnist.html
    """
    from vaecli.cli import console
    from vaecli.evaluation.report import write_report
    from vaecli.trained import resolve_run

    target = write_report(resolve_run(run, runs_dir), out)
    console.print(f"Wrote {target} ({target.stat().st_size / 1e6:.1f} MB, images embedded)", highlight=False)


COMMANDS = {"evaluate": evaluate, "compare": compare, "sweep": sweep, "report": report}


def register(app: typer.Typer) -> None:
    """Add the measuring commands to the `vae` app (cli.py calls this once)."""
    from vaecli.cli import user_errors

    for name, command in COMMANDS.items():
        app.command(name)(user_errors(command))
