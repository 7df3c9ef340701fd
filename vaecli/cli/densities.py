"""The density commands: vae fit-density (a Gaussian or a GMM over a run's encodings)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaecli.cli.common import Limit, RunArgument, RunsDir, report, trained_run


def _components(text: str) -> int | str:
    from vaecli.errors import ConfigError

    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--components: expected a whole number or 'auto', got {text!r}") from None


def fit_density(
    run: RunArgument = None,
    kind: Annotated[
        str, typer.Option("--kind", help="gaussian (one full-covariance Gaussian) or gmm (a mixture).")
    ] = "gmm",
    components: Annotated[
        Optional[str],
        typer.Option(
            "--components",
            help="Mixture components K of a gmm (default 10), or 'auto': the K of 1,2,5,10,20,50 with the lowest BIC.",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="Split whose z_mean is fit: train, validation, test or all.")
    ] = ("train"),
    limit: Limit = None,
    name: Annotated[
        Optional[str],
        typer.Option("--name", help="Name in RUN/densities (default: gaussian, or gmmK).", show_default=False),
    ] = None,
    encoding: Annotated[
        str,
        typer.Option(
            "--encoding",
            help="z_mean (the encoder's means) or z (VAE: one posterior sample per image, the aggregate posterior).",
        ),
    ] = "z_mean",
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the EM initialisation.")] = 0,
    n_init: Annotated[int, typer.Option("--n-init", min=1, help="EM starts; the best is kept.")] = 1,
    reg_covar: Annotated[
        float, typer.Option("--reg-covar", min=0.0, help="Added to each covariance's diagonal (latent units^2).")
    ] = 1e-6,
    force: Annotated[bool, typer.Option("--force", help="Replace a density of the same name.")] = False,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Fit a density to the run's encodings (z_mean), to sample from it.

    Writes RUN/densities/NAME.npz (weights, means, covariances) and
    RUN/densities/NAME.json (what it was fit on, BIC, the test split's mean
    log-likelihood in nats per image, seconds). Then `vae sample --density
    NAME` decodes its samples and `vae evaluate --density NAME` measures them.

    Examples:

      vae fit-density runs/ae_z16 --kind gaussian

      vae fit-density runs/ae_z16 --kind gmm --components 10

      vae fit-density runs/ae_z16 --components auto --limit 5000 --n-init 3

      vae fit-density runs/vae_z16 --kind gaussian --encoding z    # named gaussian_z
    """
    from vaecli.latent.densities import fit_density as fit

    chosen = None if components is None else _components(components)
    report(
        fit(
            trained_run(run, runs_dir),
            kind=kind,
            components=chosen,
            split=split,
            limit=limit,
            name=name,
            encoding=encoding,
            seed=seed,
            n_init=n_init,
            reg_covar=reg_covar,
            force=force,
        )
    )


COMMANDS = {"fit-density": fit_density}
