"""`vae sample`: decode random points of a latent region (the box 0 < z_i < B, a sphere, the prior)
or of a density fitted to the run's encodings (vaecli.latent.densities).

runs/NAME/samples/box_B10.png + box_B10.h5      the picture and the points beside it
runs/NAME/samples/density_gmm10.png + .h5       samples of the fitted density gmm10
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vaecli.config import MAX_SEED
from vaecli.errors import LatentError
from vaecli.io.atomic import check_writable
from vaecli.latent.files import write_latent_file
from vaecli.latent.geometry import REGIONS, parameter_text, region_label, sample_region
from vaecli.results import Result, output_path, with_suffix
from vaecli.runs.run import decode_latents
from vaecli.runtime.memory import FLOAT_BYTES, check_images_fit

if TYPE_CHECKING:
    from vaecli.runs.run import Run

SAMPLES_ONE_PARAMETER, SAMPLES_PER_ROW = 100, 10  # n defaults: a 10x10 grid, or rows of 10


@dataclass
class Samples(Result):
    region: str  # box, symmetric, sphere, prior or density
    parameters: list[float]  # one value per row ([] for a density)
    seed: int
    points: np.ndarray  # (len(parameters) * n, z_dim) float32, n points per parameter in order
    images: np.ndarray  # (len(parameters) * n, H, W, C) float32 in [0, 1]

    def __iter__(self):
        """points, images = run.sample(...)"""
        return iter((self.points, self.images))


def sample_file_stem(region: str, parameters: list[float], seed: int, density: str | None = None) -> str:
    """'box_B10', 'box_B0.5-50' (several), 'sphere_R5_seed3', 'density_gmm10': region and parameter in the name."""
    if region == "density":
        return f"density_{density}" + (f"_seed{seed}" if seed else "")
    symbol = REGIONS[region].symbol
    values = (
        parameter_text(parameters[0])
        if len(parameters) == 1
        else f"{parameter_text(min(parameters))}-{parameter_text(max(parameters))}"
    )
    return f"{region}_{symbol}{values}" + (f"_seed{seed}" if seed else "")


def sample(
    run: Run,
    box: float | Sequence[float] | None = None,
    *,
    symmetric: float | Sequence[float] | None = None,
    sphere: float | Sequence[float] | None = None,
    prior: float | Sequence[float] | None = None,
    density: str | None = None,
    n: int | None = None,
    seed: int = 0,
    save: bool = False,
    columns: int | None = None,
    out: str | Path | None = None,
) -> Samples:
    """Decode random latent points of one region (`vae sample`); unpacks as (points, images).

    box=B: uniform in 0 < z_i < B. symmetric=B: -B < z_i < B. sphere=R: uniform on ||z|| = R.
    prior=s: N(0, s^2 I). density=NAME: a density fitted with fit_density. A list of values gives n
    points per value, in that order. n defaults to 100 for one value, 10 per value for several.

    Example:
        >>> points, images = run.sample(box=10, n=64)
        >>> points.shape, images.shape
        ((64, 32), (64, 32, 32, 3))
    """
    chosen = {
        name: value
        for name, value in (("box", box), ("symmetric", symmetric), ("sphere", sphere), ("prior", prior))
        if value is not None
    }
    if len(chosen) + (density is not None) != 1:
        given = ", ".join([*chosen, *(["density"] if density is not None else [])]) or "none"
        raise LatentError(f"give exactly one region of box, symmetric, sphere, prior, density (got {given})")
    if density is not None:
        return draw_samples(run, "density", [], n, seed, save, columns, out, density=density)
    region, value = chosen.popitem()
    values = [value] if isinstance(value, (int, float, np.number)) else list(value)
    return draw_samples(run, region, [float(item) for item in values], n, seed, save, columns, out)


def draw_samples(
    run: Run,
    region: str,
    parameters: list[float],
    n: int | None = None,
    seed: int = 0,
    save: bool = False,
    columns: int | None = None,
    out: str | Path | None = None,
    density: str | None = None,
) -> Samples:
    """Draw n points in a region for each parameter and decode them; when save, the picture and the points.

    Every parameter uses the same seed: the row for B=10 of a multi-boundary figure is exactly
    the picture of `--boundary 10` alone, and rows differ only in scale (common random numbers).
    region "density" draws n points from the run's fitted density named `density` (no parameters).
    """
    if region == "density":
        return _sample_density(run, density, n, seed, save, columns, out)
    if not parameters:
        raise LatentError("parameters is empty: give at least one region parameter, e.g. [10] for the box 0 < z_i < 10")
    if columns is not None and columns < 1:
        raise LatentError(f"columns must be at least 1, got {columns}", arguments=("columns",))
    n = n if n is not None else (SAMPLES_ONE_PARAMETER if len(parameters) == 1 else SAMPLES_PER_ROW)
    if not 0 <= seed <= MAX_SEED:
        raise LatentError(f"seed must be between 0 and {MAX_SEED}, got {seed}", arguments=("seed",))
    check_images_fit(
        n * len(parameters), run.image_shape, "n", "ask for fewer points", copies=FLOAT_BYTES, argument="n"
    )  # the decoded images are float32
    picture = output_path(out, run.paths.samples, sample_file_stem(region, parameters, seed) + ".png")
    if save:
        check_writable(picture, "out" if out is not None else "")
    with np.errstate(over="ignore"):  # checked just below, with a message that says what to do
        rows_of_points = [sample_region(region, parameter, n, run.z_dim, seed) for parameter in parameters]
    points = np.concatenate(rows_of_points)
    if not np.all(np.isfinite(points)):
        raise LatentError(
            f"the points drawn {REGIONS[region].description.format(p=parameter_text(max(parameters)))} overflow "
            f"float32, the type of latent points; use a smaller value"
        )
    samples = Samples(region, list(parameters), seed, points, decode_latents(run, points))
    description = REGIONS[region].description
    where = ", ".join(description.format(p=parameter_text(value)) for value in parameters[:3])
    where += ", ..." if len(parameters) > 3 else ""
    samples.summary = f"Decoded {len(points):,} points of {run.paths.root} drawn {where}"
    if save:
        _save(run, samples, n, columns, picture)
    return samples


def _sample_density(
    run: Run, name: str | None, n: int | None, seed: int, save: bool, columns: int | None, out: str | Path | None
) -> Samples:
    """n points of a fitted density, decoded; when save, the picture and the points beside it."""
    from vaecli.images import make_grid, save_png
    from vaecli.latent.densities import load_density
    from vaecli.latent.mixtures import sample_density

    if name is None:
        raise LatentError("region 'density' needs the name of a fitted density (density=...)")
    if columns is not None and columns < 1:
        raise LatentError(f"columns must be at least 1, got {columns}", arguments=("columns",))
    fit = load_density(run, name)
    n = n if n is not None else SAMPLES_ONE_PARAMETER
    check_images_fit(n, run.image_shape, "n", "ask for fewer points", copies=FLOAT_BYTES, argument="n")
    picture = output_path(out, run.paths.samples, sample_file_stem("density", [], seed, name) + ".png")
    if save:
        check_writable(picture, "out" if out is not None else "")
    points = sample_density(fit, n, seed)
    samples = Samples("density", [], seed, points, decode_latents(run, points), warnings=fit.warnings)
    samples.summary = f"Decoded {n:,} points of {run.paths.root} drawn from density {name} ({fit.describe()})"
    if save:
        save_png(picture, make_grid(samples.images, columns))
        points_file = with_suffix(picture, ".h5")
        attrs = {**run.provenance(), "kind": "samples", "region": "density", "density": name, "seed": seed}
        attrs["region_description"] = f"{fit.describe()} fit to {fit.details.get('fit_on', {}).get('count')} encodings"
        write_latent_file(points_file, {"z": points}, attrs=attrs)
        samples.files = [picture, points_file]
        samples.summary += f" -> {picture} (points in {points_file.name})"
    return samples


def _save(run: Run, samples: Samples, n: int, columns: int | None, picture: Path) -> None:
    from vaecli.figures import labelled_rows
    from vaecli.images import make_grid, save_png

    region, parameters, seed = samples.region, samples.parameters, samples.seed
    description = REGIONS[region].description
    if len(parameters) == 1:
        save_png(picture, make_grid(samples.images, columns))
    else:
        labels = [region_label(region, parameter) for parameter in parameters]
        title = (
            f"{run.paths.name}: {n} decoded points per row, z {description.format(p=REGIONS[region].symbol)}"
            f" (z_dim {run.z_dim}, seed {seed})"
        )
        rows = [samples.images[start : start + n] for start in range(0, len(samples.images), n)]
        labelled_rows(picture, rows, labels, title)
    points_file = with_suffix(picture, ".h5")
    write_latent_file(
        points_file,
        {"z": samples.points, "parameter": np.repeat(np.asarray(parameters, np.float64), n)},
        attrs={
            **run.provenance(),
            "kind": "samples",
            "region": region,
            "region_description": description,
            "parameter_symbol": REGIONS[region].symbol,
            "parameters": [float(value) for value in parameters],
            "points_per_parameter": n,
            "seed": seed,
        },
    )
    samples.files = [picture, points_file]
    samples.summary += f" -> {picture} (points in {points_file.name})"
