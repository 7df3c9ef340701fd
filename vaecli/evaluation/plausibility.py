"""Plausibility of decoded latent points: precision, recall and Frechet distance against real
images in one named feature space, and the encode->decode cycle error per latent region.

Every row is measured with sets of ONE size n: the real reference is a random subset of n
images of the split, each region (the prior N(0, I) and the positive boxes 0 < z_i < B of the
classic AE experiment) and each fitted density (vaecli.latent.densities) decodes n points,
and the two reference rows (another disjoint subset of n real images, and the reconstructions
of those) hold n too. k-NN radii shrink as a set
grows, so rows of different sizes would be on different scales. n is --n-samples when the
split holds at least twice that many images, else half the split (an image folder's small
test split, --limit); the table header says n.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vaecli.errors import FeatureSpaceError
from vaecli.evaluation.features import FeatureSpace
from vaecli.evaluation.metrics import (
    NEAREST_NEIGHBOURS,
    frechet_distance,
    precision_recall,
)
from vaecli.latent.geometry import REGIONS, region_label, sample_region
from vaecli.latent.mixtures import DensityFit, sample_density
from vaecli.runs.run import decode_latents, encode_images

if TYPE_CHECKING:
    from vaecli.data.cached_images import CachedImages
    from vaecli.runs.run import Run

PLAUSIBILITY_BOXES = (0.5, 2.5, 5.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0)  # the B values of the classic experiment
GRID_IMAGES = 10  # decoded images per region in the sample figure


@dataclass
class RegionOutcome:
    row: dict  # the numbers written to evaluation.json
    images: np.ndarray  # the first GRID_IMAGES decoded images, for the figure


def cycle_errors(run: Run, z: np.ndarray, decoded: np.ndarray) -> dict:
    """||E[z | dec(z)] - z||: how far the encoder puts a decoded point from where it came from."""
    back = encode_images(run, decoded)[0].astype(np.float64)  # float images in [0, 1], not rounded
    distances = np.linalg.norm(back - z, axis=1)
    norms = np.maximum(np.linalg.norm(z, axis=1), 1e-12)
    return {
        "cycle_error_mean": float(distances.mean()),
        "cycle_error_median": float(np.median(distances)),
        "cycle_error_relative": float(np.mean(distances / norms)),
        "latent_norm_mean": float(norms.mean()),
    }


def compare_features(real_features: np.ndarray, features: np.ndarray) -> dict:
    precision, recall = precision_recall(real_features, features, NEAREST_NEIGHBOURS)
    return {"precision": precision, "recall": recall, "frechet_distance": frechet_distance(real_features, features)}


def region_outcome(
    run: Run, space: FeatureSpace, real_features: np.ndarray, kind: str, parameter: float, num_samples: int, seed: int
) -> RegionOutcome:
    z = sample_region(kind, parameter, num_samples, run.z_dim, seed)
    head = {
        "region": kind,
        "parameter": float(parameter),
        "label": region_name(kind, parameter),
        "description": REGIONS[kind].description.format(p=f"{parameter:g}"),
    }
    return points_outcome(run, space, real_features, z, head)


def density_outcome(
    run: Run, space: FeatureSpace, real_features: np.ndarray, density: DensityFit, num_samples: int, seed: int
) -> RegionOutcome:
    """The row of num_samples points drawn from a fitted density (vaecli.latent.densities)."""
    head = {
        "region": "density",
        "density": density.name,
        "label": f"density {density.name}",
        "description": f"{density.describe()} fit to {density.details['fit_on']['count']:,} "
        f"{density.details['fit_on']['split']} encodings ({density.details.get('encoding', 'z_mean')})",
    }
    return points_outcome(run, space, real_features, sample_density(density, num_samples, seed), head)


def points_outcome(
    run: Run, space: FeatureSpace, real_features: np.ndarray, z: np.ndarray, head: dict
) -> RegionOutcome:
    """Decode latent points and measure them against the real reference: one row."""
    decoded = decode_latents(run, z)
    row = {
        **head,
        "num_points": len(z),
        **compare_features(real_features, space.embed(decoded)),
        **cycle_errors(run, z.astype(np.float64), decoded),
    }
    return RegionOutcome(row, decoded[:GRID_IMAGES])


def region_name(kind: str, parameter: float) -> str:
    """'prior' for N(0, I), else 'box B=10' etc."""
    if kind == "prior" and parameter == 1.0:
        return "prior"
    return f"{kind} {region_label(kind, parameter)}"


def reference_outcomes(
    run: Run, space: FeatureSpace, real_features: np.ndarray, held_out: np.ndarray, held_out_z: np.ndarray
) -> list[RegionOutcome]:
    """Rows for held-out real images and their reconstructions: the best this feature space shows."""
    images = held_out.astype(np.float32) / 255.0
    reconstructions = decode_latents(run, held_out_z)
    real_row = {
        "region": "real",
        "label": "real images (held out)",
        "num_points": len(held_out),
        **compare_features(real_features, space.embed(images)),
    }
    reconstruction_row = {
        "region": "reconstructions",
        "label": "reconstructions (held out)",
        "num_points": len(held_out),
        **compare_features(real_features, space.embed(reconstructions)),
        **cycle_errors(run, held_out_z.astype(np.float64), reconstructions),
    }
    return [
        RegionOutcome(real_row, images[:GRID_IMAGES]),
        RegionOutcome(reconstruction_row, reconstructions[:GRID_IMAGES]),
    ]


def reference_subsets(count: int, num_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random row sets of the split: the real reference and a held-out set.

    Each holds num_samples rows when the split has room for both, else half the split.
    """
    size = min(num_samples, count // 2)
    if size <= NEAREST_NEIGHBOURS:
        raise FeatureSpaceError(
            f"the split holds {count} images; the plausibility metrics need at least {2 * (NEAREST_NEIGHBOURS + 1)}"
        )
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[:size]), np.sort(order[size : 2 * size])


def plausibility(
    run: Run,
    space: FeatureSpace,
    images: np.ndarray | CachedImages,
    z_mean: np.ndarray,
    regions: list[tuple[str, float]],
    num_samples: int,
    seed: int,
    densities: Sequence[DensityFit] = (),
) -> tuple[dict, list[RegionOutcome]]:
    """Every region's row plus the two reference rows; the real reference is a subset of images."""
    real_rows, held_out_rows = reference_subsets(len(images), num_samples, seed)
    size = len(real_rows)  # every row's set size (module docstring)
    real_features = space.embed(images[real_rows].astype(np.float32) / 255.0)
    outcomes = reference_outcomes(run, space, real_features, images[held_out_rows], z_mean[held_out_rows])
    outcomes += [region_outcome(run, space, real_features, kind, parameter, size, seed) for kind, parameter in regions]
    outcomes += [density_outcome(run, space, real_features, density, size, seed) for density in densities]
    section = {
        "feature_space": space.describe(),
        "k": NEAREST_NEIGHBOURS,
        "num_real": size,
        "num_samples": size,
        "num_samples_requested": num_samples,
        "seed": seed,
        "rows": [outcome.row for outcome in outcomes],
    }
    return section, outcomes
