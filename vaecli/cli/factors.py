"""What each latent dimension means: vae factors (known factors) and vae assay (interventions)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from vaecli.cli.common import RunArgument, RunsDir, Split, console, report, trained_run
from vaecli.tables import factor_table, response_table

Seed = Annotated[int, typer.Option("--seed", help="Seed of the draws (and of the models' train/test split).")]
Points = Annotated[
    Optional[int],
    typer.Option("--limit", min=4, help="Use only the first N images of the split.", show_default=False),
]


def factors(
    run: RunArgument = None,
    split: Split = "test",
    limit: Points = None,
    seed: Seed = 0,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Which latent dimension encodes which known factor: MIG, DCI, SAP and linear probes.

    Encodes the split (z_mean) and scores it against the data set's known factors: the
    synthetic faces' 8 attributes, the class label of MNIST / Fashion-MNIST / CIFAR-10, or an
    image folder's data.labels CSV. Writes RUN/evaluation/factors.json and
    RUN/evaluation/factor_importance.png (factors x dimensions heat map).

    Examples:

      vae factors                       # the latest run, test split

      vae factors runs/faces_beta4 --limit 1000
    """
    from vaecli.evaluation.factors import factors as measure_factors

    result = measure_factors(trained_run(run, runs_dir), split=split, limit=limit, seed=seed, console=console)
    for table in factor_table(result.to_dict()):
        console.print(table)
    report(result)


def assay(
    run: RunArgument = None,
    split: Split = "test",
    limit: Annotated[
        int, typer.Option("--limit", min=2, help="Base points: the first N images of the split, encoded.")
    ] = 500,
    dims: Annotated[
        Optional[str],
        typer.Option(
            "--dims",
            help="The response map's two dimensions, e.g. 0,3 (default: the two with the largest diagonal response).",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", min=3, help="Grid points per side of the response map.")] = 25,
    no_map: Annotated[bool, typer.Option("--no-map", help="Only the latent response matrix.")] = False,
    seed: Seed = 0,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Interventional assays (Leeb et al. 2022): the latent response matrix and response maps.

    The latent response r(z) encodes the decoding of z. Intervening on z_i (replacing it with a
    draw from its aggregate-posterior marginal) and measuring how far each coordinate of r(z)
    moves gives the matrix M (row i: intervened, column j: responding, in units of z_j's spread):
    a row of zeros is a dimension the decoder ignores. The response maps show ||r(z) - z||, the
    divergence of r(z) - z and the posterior density over a 2-D slice. Writes
    RUN/evaluation/assay.json, latent_response_matrix.png and response_map.png.

    Examples:

      vae assay                                 # the latest run

      vae assay runs/faces_beta4 --dims 2,5 --steps 41
    """
    from vaecli.errors import LatentError
    from vaecli.evaluation.assays import assay as run_assay
    from vaecli.latent.geometry import parse_dimensions

    loaded = trained_run(run, runs_dir)
    chosen: tuple[int, int] | None = None
    if dims is not None:
        parsed = parse_dimensions(dims, loaded.z_dim)
        if len(parsed) != 2:
            raise LatentError(f"--dims takes two different dimensions, e.g. 0,3; got {dims}")
        chosen = (parsed[0], parsed[1])
    result = run_assay(
        loaded, split=split, limit=limit, dims=chosen, steps=steps, response_map=not no_map, seed=seed, console=console
    )
    console.print(response_table(result.response_matrix, result.unused))
    report(result)


COMMANDS = {"factors": factors, "assay": assay}
