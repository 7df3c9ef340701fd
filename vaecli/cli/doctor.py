"""`vae doctor` and `vae clean`: check run folders and remove what killed processes left behind."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from vaecli.cli.common import RunsDir, say

if TYPE_CHECKING:
    from vaecli.runs.doctor import Diagnosis


def _print(report: Diagnosis) -> None:
    state = "OK" if report.healthy else f"{sum(finding.serious for finding in report.findings)} problem(s)"
    say(f"{report.root}: {state}" + (f" ({report.summary})" if report.summary else ""))
    for finding in report.findings:
        say(f"  {'-' if finding.serious else '.'} {finding.problem}")
        if finding.fix:
            say(f"      fix: {finding.fix}")


def doctor(
    run: Annotated[
        Optional[str],
        typer.Argument(
            metavar="[RUN]", help="Run folder or name (default: every run in --runs-dir).", show_default=False
        ),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Check run folders: what is wrong with each, and the command that fixes it.

    Finds a missing or unreadable manifest or config, a run marked
    RUNNING that no process trains (killed), final models missing or cut
    off, an unreadable checkpoint, metrics past the last checkpoint,
    temporary files and lock files left by killed processes. A run that is
    being trained is reported as such and not checked. Exits 1 when
    something needs fixing, 0 when all is well.

    Examples:

      vae doctor                       # every run in runs/

      vae doctor runs/celeba_z200
    """
    from vaecli.runs import run_folder
    from vaecli.runs.doctor import Finding, diagnose, diagnose_runs

    own: list[Finding] = []
    if run is not None:
        reports = [diagnose(run_folder(run, runs_dir))]
    else:
        reports, own = diagnose_runs(runs_dir)
        if not reports and not own:
            say(f"{runs_dir}: no runs")
    for report in reports:
        _print(report)
    for finding in own:
        say(f"{runs_dir}: {finding.problem}" + (f"\n      fix: {finding.fix}" if finding.fix else ""))
    if own or not all(report.healthy for report in reports):
        raise typer.Exit(1)


def clean(
    path: Annotated[
        Optional[Path],
        typer.Argument(
            metavar="[RUNS_DIR|RUN]", help="A runs folder or one run (default: --runs-dir).", show_default=False
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be removed; remove nothing.")] = False,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Remove temporary files, lock files and half-made run folders left by killed processes.

    Only inside a run folder or a runs folder, and only what vaecli itself
    made: temporaries named .FILE.HOST-PID-XXXXXXXX whose process is gone,
    lock files holding vaecli's lock record, claim and trash folders holding
    nothing but vaecli's files. A run that is being trained is skipped whole;
    anything that only looks like vaecli's is listed as kept, never removed.
    Finished results are never touched.

    Examples:

      vae clean                        # every run in runs/

      vae clean runs/celeba_z200 --dry-run
    """
    from vaecli.io.atomic import human_bytes
    from vaecli.runs.clean import clean as clean_folder

    target = path if path is not None else runs_dir
    cleaning = clean_folder(target, dry_run=dry_run)
    for removed in cleaning.removed:
        say(f"{'would remove' if dry_run else 'removed'} {removed}")
    for live in cleaning.live:
        say(f"skipped {live}: it is being trained right now")
    for kept, reason in cleaning.kept:
        say(f"kept {kept}: {reason}")
    verb = "Would remove" if dry_run else "Removed"
    say(f"{verb} {len(cleaning.removed)} item(s) ({human_bytes(cleaning.bytes)}) from {target}")


COMMANDS = {"doctor": doctor, "clean": clean}
