"""The latent-space commands: sample, interpolate, traverse, latent-stats.

Each parses its options, loads the run (vaecli.load_run), calls one method of Run with
save=True and prints what it wrote.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaecli.cli.common import Limit, RunArgument, RunOption, RunsDir, Split, console, report, trained_run

BOUNDARY_HELP = "Uniform in 0 < z_i < B; several comma-separated values give one labelled row each."


def _region(
    boundary: str | None,
    symmetric: bool,
    radius: str | None,
    prior: str | None,
    scale: str | None,
    density: str | None = None,
) -> tuple[str, str]:
    """(region kind, parameter list text) from the mutually exclusive region flags."""
    from vaecli.errors import ConfigError

    chosen = [
        flag
        for flag, value in (("--boundary", boundary), ("--radius", radius), ("--prior", prior), ("--density", density))
        if value is not None
    ]
    if len(chosen) != 1:
        raise ConfigError(
            "choose one region: --boundary B (0 < z_i < B; add --symmetric for -B < z_i < B), "
            "--radius R, --prior normal [--scale S] or --density NAME"
            + (f"; got {' and '.join(chosen)}" if chosen else "")
        )
    if symmetric and boundary is None:
        raise ConfigError("--symmetric goes with --boundary B (it samples -B < z_i < B)")
    if scale is not None and prior is None:
        raise ConfigError("--scale goes with --prior normal")
    if prior is not None and prior != "normal":
        raise ConfigError(f"--prior {prior}: only 'normal' (N(0, s^2 I)) is available")
    if boundary is not None:
        return ("symmetric" if symmetric else "box"), boundary
    if density is not None:
        return "density", density
    return ("sphere", radius) if radius is not None else ("prior", scale or "1")


def sample(
    run: RunOption = None,
    boundary: Annotated[Optional[str], typer.Option("--boundary", "-b", help=BOUNDARY_HELP, show_default=False)] = None,
    symmetric: Annotated[bool, typer.Option("--symmetric", help="With --boundary: uniform in -B < z_i < B.")] = False,
    radius: Annotated[
        Optional[str],
        typer.Option("--radius", help="Uniform on the sphere ||z|| = R (R[,R2,...]).", show_default=False),
    ] = None,
    prior: Annotated[
        Optional[str], typer.Option("--prior", help="'normal': z ~ N(0, S^2 I), S from --scale.", show_default=False)
    ] = None,
    scale: Annotated[
        Optional[str], typer.Option("--scale", help="With --prior normal: S[,S2,...] (default 1).", show_default=False)
    ] = None,
    density: Annotated[
        Optional[str],
        typer.Option(
            "--density", help="A density fitted to the run's encodings (vae fit-density).", show_default=False
        ),
    ] = None,
    n: Annotated[
        Optional[int],
        typer.Option(
            "--n-samples",
            "--n",
            "-n",
            min=1,
            help="Points per value (default 100 for one value, 10 per row for several; --n is the same).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the random points; every row uses the same seed."),
    ] = 0,
    columns: Annotated[
        Optional[int],
        typer.Option("--columns", "-c", min=1, help="Images per grid row (one value only).", show_default=False),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            "--out",
            "-o",
            help="PNG to write; the points go beside it as .h5 (default: RUN/samples/box_B10.png).",
            show_default=False,
        ),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Decode random latent points from a region, e.g. the box 0 < z_i < B.

    The classic experiment on an AE's latent space: random points decode to
    garbage unless they land where the encoder puts images. The points are
    saved beside the picture (HDF5); file names say region and parameter.

    Examples:

      vae sample --boundary 10

      vae sample --boundary 0.5,2.5,5,8,10,15,20,30,50    # a row per B

      vae sample --run runs/celeba_z200 --boundary 3 --symmetric

      vae sample --radius 5,10,14 -n 8

      vae sample --prior normal --scale 1 --seed 7

      vae sample --run runs/ae_z16 --density gmm10 -n 64
    """
    from vaecli.latent.geometry import parse_parameters

    region, parameters = _region(boundary, symmetric, radius, prior, scale, density)
    chosen = {"density": parameters} if region == "density" else {region: parse_parameters(parameters)}
    report(trained_run(run, runs_dir).sample(**chosen, n=n, seed=seed, save=True, columns=columns, out=out))


