"""encode, decode and sample: one library function per command, each returning what it wrote.

Each takes a TrainedRun (vaecli.trained.load_trained) and plain options, writes under the
run folder unless `out` names a file, and returns a CommandResult whose `summary` is the
one line the CLI prints. Interpolation and traversal are in vaecli.walks; statistics in
vaecli.latent_report.

    runs/NAME/latent/z_test.h5              vae encode
    runs/NAME/decoded/z_test_z_mean.png     vae decode
    runs/NAME/samples/box_B10.png + .h5     vae sample (the points beside the picture)
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from vaecli.latent import REGIONS, LatentError, format_number, region_label, sample_posterior, sample_region
from vaecli.latent_files import read_latents, write_latent_file
from vaecli.runs import atomic_path
from vaecli.trained import TrainedRun, decode_latents, encode_images

ENCODE_SPLITS = ("train", "validation", "test", "all")
DECODE_LIMIT = 256  # points decoded by default: a readable grid, and bounded memory on a 200k-row file
SAMPLES_ONE_PARAMETER, SAMPLES_PER_ROW = 100, 10  # --n defaults: a 10x10 grid, or rows of 10
PROGRESS_THRESHOLD = 2048  # images; below this the work takes about a second and a bar only flickers


@dataclass
class CommandResult:
    summary: str  # the one line the CLI prints: what was written where
    files: list[Path]
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@contextmanager
def progress_bar(console, total: int, description: str) -> Iterator[Callable[[int], None] | None]:
    """A transient Rich bar on a terminal for long work; yields advance(count) or None."""
    if console is None or not console.is_terminal or total < PROGRESS_THRESHOLD:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda count: progress.advance(task, count)


def output_path(out: str | Path | None, folder: Path, name: str) -> Path:
    """--out when given (relative to the working directory), else folder/name inside the run."""
    return Path(out) if out is not None else folder / name


def with_suffix(path: Path, suffix: str) -> Path:
    return path.with_suffix(suffix) if path.suffix else path.with_name(path.name + suffix)


def load_split(trained: TrainedRun, split: str, limit: int | None = None, splits=None):
    """(ImageSplit, per-row split codes or None, fingerprint, warnings) for train/validation/test/all,
    from the run's data (or from splits, when the caller has loaded them already)."""
    from vaecli.data.splits import SPLIT_NAMES, ImageSplit, load_splits

    if split not in ENCODE_SPLITS:
        raise LatentError(f"unknown split {split!r} (choose from {', '.join(ENCODE_SPLITS)})")
    if limit is not None and limit < 1:
        raise LatentError(f"--limit must be at least 1, got {limit}")
    splits = splits or load_splits(trained.config)
    warnings = []
    if splits.fingerprint != trained.manifest.get("data", {}).get("fingerprint", splits.fingerprint):
        warnings.append(f"the data set changed since {trained.paths.root} was trained (fingerprint "
                        f"{trained.manifest['data']['fingerprint']} -> {splits.fingerprint})")
    if split != "all":
        chosen, codes = splits.split(split), None
    else:
        parts = [splits.split(name) for name in SPLIT_NAMES]
        chosen = ImageSplit(np.concatenate([part.images for part in parts]),
                            {name: np.concatenate([part.labels[name] for part in parts]) for name in parts[0].labels},
                            np.concatenate([part.index for part in parts]))
        codes = np.concatenate([np.full(len(part), code, np.uint8) for code, part in enumerate(parts)])
    if limit is not None:
        chosen = ImageSplit(chosen.images[:limit], {name: values[:limit] for name, values in chosen.labels.items()},
                            chosen.index[:limit])
        codes = None if codes is None else codes[:limit]
    if len(chosen) == 0:
        raise LatentError(f"the {split} split of {trained.paths.root} holds no images")
    return chosen, codes, splits.fingerprint, warnings


def encode_with_progress(trained: TrainedRun, images: np.ndarray, console, description: str):
    with progress_bar(console, len(images), description) as advance:
        return encode_images(trained, images, on_batch=advance)


def encode_split(trained: TrainedRun, split: str = "test", limit: int | None = None, sample: bool = False,
                 seed: int = 0, out: str | Path | None = None, console=None) -> CommandResult:
    """Encode a split into an HDF5 latent file: z_mean, z_log_var (VAE), z (with sample), index, labels."""
    from vaecli.data.sources import SOURCES
    from vaecli.data.splits import SPLIT_NAMES

    if sample and not trained.is_vae:
        raise LatentError(f"--sample needs a VAE: {trained.paths.root} is an AE, whose encoder gives one point "
                          f"per image (z = z_mean) and no posterior to sample from")
    chosen, split_codes, fingerprint, warnings = load_split(trained, split, limit)
    started = time.perf_counter()
    z_mean, z_log_var = encode_with_progress(trained, chosen.images, console, f"encoding {split}")
    z = sample_posterior(z_mean, z_log_var, seed) if sample else None
    suffix = f"_first{limit}" if limit is not None else ""
    target = output_path(out, trained.paths.latent, f"z_{split}{suffix}.h5")
    attrs = {**trained.provenance(), "kind": "encoding", "split": split, "dataset_fingerprint": fingerprint,
             "num_points": len(z_mean), "sample_seed": seed if sample else None,
             "label_names": list(SOURCES[trained.config.data.source].label_names),
             "split_names": list(SPLIT_NAMES) if split_codes is not None else None,
             "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    arrays = {"z_mean": z_mean, "z_log_var": z_log_var, "z": z, "index": chosen.index.astype(np.int64),
              "split": split_codes}
    write_latent_file(target, arrays, chosen.labels, attrs)
    stored = ", ".join(name for name, values in arrays.items() if values is not None)
    what = "images of all splits" if split == "all" else f"{split} images"
    summary = (f"Encoded {len(z_mean):,} {what} with {trained.paths.root} in "
               f"{time.perf_counter() - started:.1f} s -> {target} ({stored}; z_dim {trained.z_dim})")
    return CommandResult(summary, [target], {"num_points": len(z_mean)}, warnings)


