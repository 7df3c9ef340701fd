"""`vae sweep` (a grid of runs: here, in parallel processes, or on Slurm) and `vae sweep-status`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, List, Optional

import typer

from vaecli.cli.common import ConfigArgument, RunsDir, console, report, say
from vaecli.errors import ConfigError

if TYPE_CHECKING:
    from vaecli.sweeps import SweepStatus

SLURM_PANEL = "Slurm (--executor slurm)"
SCHEDULER_PANEL = "Other schedulers"


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
    jobs: Annotated[
        Optional[int],
        typer.Option(
            "--jobs",
            "-j",
            help="Train N grid points at once, each its own `vae train` process (on Slurm: at most N array "
            "tasks at once). Default: one per --devices GPU; without --jobs or --devices, one after another "
            "in this process.",
            show_default=False,
        ),
    ] = None,
    devices: Annotated[
        Optional[str],
        typer.Option(
            "--devices",
            help="GPUs to spread the runs over, one run per GPU (its own CUDA_VISIBLE_DEVICES): ids such as "
            "0,1,2,3, or auto for every visible GPU. A freed GPU goes to the next waiting run.",
            show_default=False,
        ),
    ] = None,
    plan_only: Annotated[
        bool,
        typer.Option(
            "--plan",
            help="Print the grid (INDEX, run name, overrides; tab-separated) and exit.",
            rich_help_panel=SCHEDULER_PANEL,
        ),
    ] = False,
    index: Annotated[
        Optional[int],
        typer.Option(
            "--index",
            help="Train only grid point I (from --plan) in this process: for Slurm arrays, Kubernetes "
            "indexed jobs, GNU parallel. Writes no sweep record.",
            show_default=False,
            rich_help_panel=SCHEDULER_PANEL,
        ),
    ] = None,
    show_status: Annotated[
        bool,
        typer.Option(
            "--status", help="Show each run's state (manifests, Slurm's queue) and exit.", rich_help_panel=SLURM_PANEL
        ),
    ] = False,
    executor: Annotated[
        str,
        typer.Option("--executor", help="local (this machine) or slurm (one array job).", rich_help_panel=SLURM_PANEL),
    ] = "local",
    partition: Annotated[
        Optional[str],
        typer.Option("--partition", help="Slurm partition (default: the cluster's).", rich_help_panel=SLURM_PANEL),
    ] = None,
    gpus_per_run: Annotated[
        Optional[int],
        typer.Option(
            "--gpus-per-run", min=0, help="GPUs of each array task.", show_default=False, rich_help_panel=SLURM_PANEL
        ),
    ] = None,
    cpus_per_run: Annotated[
        Optional[int],
        typer.Option(
            "--cpus-per-run",
            min=1,
            help="CPUs of each array task (also its TensorFlow threads).",
            show_default=False,
            rich_help_panel=SLURM_PANEL,
        ),
    ] = None,
    time: Annotated[
        Optional[str],
        typer.Option(
            "--time",
            help="Time limit of each run, in any sbatch format (4:00:00; 90 for minutes; 1-12 for days-hours). "
            "90 s before it the run stops, KILLED with its checkpoint, and its task is requeued to resume it. "
            "Default 4:00:00.",
            show_default=False,
            rich_help_panel=SLURM_PANEL,
        ),
    ] = None,
    requeues: Annotated[
        Optional[int],
        typer.Option(
            "--requeues",
            min=0,
            help="How often a run stopped at its time limit goes back into the queue; "
            "after that, submit the sweep again to resume it. Default 3.",
            show_default=False,
            rich_help_panel=SLURM_PANEL,
        ),
    ] = None,
) -> None:
    """Train the grid of runs over the --set values, then compare them.

    Each run is named after its values (quickstart_kl_factor=1e-06_z_dim=32).
    COMPLETED runs are skipped, interrupted ones resumed, a failed one
    recorded and the sweep continued; RUNS_DIR/sweeps/NAME.json records the
    outcome of every run. Ctrl-C (or SIGTERM) stops every run, each marked
    KILLED with its last checkpoint: run the command again to carry on.
    Exit code 1 when a run failed.

    Examples:

      vae sweep configs/quickstart.yaml --set loss.kl_factor=1e-6,1e-4,1e-3,1e-2

      vae sweep configs/celeba_z200.yaml --set loss.kl_factor=1,1e-2,1e-4,1e-6 --devices auto

      vae sweep configs/quickstart.yaml --set loss.kl_factor=1e-3,1 --jobs 2   (a CPU shared by 2 runs)

      vae sweep configs/celeba_z200.yaml --set loss.kl_factor=1,1e-4 --executor slurm
      --partition gpu --gpus-per-run 1 --time 4:00:00

      vae sweep configs/celeba_z200.yaml --set loss.kl_factor=1,1e-4 --status

      vae sweep configs/quickstart.yaml --set loss.kl_factor=1e-3,1 --plan  (then --index 0, --index 1)
    """
    from vaecli import sweeps

    if plan_only or show_status:
        if plan_only and show_status:
            raise ConfigError("give --plan or --status, not both")
        return _plan_or_status(config_path, settings, seeds, name, runs_dir, plan_only)
    given: dict[str, Any] = dict(
        partition=partition, gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run, time=time, requeues=requeues
    )
    given = {key: value for key, value in given.items() if value is not None}
    slurm = sweeps.SlurmOptions(**given) if given else None
    result = sweeps.sweep(
        config_path,
        settings,
        seeds=seeds,
        name=name,
        runs_dir=runs_dir,
        evaluate=evaluate_runs,
        retry_failed=retry_failed,
        quiet=quiet,
        console=console,
        jobs=jobs,
        devices=devices,
        index=index,
        executor=executor,
        slurm=slurm,
    )
    if result.executor in ("serial", "local") and result.run_folders:
        from vaecli.cli.measure import show_comparison
        from vaecli.evaluation.compare import compare

        show_comparison(compare(result.run_folders))
    say(result.summary)
    if result.failed:  # scripts see that not every run finished
        raise typer.Exit(1)


def _plan_or_status(
    config_path: Path, settings: list[str], seeds: int | None, name: str | None, runs_dir: Path, plan_only: bool
) -> None:
    from vaecli import sweeps

    if plan_only:
        for line in sweeps.plan_lines(sweeps.sweep_plan(config_path, settings, seeds=seeds, name=name)):
            print(line)  # plain stdout, no Rich wrapping: scripts cut and read it
        return
    show_status(sweeps.sweep_status(name, config=config_path, settings=settings, seeds=seeds, runs_dir=runs_dir))


def show_status(status: SweepStatus) -> None:
    from vaecli.sweeps.status import status_table

    console.print(status_table(status.name, status.rows))
    report(status)


def sweep_status(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The sweep's name (runs/sweeps/NAME.json).")],
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Show each run of a sweep: its state from its manifest and, for a
    Slurm sweep, from squeue (PENDING, RUNNING; LOST when its job ended
    without finishing the run), epoch, losses and ETA.

    Example: vae sweep-status celeba_z200
    """
    from vaecli import sweeps

    show_status(sweeps.sweep_status(name, runs_dir=runs_dir))


COMMANDS = {"sweep": sweep, "sweep-status": sweep_status}
