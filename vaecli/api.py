"""The public Python API of a run: `train` (the one code path of `vae train` and of notebooks), `load_run`, and
`Run`: vaecli.runs.run.Run with every latent and evaluation command as a method.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vaecli.errors import ConfigError
from vaecli.evaluation.assays import assay
from vaecli.evaluation.evaluate import evaluate
from vaecli.evaluation.factors import factors
from vaecli.latent.decode import decode_file
from vaecli.latent.densities import fit_density, load_density
from vaecli.latent.encode import encode_split
from vaecli.latent.interpolate import interpolate
from vaecli.latent.sample import sample
from vaecli.latent.stats import latent_stats
from vaecli.latent.traverse import traverse
from vaecli.runs import run as runs_run

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.config import ExperimentConfig
    from vaecli.runs.paths import RunPaths


def train(
    config: str | Path | ExperimentConfig | Mapping[str, Any] | None = None,
    *,
    overrides: dict | list[str] | None = None,
    name: str | None = None,
    runs_dir: str | Path = "runs",
    resume: str | Path | None = None,
    force: bool = False,
    from_checkpoint: int | None = None,
    quiet: bool = False,
    console: Console | None = None,
) -> Run:
    """Train a config into runs_dir/NAME (or continue the run in `resume`) and return the finished Run.

    config is a YAML file, an ExperimentConfig or a dict of config sections (as the YAML holds);
    overrides are `--set` values, as a dict {"train.epochs": 2} or a list ["train.epochs=2"]. A finished
    run given to resume is returned as it is. A resume verifies the checkpoint's checksum and that
    checkpoint, metrics and manifest agree; from_checkpoint continues from the intact checkpoint of
    that epoch instead of the last one.
    Per-epoch lines go to console (a rich Console) unless quiet.

    Example:
        >>> run = vaecli.train("configs/quickstart.yaml", overrides={"train.epochs": 2}, name="nb")
        >>> run.manifest.status, len(run.metrics)
        ('COMPLETED', 2)
    """
    from rich.console import Console
    from rich.markup import escape

    from vaecli.config import load_config
    from vaecli.runs import existing_run, is_completed
    from vaecli.runs.claims import refuse_live
    from vaecli.training.loop import run_training

    console = console or Console()
    override_list = _override_list(overrides)
    if from_checkpoint is not None and resume is None:
        raise ConfigError("from_checkpoint chooses where a resume continues; give resume (the run) with it")
    for value, argument in ((name, "name"), (resume, "resume"), (runs_dir, "runs_dir")):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"{argument} must be text or a path, not a {type(value).__name__}")
    if resume is not None:
        if config is not None or override_list or name is not None:
            raise ConfigError(
                "resume continues a run as it was set up; give no config, overrides or name with it",
                arguments=("resume", "config", "overrides", "name"),
            )
        paths = existing_run(resume)
        refuse_live(paths.root)
        if is_completed(paths) and from_checkpoint is None:
            if not quiet:
                console.print(f"{escape(str(paths.root))} is already COMPLETED; nothing to do.", highlight=False)
            return Run(paths)
        experiment = load_config(paths.config)
    else:
        experiment, paths = _new_run(config, override_list, name, runs_dir, force)
    if not quiet:
        console.print(
            f"{'Resuming' if resume else 'Training'} [bold]{escape(str(paths.root))}[/bold] "
            f"({experiment.model.kind}, z_dim {experiment.model.z_dim}, {experiment.data.source}, "
            f"{experiment.train.epochs} epochs)",
            highlight=False,
        )
    run_training(
        experiment, paths, resume=resume is not None, console=console, quiet=quiet, from_checkpoint=from_checkpoint
    )
    return Run(paths)


def _new_run(
    config: object, overrides: list[str], name: str | None, runs_dir: str | Path, force: bool
) -> tuple[ExperimentConfig, RunPaths]:
    """The validated config of a new run and its folder's paths (the folder is created when training starts)."""
    from vaecli.config import run_name_problem, validate
    from vaecli.io.yaml_config import apply_overrides
    from vaecli.runs import prepare_new_run

    if config is None:
        raise ConfigError(
            "missing config: give an experiment config file (e.g. configs/quickstart.yaml), or resume a run",
            arguments=("config", "resume"),
        )
    if name is not None and run_name_problem(name):
        raise ConfigError(f"name: {run_name_problem(name)}", arguments=("name",))
    source, data = _config_data(config)
    data = apply_overrides(data, overrides)
    if name is not None:  # a name is text as given: 2024, 007 and yes are names, not YAML numbers or booleans
        data["name"] = name
    experiment = validate(data, source=source)
    return experiment, prepare_new_run(Path(runs_dir), experiment.name, force)


def _config_data(config: object) -> tuple[str, dict[str, Any]]:
    """(where it came from, the config as a dict) from a YAML path, an ExperimentConfig or a dict."""
    from vaecli.config import ExperimentConfig
    from vaecli.io.yaml_config import read_yaml

    if isinstance(config, ExperimentConfig):
        return "config", config.to_dict()
    if isinstance(config, Mapping):
        return "config", dict(config)
    if isinstance(config, (str, os.PathLike)):
        return str(config), read_yaml(Path(config))
    raise ConfigError(f"config must be a YAML file, an ExperimentConfig or a dict, not a {type(config).__name__}")


def _override_list(overrides: dict | list[str] | None) -> list[str]:
    """{"a.b": 1} or ["a.b=1"] -> ["a.b=1"]; dict values are written as YAML reads them back."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        import yaml

        return [
            f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
            for key, value in overrides.items()
        ]
    if isinstance(overrides, (str, bytes)) or not all(isinstance(item, str) for item in overrides):
        raise ConfigError('overrides must be a dict {"train.epochs": 2} or a list of "KEY=VALUE" strings')
    return list(overrides)


class Run(runs_run.Run):
    """A trained run (config, manifest, metrics, split, models) with the commands of `vae` as methods.

    Example:
        >>> run = vaecli.load_run("quickstart")
        >>> points, images = run.sample(box=10, n=64)
    """

    # Every command as a method: run.interpolate(3, 17) is vaecli.latent.interpolate.interpolate(run, 3, 17).
    encode_split = encode_split
    decode_file = decode_file
    interpolate = interpolate
    traverse = traverse
    latent_stats = latent_stats
    factors = factors
    assay = assay
    sample = sample
    evaluate = evaluate
    fit_density = fit_density
    load_density = load_density


def load_run(run: str | Path | None = None, runs_dir: str | Path = "runs") -> Run:
    """The run in a folder, a bare name looked up in runs_dir, or (None) the latest run there.

    Example:
        >>> run = vaecli.load_run("runs/quickstart")
        >>> run.metrics[-1]["val_loss"]
        1622.8
    """
    from vaecli.runs import resolve_run

    return Run(resolve_run(run, runs_dir))
