"""python -m vaecli.cli: the `vae` command."""

from vaecli.cli import app

app()
