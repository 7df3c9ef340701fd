"""Images to latent files and back: encode, decode.

Each parses its options, loads the run (vaecli.load_run), calls one method of Run with save=True and prints
what it wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaecli.cli.common import Columns, Limit, RunArgument, RunsDir, Split, console, report, trained_run


def encode(
    run: RunArgument = None,
    split: Split = "test",
    limit: Limit = None,
    sample: Annotated[bool, typer.Option("--sample", help="Also store one sampled z per image (VAE only).")] = False,
    seed: Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the --sample noise.")] = 0,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="HDF5 file to write (default: RUN/latent/z_SPLIT.h5).", show_default=False),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Encode a data split of the run's data set into an HDF5 latent file.

    The file holds z_mean (N, z_dim), z_log_var (VAE), z (with --sample),
    index (row in the source split), labels/<name>, and attributes naming
    the run, config hash, split, data fingerprint and z_dim. It is written
    under a temporary name and renamed when complete.

    Examples:

      vae encode                                   # test split of the latest run

      vae encode runs/celeba_z200 --split test --out z_test.h5

      vae encode quickstart --split all --sample --seed 1
    """
    encoding = trained_run(run, runs_dir).encode_split(
        split, limit=limit, sample=sample, seed=seed, save=True, out=out, console=console
    )
    report(encoding)


def decode(
    run: RunArgument = None,
    file: Annotated[
        Optional[str],
        typer.Argument(
            metavar="FILE", show_default=False, help="Latent file: .h5/.hdf5 from encode or sample, .npy or .npz."
        ),
    ] = None,
    dataset: Annotated[
        Optional[str],
        typer.Option(
            "--dataset",
            "-d",
            help="Dataset in the file (default: z_mean, or z in a file from `vae sample`).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Decode the first N points.")] = 256,
    columns: Columns = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="PNG to write (default: RUN/decoded/FILE_DATASET.png).", show_default=False),
    ] = None,
    array_out: Annotated[
        Optional[Path],
        typer.Option(
            "--array-out",
            help="Also write the decoded images as a float32 .npy array (N, H, W, C) in [0, 1].",
            show_default=False,
        ),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Decode latent points from a file to a PNG grid (and optionally an array).

    Without RUN, a file written by `vae encode` or `vae sample` is decoded by
    the run that wrote it (its run_path attribute), else by the latest run.
    A z_dim that differs from the run's, a missing dataset or a NaN/Inf
    value is refused with one line saying which.

    Examples:

      vae decode runs/latent_demo/latent/z_test.h5 --limit 64 --columns 8

      vae decode runs/celeba_z200 z_test.h5 --out decoded.png

      vae decode points.npy --array-out decoded.npy
    """
    from vaecli.errors import ConfigError
    from vaecli.latent.files import recorded_run

    if file is None:  # one positional argument is the FILE (click fills arguments left to right)
        run, file = None, run
    if file is None:
        raise ConfigError("missing FILE: give a latent file, e.g. vae decode runs/NAME/latent/z_test.h5")
    if run is None:  # a file from `vae encode` or `vae sample` names the run that wrote it
        recorded = recorded_run(file)
        run = None if recorded is None else str(recorded)
    report(
        trained_run(run, runs_dir).decode_file(
            file, dataset, limit=limit, columns=columns, save=True, out=out, array_out=array_out, console=console
        )
    )


COMMANDS = {"encode": encode, "decode": decode}