def decode_file(trained: TrainedRun, file: str | Path, dataset: str | None = None, limit: int | None = DECODE_LIMIT,
                columns: int | None = None, out: str | Path | None = None, array_out: str | Path | None = None,
                console=None) -> CommandResult:
    """Decode points of a latent file (.h5/.npy/.npz) to a PNG grid, and optionally a float32 .npy."""
    from vaecli.images import make_grid, save_png

    if columns is not None and columns < 1:
        raise LatentError(f"--columns must be at least 1, got {columns}")
    points = read_latents(file, dataset, limit, z_dim=trained.z_dim, run=f"run {trained.paths.root}")
    warnings = []
    if points.attrs.get("config_hash") not in (None, "", trained.config_hash):
        warnings.append(f"{points.path} was written by run {points.attrs.get('run_path', '?')} (config "
                        f"{points.attrs['config_hash']}); decoding it with {trained.paths.root} (config "
                        f"{trained.config_hash})")
    with progress_bar(console, len(points.values), "decoding") as advance:
        images = decode_latents(trained, points.values, on_batch=advance)
    name = f"{points.path.stem}_{points.dataset.replace('/', '_')}.png"
    target = save_png(output_path(out, trained.paths.decoded, name), make_grid(images, columns))
    written = [target]
    if array_out is not None:
        array_target = Path(array_out)
        with atomic_path(array_target, suffix=".npy") as temporary:
            with open(temporary, "wb") as handle:
                np.save(handle, images)
        written.append(array_target)
    also = f" and {written[1]} (float32 {images.shape})" if array_out is not None else ""
    summary = f"Decoded {len(images):,} points of {points.path}:{points.dataset} -> {target}{also}"
    return CommandResult(summary, written, {"num_points": len(images)}, warnings)


def sample_file_stem(region: str, parameters: list[float], seed: int) -> str:
    """'box_B10', 'box_B0.5-50' (several), 'sphere_R5_seed3': region and parameter in the name."""
    symbol = REGIONS[region].symbol
    values = format_number(parameters[0]) if len(parameters) == 1 else \
        f"{format_number(min(parameters))}-{format_number(max(parameters))}"
    return f"{region}_{symbol}{values}" + (f"_seed{seed}" if seed else "")


def sample_latent_space(trained: TrainedRun, region: str, parameters: list[float], n: int | None = None,
                        seed: int = 0, columns: int | None = None, out: str | Path | None = None) -> CommandResult:
    """Draw points in a region for each parameter, decode them, write the picture and the points.

    Every parameter uses the same seed: the row for B=10 of a multi-boundary figure is exactly
    the picture of `--boundary 10` alone, and rows differ only in scale (common random numbers).
    """
    from vaecli.figures import labelled_rows
    from vaecli.images import make_grid, save_png

    if not parameters:
        raise LatentError("give at least one region parameter, e.g. --boundary 10")
    n = n if n is not None else (SAMPLES_ONE_PARAMETER if len(parameters) == 1 else SAMPLES_PER_ROW)
    rows_of_points = [sample_region(region, parameter, n, trained.z_dim, seed) for parameter in parameters]
    rows_of_images = [decode_latents(trained, points) for points in rows_of_points]
    picture = output_path(out, trained.paths.samples, sample_file_stem(region, parameters, seed) + ".png")
    description = REGIONS[region].description
    if len(parameters) == 1:
        save_png(picture, make_grid(rows_of_images[0], columns))
    else:
        labels = [region_label(region, parameter) for parameter in parameters]
        title = (f"{trained.paths.name}: {n} decoded points per row, z {description.format(p=REGIONS[region].symbol)}"
                 f" (z_dim {trained.z_dim}, seed {seed})")
        labelled_rows(picture, rows_of_images, labels, title)
    points_file = with_suffix(picture, ".h5")
    write_latent_file(points_file, {"z": np.concatenate(rows_of_points),
                                    "parameter": np.repeat(np.asarray(parameters, np.float64), n)},
                      attrs={**trained.provenance(), "kind": "samples", "region": region,
                             "region_description": description, "parameter_symbol": REGIONS[region].symbol,
                             "parameters": [float(value) for value in parameters], "points_per_parameter": n,
                             "seed": seed})
    where = ", ".join(description.format(p=format_number(value)) for value in parameters[:3])
    where += ", ..." if len(parameters) > 3 else ""
    summary = (f"Decoded {n * len(parameters):,} points of {trained.paths.root} drawn {where} -> {picture} "
               f"(points in {points_file.name})")
    return CommandResult(summary, [picture, points_file], {"points": rows_of_points})
