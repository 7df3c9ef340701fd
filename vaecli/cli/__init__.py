"""The `vae` command line: a thin shell over the public Python API (vaecli.api, vaecli.runs.run, ...).

One module per command group, each with a COMMANDS table registered here:

    train.py     vae train, vae config show
    codes.py     vae encode, decode
    latent.py    vae sample, interpolate, traverse, latent-stats
    densities.py vae fit-density
    measure.py   vae evaluate, compare, report
    factors.py   vae factors, vae assay
    sweep.py     vae sweep
    data.py      vae data prepare
    doctor.py    vae doctor, vae clean

No TensorFlow at import time: `vae --help` answers instantly; commands import what they need.
"""

from __future__ import annotations

import typer

from vaecli import __version__
from vaecli.cli import codes, data, densities, doctor, factors, latent, measure, sweep, train
from vaecli.cli.common import console, register

app = typer.Typer(
    name="vae",
    help="Train, encode, decode and sample autoencoders and VAEs on images, from YAML experiment configs.\n\n"
    "Example: vae train configs/quickstart.yaml",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        console.print(f"vaecli {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """vae: autoencoder and VAE experiments on images."""


for group in (train, codes, latent, densities, measure, factors, sweep, doctor):
    register(app, group.COMMANDS, getattr(group, "HIDDEN_ALIASES", None))
for name, help_text, commands in (train.CONFIG_GROUP, data.GROUP):  # vae config ..., vae data ...
    sub_app = typer.Typer(help=help_text, no_args_is_help=True)
    register(sub_app, commands)
    app.add_typer(sub_app, name=name)

if __name__ == "__main__":
    app()