def interpolate(
    start: Annotated[str, typer.Option("--from", help="Index into --split, or an image file.", show_default=False)],
    end: Annotated[str, typer.Option("--to", help="Index into --split, or an image file.", show_default=False)],
    run: RunArgument = None,
    split: Annotated[
        str, typer.Option("--split", help="Split the indices refer to: train, validation or test.")
    ] = "test",
    steps: Annotated[int, typer.Option("--steps", help="Decoded points, both encodings included.")] = 10,
    method: Annotated[
        str, typer.Option("--method", help="linear (straight line) or slerp (equal angles between the two directions).")
    ] = "linear",
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="PNG to write; the path goes beside it as .h5.", show_default=False),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Decode a path between the encodings of two images, originals at the ends.

    The strip shows image A, the decoded points from A's z_mean to B's (both
    included), then image B; the latent path is saved beside it (HDF5).

    Examples:

      vae interpolate --from 3 --to 17

      vae interpolate runs/celeba_z200 --from me.jpg --to 42 --method slerp
    """
    report(
        trained_run(run, runs_dir).interpolate(start, end, steps=steps, method=method, split=split, save=True, out=out)
    )


def traverse(
    index: Annotated[
        int,
        typer.Option("--index", "-i", help="The image of --split whose encoding is the centre.", show_default=False),
    ],
    run: RunArgument = None,
    split: Annotated[str, typer.Option("--split", help="train, validation or test.")] = "test",
    dims: Annotated[
        Optional[str],
        typer.Option(
            "--dims",
            help="Dimensions to vary, e.g. 0,3,8-11 (default: all up to z_dim 16, else the 16 with the most KL).",
            show_default=False,
        ),
    ] = None,
    top_kl: Annotated[
        Optional[int],
        typer.Option(
            "--top-kl",
            help="Vary the K dimensions carrying the most KL (an AE: the most variance of z_mean).",
            show_default=False,
        ),
    ] = None,
    value_range: Annotated[str, typer.Option("--range", help="Offsets LO:HI added to the encoding.")] = "-3:3",
    steps: Annotated[int, typer.Option("--steps", help="Offsets per row, LO and HI included.")] = 9,
    block: Annotated[int, typer.Option("--block", help="Vary K dimensions together: one row per block of K.")] = 1,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="PNG to write; the points go beside it as .h5.", show_default=False),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Vary single latent dimensions (or blocks) around an encoded image.

    Each row adds the offsets of --range to its dimension(s) of the image's
    z_mean, so the middle of an odd --steps is the image's reconstruction:
    the neighbourhood of a good point, one dimension or block per row.

    Examples:

      vae traverse --index 5

      vae traverse runs/celeba_z200 --index 5 --top-kl 8 --range -4:4 --steps 11

      vae traverse --index 0 --dims 0-15 --block 4
    """
    from vaecli.latent.geometry import parse_range

    offsets = parse_range(value_range)
    report(
        trained_run(run, runs_dir).traverse(
            index,
            split=split,
            dims=dims,
            top_kl=top_kl,
            value_range=offsets,
            steps=steps,
            block=block,
            save=True,
            out=out,
            console=console,
        )
    )


def latent_stats(
    run: RunArgument = None,
    split: Split = "test",
    limit: Limit = None,
    boundaries: Annotated[
        str,
        typer.Option("--boundary", "--box", "-b", help="B values of the boxes 0 < z_i < B whose coverage is reported."),
    ] = "1,2,5,10",
    seed: Annotated[
        int, typer.Option("--seed", min=0, max=2**32 - 1, help="Seed of the prior samples the norms are compared with.")
    ] = 0,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Folder to write (default: RUN/latent_stats).", show_default=False),
    ] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Statistics of an encoded split: active units, KL, norms, boxes, PCA.

    Writes stats.json, dimensions.png (z_mean histograms against N(0, 1)),
    norms.png (||z_mean|| against prior samples) and pca.png (PC1/PC2
    coloured by label, and the spectrum), and prints a table. Active units
    are dimensions with Var_x(z_mean) > 0.01 (Burda et al. 2016).

    Examples:

      vae latent-stats

      vae latent-stats runs/celeba_z200 --split validation --limit 5000
    """
    from vaecli.latent.geometry import parse_parameters
    from vaecli.tables import statistics_table

    result = trained_run(run, runs_dir).latent_stats(
        split, limit=limit, boundaries=parse_parameters(boundaries), seed=seed, save=True, out=out, console=console
    )
    for table in statistics_table(result.statistics):
        console.print(table)
    report(result)


COMMANDS = {
    "sample": sample,
    "interpolate": interpolate,
    "traverse": traverse,
    "latent-stats": latent_stats,
}
HIDDEN_ALIASES = {"sample-latent": sample}
