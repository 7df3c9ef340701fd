"""The KL-schedule study's table and KL-spectrum figure from evaluated runs (README, "The KL term over time").

    python scripts/kl_study.py runs/study_* --out docs/images/study_kl_spectra.png

Runs that differ only in their seed (names ending in `_seed=N`) form one group. Each run needs
`vae evaluate` (its latest evaluation is read) and `vae latent-stats` (stats.json). Prints a
Markdown table of mean ± sd and the 95% t-interval of the mean over each group's runs, then a
table of Welch t-test p-values of every variant against the constant factor
(vaecli.evaluation.statistics), and draws every group's sorted per-dimension KL (the mean over
seeds, with the min-max band) in one figure.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from vaecli.evaluation.aggregate import group_name
from vaecli.evaluation.statistics import summarize, welch_p_value
from vaecli.figures import kl_spectrum

INFORMATIVE_NATS = 0.25  # nats per image: between the two free-bits floors of the study (0.1, 0.5)
COLUMNS = {
    "active": "active units (Var z_mean > 0.01)",
    "informative": f"dims with KL > {INFORMATIVE_NATS:g} nats",
    "kl": "KL, nats",
    "elbo": "ELBO, nats",
    "iwae": "IWAE (K=16), nats",
    "precision": "precision, prior",
    "recall": "recall, prior",
}


def run_numbers(run: Path) -> tuple[dict[str, float], np.ndarray]:
    evaluation = json.loads((run / "evaluation.json").read_text())
    statistics = json.loads((run / "latent_stats" / "stats.json").read_text())
    kl = np.asarray(statistics["kl_per_dimension"])
    prior = next(row for row in evaluation["plausibility"]["rows"] if row["label"] == "prior")
    likelihood = evaluation["likelihood"]
    numbers = {
        "active": evaluation["active_units"]["count"],
        "informative": int(np.sum(kl > INFORMATIVE_NATS)),
        "kl": likelihood["kl_nats"],
        "elbo": likelihood["elbo_nats"],
        "iwae": likelihood["iwae_nats"],
        "precision": prior["precision"],
        "recall": prior["recall"],
    }
    return numbers, kl


DIGITS = {"precision": 3, "recall": 3}  # fractions; counts and nats get one decimal
ORDER = ("constant", "warmup", "cyclical", "free_bits", "capacity")  # the table's row order


def _cell(values: list[float], key: str) -> str:
    """'12.7 ± 0.6 [11.2, 14.2]': mean ± sd [95% t-interval of the mean]."""
    summary = summarize(values)
    digits = DIGITS.get(key, 1)
    interval = "" if summary.low is None else f" [{summary.low:.{digits}f}, {summary.high:.{digits}f}]"
    return f"{summary.mean:.{digits}f} ± {summary.sd or 0:.{digits}f}{interval}"


def print_tests(measured_by_label: dict[str, list[dict[str, float]]], reference: str = "constant") -> None:
    """Welch p-values of every variant against the reference group, one column per number."""
    if reference not in measured_by_label:
        return
    print(f"\nWelch t-test p-values against {reference} (two-sided, over seeds; not adjusted for multiplicity):\n")
    print("| variant | " + " | ".join(COLUMNS.values()) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for label, measured in measured_by_label.items():
        if label == reference:
            continue
        cells = []
        for key in COLUMNS:
            p_value = welch_p_value(
                [numbers[key] for numbers in measured_by_label[reference]], [numbers[key] for numbers in measured]
            )
            cells.append("n/a" if p_value is None else f"{p_value:.2g}")
        print(f"| {label} | " + " | ".join(cells) + " |")


def _rank(label: str) -> tuple[int, str]:
    return next((index for index, word in enumerate(ORDER) if word in label), len(ORDER)), label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    groups: dict[str, list[Path]] = {}
    for run in sorted(arguments.runs):
        groups.setdefault(re.sub(r"_seed=\d+$", "", run.name), []).append(run)
    print("mean ± sd [95% t-interval of the mean] over seeds\n")
    print("| variant | n | " + " | ".join(COLUMNS.values()) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    spectra, numbers_by_label = {}, {}
    for _name, runs in sorted(groups.items(), key=lambda item: _rank(item[0])):
        measured = [run_numbers(run) for run in runs]
        cells = [_cell([numbers[key] for numbers, _ in measured], key) for key in COLUMNS]
        label = group_name([run.name for run in runs]).removeprefix("study_").replace("kl_schedule=", "")
        print(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
        spectra[label] = np.stack([kl for _, kl in measured])
        numbers_by_label[label] = [numbers for numbers, _ in measured]
    print_tests(numbers_by_label)
    kl_spectrum(arguments.out, spectra, "KL spectra: per-dimension KL sorted (mean over seeds, band: min-max)")
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
