"""What every command of the CLI shares: the consoles, the error wrapper, printing, shared options.

Nothing here imports TensorFlow; commands import the public API inside their bodies, so
`vae --help` answers at once.
"""

from __future__ import annotations

from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, List, Optional

import typer
from rich.console import Console
from rich.markup import escape

from vaecli.errors import VaeError

if TYPE_CHECKING:
    from vaecli.api import Run
    from vaecli.results import Result

console = Console(soft_wrap=True)
error_console = Console(stderr=True, soft_wrap=True)

RUN_HELP = "Run folder or run name (default: the latest run in --runs-dir)."

# Options and arguments several commands take, spelled and explained once.
ConfigArgument = Annotated[Path, typer.Argument(metavar="CONFIG", help="Experiment config (YAML).", show_default=False)]
Overrides = Annotated[
    List[str],
    typer.Option(
        "--set",
        "-s",
        help="Override a config value, e.g. --set loss.kl_factor=1e-3 (repeatable; values are read as YAML).",
    ),
]
RunArgument = Annotated[Optional[str], typer.Argument(metavar="RUN", help=RUN_HELP, show_default=False)]
RunOption = Annotated[Optional[str], typer.Option("--run", "-r", help=RUN_HELP, show_default=False)]
RunsDir = Annotated[Path, typer.Option("--runs-dir", help="Folder that holds run folders.")]
Split = Annotated[str, typer.Option("--split", help="Split of the run's data set: train, validation, test or all.")]
Limit = Annotated[
    Optional[int], typer.Option("--limit", help="Use only the first N images of the split.", show_default=False)
]
Columns = Annotated[
    Optional[int],
    typer.Option("--columns", "-c", min=1, help="Images per grid row (default: square).", show_default=False),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or per-epoch lines.")]


def say(text: str) -> None:
    """Print a line of plain text (paths and names may hold brackets: they are not Rich markup)."""
    console.print(escape(text), highlight=False)


def report(result: Result) -> None:
    """A result's warnings in yellow, then its one-line summary of what was written where."""
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    say(result.summary)


def print_error(*lines: str) -> None:
    """Red `error:` and the first line, the others indented; never read as Rich markup (paths hold brackets)."""
    for number, line in enumerate(lines):
        error_console.print(
            f"[red]error:[/red] {escape(line)}" if number == 0 else f"  {escape(line)}", highlight=False
        )


def _machine_error(error: OSError | MemoryError | EOFError) -> str:
    """The one line for a failure of the machine rather than of vaecli (a safety net: the code paths that
    can meet these say more, closer to where they happen)."""
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        reason = error.strerror or (str(error).splitlines() or [type(error).__name__])[0][:200]
        return f"{where}{reason}"
    if isinstance(error, MemoryError):
        return "out of memory; ask for less (fewer images or points, a smaller batch or model)"
    return f"unexpected end of a file ({error or 'EOFError'})"  # EOFError: click would print a bare "Aborted."


def trained_run(run: str | None, runs_dir: Path) -> Run:
    """The run (a folder, a name in runs_dir, or the latest) with its final models: what every command that
    encodes or decodes starts from."""
    from vaecli.api import load_run

    return load_run(run, runs_dir).require_models()


def in_flags(error: VaeError, command: Callable[..., Any]) -> list[str]:
    """The error's lines with the Python arguments it names worded as the command's flags (columns -> --columns,
    value_range -> --range, config_path -> CONFIG): the first whole-word mention of each, in the first line that
    has one."""
    import re

    lines = list(error.lines)
    if not lines or not error.arguments:
        return lines
    single = typer.Typer()  # the command's own click parameters: Python names and the flags that set them
    single.command()(command)
    for parameter in typer.main.get_command(single).params:
        if parameter.name in error.arguments:
            flags = [option for option in parameter.opts if option.startswith("--")]
            spelled = flags[0] if flags else (getattr(parameter, "metavar", None) or parameter.name.upper())
            mention = re.compile(rf"(?<![\w-]){re.escape(parameter.name)}(?![\w-])")
            line = next((index for index, text in enumerate(lines) if mention.search(text)), None)
            if line is not None:
                lines[line] = mention.sub(spelled, lines[line], count=1)
    return lines


def user_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn VaeError into red lines on stderr and its exit code: no traceback for user mistakes."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except VaeError as error:
            print_error(*in_flags(error, command))
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:  # Ctrl-C before anything was started: nothing to clean up
            print_error("interrupted")
            raise typer.Exit(130) from None
        except (OSError, MemoryError, EOFError) as error:
            print_error(_machine_error(error))
            raise typer.Exit(1) from None

    return wrapper


def register(app: typer.Typer, commands: dict, hidden: dict | None = None) -> None:
    """Add commands (name -> function) to app, each behind the error wrapper."""
    for name, command in commands.items():
        app.command(name)(user_errors(command))
    for name, command in (hidden or {}).items():
        app.command(name, hidden=True, help=f"Same as `vae {command.__name__.replace('_', '-')}`.")(
            user_errors(command)
        )
