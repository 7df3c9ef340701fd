"""`vae sweep`: a grid of runs over --set values."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from vaecli.cli.common import ConfigArgument, RunsDir, console, say


def sweep(
    config_path: ConfigArgument,
    settings: Annotated[
        List[str],
        typer.Option(
            "--set",
            "-s",
            help="KEY=V1,V2,... : one grid axis (repeatable); KEY=V with one value fixes it for every run.",
        ),
    ] = [],  # noqa: B006
    seeds: Annotated[
        Optional[int],
        typer.Option("--seeds", help="Also repeat every point with train.seed 0..N-1.", show_default=False),
    ] = None,
    evaluate_runs: Annotated[bool, typer.Option("--evaluate", help="Run `vae evaluate` on each finished run.")] = False,
    name: Annotated[
        Optional[str],
        typer.Option("--name", help="Prefix of the run names (default: the config's name).", show_default=False),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Resume runs that FAILED in an earlier sweep.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet/--verbose", help="Per-epoch lines of each run (--verbose).")] = True,
    runs_dir: RunsDir = Path("runs"),
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
    from vaecli.cli.measure import show_comparison
    from vaecli.evaluation.compare import compare
    from vaecli.sweeps import sweep as sweep_runs

    result = sweep_runs(
        config_path,
        settings,
        seeds=seeds,
        name=name,
        runs_dir=runs_dir,
        evaluate=evaluate_runs,
        retry_failed=retry_failed,
        quiet=quiet,
        console=console,
    )
    if result.run_folders:
        show_comparison(compare(result.run_folders))
    say(result.summary)
    if result.failed:  # scripts see that not every run finished
        raise typer.Exit(1)


COMMANDS = {"sweep": sweep}
