"""`vae factors`: which latent dimension encodes which known factor of the data set.

    runs/NAME/evaluation/factors.json              every number below, with the settings used
    runs/NAME/evaluation/factor_importance.png     factors x dimensions heat map of DCI importances

The split's images are encoded to z_mean (the encoding of vaecli) and scored against the data
set's known factors (vaecli.data.labels: the faces' 8 attributes, the class label of MNIST,
Fashion-MNIST and CIFAR-10, an image folder's data.labels CSV) with MIG, DCI and SAP and
per-factor linear probes; vaecli.evaluation.factor_metrics defines each number. Active units
(Var z_mean > 0.01, as `vae latent-stats`) are recorded beside them, so a factor's best
dimension can be checked against the dimensions the model uses at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vaecli.errors import LatentError
from vaecli.evaluation.factor_metrics import NUM_BINS, NUM_TREES, FactorScores
from vaecli.io.atomic import timestamp, write_json_atomic
from vaecli.results import Result

if TYPE_CHECKING:
    from rich.console import Console

    from vaecli.runs.run import Run

ACTIVE_UNIT_THRESHOLD = 0.01  # Var z_mean above this: an active unit (Burda et al. 2016; vae latent-stats)
FACTORS_FILE, HEAT_MAP_FILE = "factors.json", "factor_importance.png"
COMPARE_COLUMNS = {  # factors.json key -> vae compare column
    "mig": "mig",
    "dci_disentanglement": "dci_d",
    "dci_completeness": "dci_c",
    "dci_informativeness": "dci_i",
    "sap": "sap",
}


@dataclass
class FactorReport(Result):
    """The factor measures of one encoded split; `scores` holds every number (FactorScores)."""

    split: str
    scores: FactorScores
    active_units: list[int]
    num_points: int
    z_mean: np.ndarray
    factors: np.ndarray  # (N, K) the factor values, in scores.factor_names order

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "num_points": self.num_points,
            "active_units": self.active_units,
            **self.scores.to_dict(),
            "settings": {
                "code": "z_mean",
                "bins": NUM_BINS,
                "discretisation": "equal-width bins between each column's min and max (codes, continuous factors)",
                "dci_importance": f"sklearn GradientBoosting{{Classifier,Regressor}}, {NUM_TREES} trees, depth 3",
                "informativeness": "held-out, chance-corrected: (accuracy - majority) / (1 - majority) or R^2, >= 0",
                "sap": "discrete: balanced accuracy of LinearSVC(C=0.01) on one code; continuous: squared correlation",
                "probe": "discrete: LogisticRegression accuracy; continuous: Ridge(alpha=1) R^2; held out",
            },
        }


def factor_arrays(source: str, labels: dict[str, np.ndarray]) -> tuple[list[str], list[bool], np.ndarray]:
    """(names, discrete flags, (N, K) float64 values) of the known factors among a split's labels."""
    from vaecli.data.labels import factor_kinds

    kinds = factor_kinds(source, labels)
    names = list(kinds)
    return names, [kinds[name] for name in names], np.column_stack([labels[name] for name in names]).astype(np.float64)


def factors(
    run: Run,
    *,
    split: str = "test",
    limit: int | None = None,
    seed: int = 0,
    save: bool = True,
    console: Console | None = None,
) -> FactorReport:
    """Score the encoded split against the data set's known factors (MIG, DCI, SAP, probes).

    limit: only the first N images of the split. seed: the train/test split of the fitted models.
    Writes RUN/evaluation/factors.json and factor_importance.png unless save is False.
    Raises DataError for a data set without known factors (before anything is encoded).

    Example:
        >>> report = vaecli.factors(run)
        >>> report.scores.mig, report.scores.dci_disentanglement
        (0.21, 0.43)
    """
    from vaecli.evaluation.factor_metrics import factor_scores
    from vaecli.runs.run import encode_with_progress, load_split

    if limit is not None and limit < 4:
        raise LatentError(f"limit must be at least 4 (points to fit and score on), got {limit}")
    chosen, _, _, warnings = load_split(run, split, limit)
    names, discrete, values = factor_arrays(run.config.data.source, chosen.labels)
    z_mean, _ = encode_with_progress(run, chosen.images, console, f"encoding {split}")
    scores = factor_scores(z_mean, values, discrete, names, seed=seed)
    variance = np.var(np.asarray(z_mean, np.float64), axis=0)
    active = [int(d) for d in np.flatnonzero(variance > ACTIVE_UNIT_THRESHOLD)]
    report = FactorReport(split, scores, active, len(z_mean), z_mean, values, warnings=warnings)
    report.summary = (
        f"Factors of {len(z_mean):,} {split} images of {run.paths.root}: MIG {scores.mig:.3f}, DCI "
        f"D/C/I {scores.dci_disentanglement:.3f}/{scores.dci_completeness:.3f}/{scores.dci_informativeness:.3f}, "
        f"SAP {scores.sap:.3f}"
    )
    if save:
        _save(run, report, seed, limit)
    return report


def _save(run: Run, report: FactorReport, seed: int, limit: int | None) -> None:
    from vaecli.evaluation.factor_figures import importance_heat_map

    folder = run.paths.evaluation_images
    contents = report.to_dict()
    contents["provenance"] = {**run.provenance(), "seed": seed, "limit": limit, "created": timestamp()}
    title = f"{run.paths.name}: DCI importance ({report.split}, {report.num_points:,} images)"
    report.files = [
        importance_heat_map(
            folder / HEAT_MAP_FILE, report.scores.importance, report.scores.factor_names, report.active_units, title
        ),
        write_json_atomic(folder / FACTORS_FILE, contents),  # last: its presence means the figure is there too
    ]
    report.summary += f"; wrote {folder / FACTORS_FILE}"


def read_factors(run_root: Path) -> dict | None:
    """RUN/evaluation/factors.json, or None when the run has none (or it is unreadable)."""
    import json

    path = Path(run_root) / "evaluation" / FACTORS_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def factor_columns(run_root: Path) -> dict[str, float | None]:
    """The `vae compare` columns from factors.json (mig, dci_d, dci_c, dci_i, sap); {} without one."""
    found = read_factors(run_root) or {}
    return {column: found[key] for key, column in COMPARE_COLUMNS.items() if found.get(key) is not None}
