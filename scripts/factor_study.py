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


def table() -> None:
    print("| condition | n | " + " | ".join(MEASURES.values()) + " |")
    print("|---" * (len(MEASURES) + 2) + "|")
    for condition in CONDITIONS:
        runs = [RUNS / f"{condition}_seed={seed}" for seed in SEEDS]
        numbers = [run_numbers(run) for run in runs if (run / "evaluation" / "factors.json").is_file()]
        if numbers:
            cells = [interval([row[key] for row in numbers]) for key in MEASURES]
            print(f"| {condition} | {len(numbers)} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("train", "measure", "table", "all"))
    step = parser.parse_args().step
    for name, function in (("train", train), ("measure", measure), ("table", table)):
        if step in (name, "all"):
            function()


if __name__ == "__main__":
    main()
