"""`vae assay`: interventional assays of the latent space (Leeb, Bauer, Besserve and Schoelkopf,
"Exploring the Latent Space of Autoencoders with Interventional Assays", NeurIPS 2022, arXiv 2106.16091).

    runs/NAME/evaluation/assay.json                  every number below, with the settings used
    runs/NAME/evaluation/latent_response_matrix.png  the matrix M (row: intervened, column: responding)
    runs/NAME/evaluation/response_map.png            response maps over a 2-D slice (z_dim >= 2)

Definitions (the paper's; section numbers are those of the arXiv v4 as we recall them: we could not
retrieve its text while writing this, so read the formulas below as ours where they differ):

- Latent response (sec. 3): r(z) = mu_phi(g(z)), the encoder's mean of the decoder's output: a
  latent point sent through image space and back. Autoencoders are locally contractive towards
  the learned manifold, so r(z) - z is small where the model "lives" and large elsewhere.
- Aggregate posterior q(z) = E_x q(z | x): drawn here as z = z_mean + sd * eps for the split's
  images (a VAE; an AE's q(z) is its z_mean cloud). Base points z are such draws.
- Intervention on dimension i (sec. 4): z~ equals z except z~_i, replaced by a draw from the
  aggregate posterior's marginal q(z_i) (the i-th coordinate of another image's draw), so the
  intervened point stays in the range the model saw.
- Latent response matrix (sec. 4.1): M_ij = sqrt(E[(r_j(z~^(i)) - r_j(z))^2]) / sd_q(z_j): how far
  intervening on z_i moves the response's coordinate j, in units of the aggregate posterior's
  spread in j. A dimension the decoder ignores gives r(z~^(i)) = r(z) exactly: its row is 0.
  Rows whose largest entry is below UNUSED_THRESHOLD are reported as unused.
- Response maps (sec. 5): over a 2-D slice through the aggregate posterior's mean spanned by two
  dimensions (a, b), the response distance ||r(z) - z|| and the divergence of the response field
  (r(z) - z) projected onto the slice, d(r_a - z_a)/dz_a + d(r_b - z_b)/dz_b (finite differences),
  beside a histogram of q(z) in the same slice: negative divergence (a sink) marks where the
  autoencoder pulls points, which should coincide with where the data lies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from vaecli.errors import LatentError
from vaecli.io.atomic import timestamp, write_json_atomic
from vaecli.results import Result

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.runs.run import Run

UNUSED_THRESHOLD = 0.05  # row maximum of M below this (5% of a dimension's spread): the decoder ignores it
SLICE_WIDTH = 3.0  # the response map spans mean +- 3 aggregate-posterior sds in each of its two dimensions
ASSAY_FILE, MATRIX_FILE, MAP_FILE = "assay.json", "latent_response_matrix.png", "response_map.png"


@dataclass
class AssayResult(Result):
    """The latent response matrix (z_dim, z_dim) and, when asked, the response maps of one 2-D slice."""

    split: str
    response_matrix: np.ndarray
    unused: list[int]  # dimensions whose interventions move no response coordinate
    num_points: int
    map_dims: tuple[int, int] | None = None
    maps: np.ndarray | None = field(default=None, repr=False)  # (3, steps, steps): distance, divergence, density
    extent: tuple[float, float, float, float] | None = None  # (a_min, a_max, b_min, b_max)

    def to_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "split": self.split,
            "num_points": self.num_points,
            "response_matrix": np.round(self.response_matrix, 6).tolist(),
            "unused": self.unused,
            "unused_threshold": UNUSED_THRESHOLD,
            "diagonal": np.round(np.diag(self.response_matrix), 6).tolist(),
        }
        if self.maps is not None and self.map_dims is not None:
            values["response_map"] = {
                "dims": list(self.map_dims),
                "extent": list(self.extent or ()),
                "mean_distance": float(np.mean(self.maps[0])),
                "distance": np.round(self.maps[0], 5).tolist(),
                "divergence": np.round(self.maps[1], 5).tolist(),
                "density": np.round(self.maps[2], 5).tolist(),
            }
        return values


def latent_response(run: Run, z: np.ndarray) -> np.ndarray:
    """r(z) = z_mean of the encoder on the decoder's image of z (float images fed back unrounded)."""
    from vaecli.runs.run import decode_latents, encode_images

    return encode_images(run, decode_latents(run, z))[0]


def aggregate_posterior(z_mean: np.ndarray, z_log_var: np.ndarray | None, seed: int) -> np.ndarray:
    """One draw of q(z | x) per image (the means themselves for an AE)."""
    if z_log_var is None:
        return np.asarray(z_mean, np.float32)
    from vaecli.latent.geometry import sample_posterior

    return sample_posterior(z_mean, z_log_var, seed)


