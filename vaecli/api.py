"""The public Python API of a run: `train` (the one code path of `vae train` and of notebooks), `load_run`, and
`Run`: vaecli.runs.run.Run with every latent and evaluation command as a method.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from vaecli.errors import ConfigError, LatentError
from vaecli.evaluation.assays import assay
from vaecli.evaluation.factors import factors
from vaecli.latent.decode import decode_file
from vaecli.latent.encode import encode_split
from vaecli.latent.interpolate import interpolate
from vaecli.latent.stats import latent_stats
from vaecli.latent.traverse import traverse
from vaecli.runs import run as runs_run

if TYPE_CHECKING:
    from vaecli.config import ExperimentConfig


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
    console=None,
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

    from vaecli.config import load_config, run_name_problem, validate
    from vaecli.io.yaml_config import apply_overrides
    from vaecli.runs import existing_run, is_completed, prepare_new_run
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
                "resume continues a run with its own config; give no config, overrides or name with it",
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
        if config is None:
            raise ConfigError(
                "missing CONFIG: give an experiment config (e.g. configs/quickstart.yaml) or --resume RUN"
            )
        if name is not None and run_name_problem(name):
            raise ConfigError(f"name: {run_name_problem(name)}", arguments=("name",))
        source, data = _config_data(config)
        data = apply_overrides(data, override_list)
        if name is not None:  # a name is text as given: 2024, 007 and yes are names, not YAML numbers or booleans
            data["name"] = name
        experiment = validate(data, source=source)
        paths = prepare_new_run(Path(runs_dir), experiment.name, force)
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

    def sample(
        self,
        box: float | Sequence[float] | None = None,
        *,
        symmetric: float | Sequence[float] | None = None,
        sphere: float | Sequence[float] | None = None,
        prior: float | Sequence[float] | None = None,
        n: int | None = None,
        seed: int = 0,
        save: bool = False,
        columns: int | None = None,
        out: str | Path | None = None,
    ):
        """Decode random latent points of one region (`vae sample`); unpacks as (points, images).

        box=B: uniform in 0 < z_i < B. symmetric=B: -B < z_i < B. sphere=R: uniform on ||z|| = R.
        prior=s: N(0, s^2 I). A list of values gives n points per value, in that order. n
        defaults to 100 for one value, 10 per value for several.

        Example:
            >>> points, images = run.sample(box=10, n=64)
            >>> points.shape, images.shape
            ((64, 32), (64, 32, 32, 3))
        """
        from vaecli.latent.sample import sample

        region, values = _one_region(box=box, symmetric=symmetric, sphere=sphere, prior=prior)
        return sample(self.require_models(), region, values, n, seed, save, columns, out)

    def evaluate(
        self,
        split: str = "test",
        iw_samples: int = 16,
        n_samples: int = 1000,
        boundaries: Sequence[float] | None = None,
        features: str | None = None,
        seed: int = 0,
        limit: int | None = None,
        save: bool = True,
        console=None,
    ):
        """Likelihood bounds and plausibility of samples (`vae evaluate`): an Evaluation.

        Its .evaluation holds every number of evaluation.json, which is written unless save is False.

        Example:
            >>> result = run.evaluate(features="pixels", n_samples=200)
            >>> result.evaluation["likelihood"]["elbo_nats"]
            -1615.2
        """
        from vaecli.evaluation.evaluate import evaluate_run
        from vaecli.evaluation.plausibility import DEFAULT_BOXES

        return evaluate_run(
            self.require_models(),
            split,
            iw_samples,
            n_samples,
            DEFAULT_BOXES if boundaries is None else tuple(boundaries),
            features,
            seed,
            limit,
            save,
            console,
        )


def _one_region(**regions) -> tuple[str, list[float]]:
    """(region name, its values) from keyword arguments of which exactly one is given."""
    chosen = {name: value for name, value in regions.items() if value is not None}
    if len(chosen) != 1:
        raise LatentError(f"give exactly one region of {', '.join(regions)} (got {', '.join(chosen) or 'none'})")
    name, value = chosen.popitem()
    values = [value] if isinstance(value, (int, float, np.number)) else list(value)
    return name, [float(item) for item in values]


def load_run(run: str | Path | None = None, runs_dir: str | Path = "runs") -> Run:
    """The run in a folder, a bare name looked up in runs_dir, or (None) the latest run there.

    Example:
        >>> run = vaecli.load_run("runs/quickstart")
        >>> run.metrics[-1]["val_loss"]
        1622.8
    """
    return Run(runs_run.load_run(run, runs_dir).paths)
