"""The factor study (docs/studies/factors.md): what beta and beta-TCVAE do to the factors of the faces.

    python scripts/factor_study.py train      # 5 conditions x 3 seeds of configs/factor_study.yaml
    python scripts/factor_study.py measure    # vae factors on every run, vae assay on seed 0 of each
    python scripts/factor_study.py table      # Markdown table: mean, sd and 95% t-interval per condition

Runs go to runs/factor_study/<condition>_seed=<s>; each step skips what is already done, so the
script can be stopped and started again. Times of each step are printed and appended to
runs/factor_study/times.jsonl.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CONFIG = "configs/factor_study.yaml"
RUNS = Path("runs/factor_study")
SEEDS = (0, 1, 2)
CONDITIONS = {  # name -> --set overrides
    "ae_like": ["loss.kl_factor=1e-6"],
    "vae_beta1": ["loss.kl_factor=1"],
    "vae_beta4": ["loss.kl_factor=4"],
    "vae_beta16": ["loss.kl_factor=16"],
    "tcvae_tc6": ["loss.kl_factor=1", "loss.tc_weight=6"],
}
MEASURES = {  # column -> (label, where: factors.json key or a metrics key)
    "mig": "MIG",
    "dci_disentanglement": "DCI D",
    "dci_completeness": "DCI C",
    "dci_informativeness": "DCI I",
    "sap": "SAP",
    "val_reconstruction_loss": "reconstruction, nats",
    "val_kl_loss": "KL, nats",
    "active": "active units",
}


def vae(*args: str) -> float:
    """Run `vae ...` as its own process; returns the seconds it took (exits on failure)."""
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "vaecli.cli", *args], check=False)
    if done.returncode != 0:
        sys.exit(f"vae {' '.join(args)} failed with exit code {done.returncode}")
    return time.time() - start


def log_time(step: str, run: str, seconds: float) -> None:
    RUNS.mkdir(parents=True, exist_ok=True)
    with open(RUNS / "times.jsonl", "a") as handle:
        handle.write(json.dumps({"step": step, "run": run, "seconds": round(seconds, 1)}) + "\n")
    print(f"{step} {run}: {seconds:.0f} s", flush=True)


def completed(run: Path) -> bool:
    try:
        return json.loads((run / "manifest.json").read_text())["status"] == "COMPLETED"
    except (OSError, ValueError, KeyError):
        return False


def train() -> None:
    for seed in SEEDS:  # seed-major: a stopped study still has every condition at seed 0
        for condition, overrides in CONDITIONS.items():
            name = f"{condition}_seed={seed}"
            if completed(RUNS / name):
                continue
            sets = [item for override in [*overrides, f"seed={seed}"] for item in ("--set", override)]
            seconds = vae("train", CONFIG, *sets, "--name", name, "--runs-dir", str(RUNS), "--quiet", "--force")
            log_time("train", name, seconds)


def measure() -> None:
    for seed in SEEDS:
        for condition in CONDITIONS:
            run = RUNS / f"{condition}_seed={seed}"
            if not completed(run):
                continue
            if not (run / "evaluation" / "factors.json").is_file():
                log_time("factors", run.name, vae("factors", str(run)))
            if seed == 0 and not (run / "evaluation" / "assay.json").is_file():
                log_time("assay", run.name, vae("assay", str(run)))


def run_numbers(run: Path) -> dict[str, float]:
    factors = json.loads((run / "evaluation" / "factors.json").read_text())
    last = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][-1]
    numbers = {key: factors[key] for key in list(MEASURES)[:5]}
    numbers.update(val_reconstruction_loss=last["val_reconstruction_loss"], val_kl_loss=last["val_kl_loss"])
    numbers["active"] = len(factors["active_units"])
    return numbers


def interval(values: list[float]) -> str:
    """mean ± sd [95% t-interval] over seeds."""
    from scipy import stats

    data = np.asarray(values, np.float64)
    mean, sd = data.mean(), data.std(ddof=1) if len(data) > 1 else 0.0
    half = stats.t.ppf(0.975, len(data) - 1) * sd / np.sqrt(len(data)) if len(data) > 1 else float("nan")
    digits = 3 if abs(mean) < 10 else 1
    return f"{mean:.{digits}f} ± {sd:.{digits}f} [{mean - half:.{digits}f}, {mean + half:.{digits}f}]"


def difference(first: list[float], second: list[float]) -> str:
    """mean(first) - mean(second) with its 95% Welch t-interval (and its p-value)."""
    from scipy import stats

    a, b = np.asarray(first, np.float64), np.asarray(second, np.float64)
    test = stats.ttest_ind(a, b, equal_var=False)
    low, high = test.confidence_interval(0.95)
    return f"{a.mean() - b.mean():+.3f} [{low:+.3f}, {high:+.3f}], p = {test.pvalue:.3f}"


def collected() -> dict[str, list[dict[str, float]]]:
    found = {}
    for condition in CONDITIONS:
        runs = [RUNS / f"{condition}_seed={seed}" for seed in SEEDS]
        found[condition] = [run_numbers(run) for run in runs if (run / "evaluation" / "factors.json").is_file()]
    return found


def table() -> None:
    found = collected()
    print("| condition | n | " + " | ".join(MEASURES.values()) + " |")
    print("|---" * (len(MEASURES) + 2) + "|")
    for condition, numbers in found.items():
        if numbers:
            cells = [interval([row[key] for row in numbers]) for key in MEASURES]
            print(f"| {condition} | {len(numbers)} | " + " | ".join(cells) + " |")
    print("\nDifferences from vae_beta1 (mean, 95% Welch t-interval, p):\n")
    print("| condition | MIG | DCI D | DCI C | DCI I | reconstruction, nats |")
    print("|---|---|---|---|---|---|")
    keys = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "val_reconstruction_loss")
    for condition, numbers in found.items():
        if condition != "vae_beta1" and len(numbers) > 1 and len(found["vae_beta1"]) > 1:
            cells = [difference([r[k] for r in numbers], [r[k] for r in found["vae_beta1"]]) for k in keys]
            print(f"| {condition} | " + " | ".join(cells) + " |")
    figure()


def figure(target: Path = Path("docs/images/factor_study_response_matrices.png")) -> None:
    """The latent response matrix of seed 0 of each condition, side by side."""
    from vaecli.evaluation.factor_figures import response_matrices_figure

    matrices = {}
    for condition in CONDITIONS:
        path = RUNS / f"{condition}_seed=0" / "evaluation" / "assay.json"
        if path.is_file():
            matrices[condition] = np.array(json.loads(path.read_text())["response_matrix"])
    if matrices:
        title = "latent response matrices, seed 0 (row: intervened dimension; 0 = unused)"
        print(f"\nWrote {response_matrices_figure(target, matrices, title)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("train", "measure", "table", "all"))
    step = parser.parse_args().step
    for name, function in (("train", train), ("measure", measure), ("table", table)):
        if step in (name, "all"):
            function()


if __name__ == "__main__":
    main()