def response_matrix(run: Run, base: np.ndarray, seed: int) -> np.ndarray:
    """M (z_dim, z_dim) from base points drawn from q(z) (module docstring)."""
    rng = np.random.default_rng(seed)
    spread = np.std(base, axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    original = latent_response(run, base)
    matrix = np.zeros((base.shape[1], base.shape[1]))
    for i in range(base.shape[1]):
        intervened = base.copy()
        intervened[:, i] = base[rng.integers(0, len(base), len(base)), i]  # a draw of the marginal q(z_i)
        moved = latent_response(run, intervened) - original
        matrix[i] = np.sqrt(np.mean(np.square(moved, dtype=np.float64), axis=0)) / spread
    return matrix


def response_maps(
    run: Run, base: np.ndarray, dims: tuple[int, int], steps: int
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """(maps (3, steps, steps), extent): response distance, divergence, q(z) density over the slice."""
    a, b = dims
    centre, spread = base.mean(axis=0), base.std(axis=0)
    axis_a = np.linspace(centre[a] - SLICE_WIDTH * spread[a], centre[a] + SLICE_WIDTH * spread[a], steps)
    axis_b = np.linspace(centre[b] - SLICE_WIDTH * spread[b], centre[b] + SLICE_WIDTH * spread[b], steps)
    grid_b, grid_a = np.meshgrid(axis_b, axis_a, indexing="ij")  # rows along b, columns along a
    points = np.tile(centre, (steps * steps, 1)).astype(np.float32)
    points[:, a], points[:, b] = grid_a.ravel(), grid_b.ravel()
    field_ = latent_response(run, points) - points
    distance = np.linalg.norm(field_, axis=1).reshape(steps, steps)
    flow_a, flow_b = field_[:, a].reshape(steps, steps), field_[:, b].reshape(steps, steps)
    divergence = np.gradient(flow_a, axis_a, axis=1) + np.gradient(flow_b, axis_b, axis=0)
    edges_a = np.concatenate([axis_a - (axis_a[1] - axis_a[0]) / 2, [axis_a[-1] + (axis_a[1] - axis_a[0]) / 2]])
    edges_b = np.concatenate([axis_b - (axis_b[1] - axis_b[0]) / 2, [axis_b[-1] + (axis_b[1] - axis_b[0]) / 2]])
    density = np.histogram2d(base[:, b], base[:, a], bins=[edges_b, edges_a], density=True)[0]
    extent = (float(axis_a[0]), float(axis_a[-1]), float(axis_b[0]), float(axis_b[-1]))
    return np.stack([distance, divergence, density]), extent


def _map_dims(dims: tuple[int, int] | None, matrix_diagonal: np.ndarray, z_dim: int) -> tuple[int, int]:
    """The slice's two dimensions: as given (checked), else the two with the largest diagonal response."""
    if z_dim < 2:
        raise LatentError(f"a response map needs z_dim >= 2; this run has z_dim {z_dim} (pass response_map=False)")
    if dims is None:
        first, second = np.argsort(-matrix_diagonal)[:2]
        return int(first), int(second)
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= d < z_dim for d in dims):
        raise LatentError(f"dims must be two different dimensions in 0..{z_dim - 1}, got {list(dims)}")
    return int(dims[0]), int(dims[1])


def assay(
    run: Run,
    *,
    split: str = "test",
    limit: int | None = 500,
    dims: tuple[int, int] | None = None,
    steps: int = 25,
    response_map: bool = True,
    seed: int = 0,
    save: bool = True,
    console: Console | None = None,
) -> AssayResult:
    """The latent response matrix of the run, and the response maps of one 2-D slice (module docstring).

    limit: base points (the first N images of the split). dims: the slice's dimensions (default:
    the two with the largest diagonal response). steps: grid points per side of the slice.
    Writes RUN/evaluation/assay.json and its figures unless save is False. A response map of a
    run with z_dim 1 is a LatentError, raised before anything is computed or written.

    Example:
        >>> result = vaecli.assay(run, response_map=False, save=False)
        >>> result.unused
        [3, 7]
    """
    from vaecli.runs.run import encode_with_progress, load_split

    if steps < 3:
        raise LatentError(f"steps must be at least 3 (finite differences), got {steps}")
    if response_map and run.z_dim < 2 or dims is not None:
        _map_dims(dims, np.zeros(run.z_dim), run.z_dim)  # bad input fails before any work
    chosen, _, _, warnings = load_split(run, split, limit)
    z_mean, z_log_var = encode_with_progress(run, chosen.images, console, f"encoding {split}")
    base = aggregate_posterior(z_mean, z_log_var, seed)
    matrix = response_matrix(run, base, seed)
    unused = [int(i) for i in np.flatnonzero(matrix.max(axis=1) < UNUSED_THRESHOLD)]
    result = AssayResult(split, matrix, unused, len(base), warnings=warnings)
    if response_map:
        result.map_dims = _map_dims(dims, np.diag(matrix), run.z_dim)
        result.maps, result.extent = response_maps(run, base, result.map_dims, steps)
    result.summary = (
        f"Latent response matrix of {run.paths.root} from {len(base):,} {split} points: "
        f"{run.z_dim - len(unused)}/{run.z_dim} dimensions used by the decoder"
        + (f" (unused: {', '.join(f'z{d}' for d in unused)})" if unused else "")
    )
    if save:
        _save(run, result, seed)
    return result


def _save(run: Run, result: AssayResult, seed: int) -> None:
    from vaecli.evaluation.factor_figures import response_map_figure, response_matrix_figure

    folder = run.paths.evaluation_images
    name = f"{run.paths.name} ({result.split}, {result.num_points:,} points)"
    files = [response_matrix_figure(folder / MATRIX_FILE, result.response_matrix, f"{name}: latent response matrix")]
    if result.maps is not None and result.map_dims is not None and result.extent is not None:
        files.append(response_map_figure(folder / MAP_FILE, result.maps, result.extent, result.map_dims, name))
    contents = {**result.to_dict(), "provenance": {**run.provenance(), "seed": seed, "created": timestamp()}}
    files.append(write_json_atomic(folder / ASSAY_FILE, contents))
    result.files = files
    result.summary += f"; wrote {folder / ASSAY_FILE}"
