"""The latent-space commands of `vae`: encode, decode, sample, interpolate, traverse, latent-stats.

cli.py calls register(app) once. Each command parses its options, loads the run
(vaecli.trained), calls one library function and prints its one-line summary. Nothing here
imports TensorFlow or vaecli.cli at module level, so `vae --help` stays instant and there
is no import cycle.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

RUN_HELP = "Run folder or run name (default: the latest run in --runs-dir)."
RUNS_DIR_HELP = "Folder that holds run folders."
RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help=RUNS_DIR_HELP)
RUN_ARGUMENT = typer.Argument(None, metavar="RUN", help=RUN_HELP, show_default=False)
SPLIT_CHOICES = "train, validation, test or all"


def _report(result) -> None:
    """Warnings in yellow, then the one-line summary of what was written where."""
    from vaecli.cli import console

    for warning in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    console.print(result.summary, highlight=False, soft_wrap=True)


def _load(run, runs_dir: Path):
    from vaecli.trained import load_trained

    return load_trained(run, runs_dir)


def encode(
    run: Optional[str] = RUN_ARGUMENT,
    split: str = typer.Option("test", "--split", help=f"Which split of the run's data set: {SPLIT_CHOICES}."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Encode only the first N images of the split."),
    sample: bool = typer.Option(False, "--sample", help="Also store one sampled z per image (VAE only)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --sample noise."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HDF5 file to write (default: "
                                                                  "RUN/latent/z_SPLIT.h5)."),
    runs_dir: Path = RUNS_DIR,
):
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
    from vaecli.explore import encode_split
    from vaecli.cli import console

    _report(encode_split(_load(run, runs_dir), split, limit, sample, seed, out, console))


def decode(
    run: Optional[str] = RUN_ARGUMENT,
    file: Optional[str] = typer.Argument(None, metavar="FILE", show_default=False, help="Latent file: .h5/.hdf5 "
                                         "from encode or sample, .npy or .npz."),
    dataset: Optional[str] = typer.Option(None, "--dataset", "-d", help="Dataset in the file (default: z_mean, "
                                          "or z in a file from `vae sample`)."),
    limit: int = typer.Option(256, "--limit", help="Decode the first N points."),
    columns: Optional[int] = typer.Option(None, "--columns", "-c", help="Images per grid row (default: square)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default: "
                                                                  "RUN/decoded/FILE_DATASET.png)."),
    array_out: Optional[Path] = typer.Option(None, "--array-out", help="Also write the decoded images as a "
                                             "float32 .npy array (N, H, W, C) in [0, 1]."),
    runs_dir: Path = RUNS_DIR,
):
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
    from vaecli.cli import console
    from vaecli.errors import ConfigError
    from vaecli.explore import decode_file
    from vaecli.latent_files import recorded_run

    if file is None:  # one positional argument is the FILE (click fills arguments left to right)
        run, file = None, run
    if file is None:
        raise ConfigError("missing FILE: give a latent file, e.g. vae decode runs/NAME/latent/z_test.h5")
    if run is None:  # a file from `vae encode` or `vae sample` names the run that wrote it
        run = recorded_run(file)
    _report(decode_file(_load(run, runs_dir), file, dataset, limit, columns, out, array_out, console))


def _region(boundary, symmetric, radius, prior, scale) -> tuple[str, str]:
    """(region kind, parameter list text) from the mutually exclusive region flags."""
    from vaecli.errors import ConfigError

    chosen = [flag for flag, value in (("--boundary", boundary), ("--radius", radius), ("--prior", prior))
              if value is not None]
    if len(chosen) != 1:
        raise ConfigError("choose one region: --boundary B (0 < z_i < B; add --symmetric for -B < z_i < B), "
                          "--radius R or --prior normal [--scale S]" +
                          (f"; got {' and '.join(chosen)}" if chosen else ""))
    if symmetric and boundary is None:
        raise ConfigError("--symmetric goes with --boundary B (it samples -B < z_i < B)")
    if scale is not None and prior is None:
        raise ConfigError("--scale goes with --prior normal")
    if prior is not None and prior != "normal":
        raise ConfigError(f"--prior {prior}: only 'normal' (N(0, s^2 I)) is available")
    if boundary is not None:
        return ("symmetric" if symmetric else "box"), boundary
    return ("sphere", radius) if radius is not None else ("prior", scale or "1")


def sample(
    run: Optional[str] = typer.Option(None, "--run", "-r", help=RUN_HELP),
    boundary: Optional[str] = typer.Option(None, "--boundary", "-b", help="Uniform in 0 < z_i < B; several "
                                           "comma-separated values give one labelled row each."),
    symmetric: bool = typer.Option(False, "--symmetric", help="With --boundary: uniform in -B < z_i < B."),
    radius: Optional[str] = typer.Option(None, "--radius", help="Uniform on the sphere ||z|| = R (R[,R2,...])."),
    prior: Optional[str] = typer.Option(None, "--prior", help="'normal': z ~ N(0, S^2 I), S from --scale."),
    scale: Optional[str] = typer.Option(None, "--scale", help="With --prior normal: S[,S2,...] (default 1)."),
    n: Optional[int] = typer.Option(None, "--n", "-n", help="Points per value (default 100 for one value, "
                                                            "10 per row for several)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random points; every row uses the same seed."),
    columns: Optional[int] = typer.Option(None, "--columns", "-c", help="Images per grid row (one value only)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write; the points go beside it as .h5 "
                                                                  "(default: RUN/samples/box_B10.png)."),
    runs_dir: Path = RUNS_DIR,
):
    """Decode random latent points from a region, e.g. the box 0 < z_i < B.

    The classic experiment on an AE's latent space: random points decode to
    garbage unless they land where the encoder puts images. The points are
    saved beside the picture (HDF5); file names say region and parameter.

    Examples:

      vae sample --boundary 10

      vae sample --boundary 0.5,2.5,5,8,10,15,20,30,50    # a row per B

      vae sample --run runs/celeba_z200 --boundary 3 --symmetric

      vae sample --radius 5,10,14 --n 8

      vae sample --prior normal --scale 1 --seed 7
    """
    from vaecli.explore import sample_latent_space
    from vaecli.latent import parse_parameters

    region, parameters = _region(boundary, symmetric, radius, prior, scale)
    trained = _load(run, runs_dir)
    _report(sample_latent_space(trained, region, parse_parameters(parameters), n, seed, columns, out))


def interpolate(
    run: Optional[str] = RUN_ARGUMENT,
    start: str = typer.Option(..., "--from", help="Index into --split, or an image file."),
    end: str = typer.Option(..., "--to", help="Index into --split, or an image file."),
    split: str = typer.Option("test", "--split", help="Split the indices refer to: train, validation or test."),
    steps: int = typer.Option(10, "--steps", help="Decoded points, both encodings included."),
    method: str = typer.Option("linear", "--method", help="linear (straight line) or slerp (great circle)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write; the path goes beside it as .h5."),
    runs_dir: Path = RUNS_DIR,
):
    """Decode a path between the encodings of two images, originals at the ends.

    The strip shows image A, the decoded points from A's z_mean to B's (both
    included), then image B; the latent path is saved beside it (HDF5).

    Examples:

      vae interpolate --from 3 --to 17

      vae interpolate runs/celeba_z200 --from me.jpg --to 42 --method slerp
    """
    from vaecli.walks import interpolate as interpolate_run

    _report(interpolate_run(_load(run, runs_dir), start, end, split, steps, method, out))


def traverse(
    run: Optional[str] = RUN_ARGUMENT,
    index: int = typer.Option(..., "--index", "-i", help="The image of --split whose encoding is the centre."),
    split: str = typer.Option("test", "--split", help="train, validation or test."),
    dims: Optional[str] = typer.Option(None, "--dims", help="Dimensions to vary, e.g. 0,3,8-11 (default: all "
                                       "up to z_dim 16, else the 16 with the most KL)."),
    top_kl: Optional[int] = typer.Option(None, "--top-kl", help="Vary the K dimensions carrying the most KL "
                                         "(an AE: the most variance of z_mean)."),
    value_range: str = typer.Option("-3:3", "--range", help="Offsets LO:HI added to the encoding."),
    steps: int = typer.Option(9, "--steps", help="Offsets per row, LO and HI included."),
    block: int = typer.Option(1, "--block", help="Vary K dimensions together: one row per block of K."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write; the points go beside it as .h5."),
    runs_dir: Path = RUNS_DIR,
):
    """Vary single latent dimensions (or blocks) around an encoded image.

    Each row adds the offsets of --range to its dimension(s) of the image's
    z_mean, so the middle of an odd --steps is the image's reconstruction:
    the neighbourhood of a good point, one dimension or block per row.

    Examples:

      vae traverse --index 5

      vae traverse runs/celeba_z200 --index 5 --top-kl 8 --range -4:4 --steps 11

      vae traverse --index 0 --dims 0-15 --block 4
    """
    from vaecli.cli import console
    from vaecli.latent import parse_range
    from vaecli.walks import traverse as traverse_run

    offsets = parse_range(value_range)
    _report(traverse_run(_load(run, runs_dir), index, split, dims, top_kl, offsets, steps, block, out, console))


def latent_stats(
    run: Optional[str] = RUN_ARGUMENT,
    split: str = typer.Option("test", "--split", help=f"Which split to encode: {SPLIT_CHOICES}."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Use only the first N images of the split."),
    boxes: str = typer.Option("1,2,5,10", "--box", help="B values of the boxes 0 < z_i < B whose coverage "
                                                        "is reported."),
    seed: int = typer.Option(0, "--seed", help="Seed of the prior samples the norms are compared with."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder to write (default: RUN/latent_stats)."),
    runs_dir: Path = RUNS_DIR,
):
    """Statistics of an encoded split: active units, KL, norms, boxes, PCA.

    Writes stats.json, dimensions.png (z_mean histograms against N(0, 1)),
    norms.png (||z_mean|| against prior samples) and pca.png (PC1/PC2
    coloured by label, and the spectrum), and prints a table. Active units
    are dimensions with Var_x(z_mean) > 0.01 (Burda et al. 2016).

    Examples:

      vae latent-stats

      vae latent-stats runs/celeba_z200 --split validation --limit 5000
    """
    from vaecli.cli import console
    from vaecli.latent import parse_parameters
    from vaecli.latent_report import latent_stats_report, statistics_table

    box_values = tuple(parse_parameters(boxes))
    result = latent_stats_report(_load(run, runs_dir), split, limit, box_values, seed, out, console)
    for table in statistics_table(result.details["statistics"]):
        console.print(table)
    _report(result)


COMMANDS = {"encode": encode, "decode": decode, "sample": sample, "interpolate": interpolate,
            "traverse": traverse, "latent-stats": latent_stats}
HIDDEN_ALIASES = {"sample-latent": sample}


def register(app: typer.Typer) -> None:
    """Add the latent-space commands to the `vae` app (cli.py calls this once)."""
    from vaecli.cli import user_errors

    for name, command in COMMANDS.items():
        app.command(name)(user_errors(command))
    for name, command in HIDDEN_ALIASES.items():
        app.command(name, hidden=True, help="Same as `vae sample`.")(user_errors(command))
