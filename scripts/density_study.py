"""The fitted-density study (issue 17, docs/studies/densities.md): box, prior or a fitted density?

    python scripts/density_study.py run                      # train, fit, evaluate every missing cell
    python scripts/density_study.py table > table.md         # the table, 95% intervals over seeds

An AE-like model (a VAE with KL factor 1e-6) and a VAE (KL factor 1), on the built-in faces
(configs/density_faces.yaml) and Fashion-MNIST (configs/density_fmnist.yaml), at z_dim 16 and
200, 3 seeds each: 24 runs. Each run is trained, gets a full Gaussian and a 10-component GMM
fitted to its training encodings (vae fit-density), and is evaluated (vae evaluate, classifier
feature space, 1,000 test images, 500 points per region) on the boxes 0 < z_i < B, the prior
N(0, I) and both densities. Each step is the code path of the CLI command beside it:

    vae train configs/density_faces.yaml --set loss.kl_factor=1e-6 --set model.z_dim=16 --set seed=0 \\
        --name density_faces_ae_z16_seed=0
    vae fit-density runs/density_faces_ae_z16_seed=0 --kind gaussian
    vae fit-density runs/density_faces_ae_z16_seed=0 --kind gmm --components 10
    vae evaluate runs/density_faces_ae_z16_seed=0 --features classifier --limit 1000 --n-samples 500 \\
        --box 2.5,10 --density gaussian --density gmm10

`run` skips what is done (a trained run, a fitted density, an evaluation with the densities), so
it can be stopped and started again; it appends each step's seconds to RUNS/density_study_times.jsonl.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from vaecli.evaluation.statistics import summarize, welch_p_value

DATA = {"faces": "configs/density_faces.yaml", "fmnist": "configs/density_fmnist.yaml"}
MODELS = {"ae": 1e-6, "vae": 1.0}  # KL factor: AE-like (the series' setting) and VAE
Z_DIMS = (16, 200)
BOXES = (2.5, 10.0)
DENSITIES = ("gaussian", "gmm10")  # fit to z_mean
POSTERIOR_DENSITY = "gaussian_z"  # VAE only: a Gaussian fit to one z ~ q(z|x) per image, for the prior gap
EVALUATE = {"features": "classifier", "limit": 1000, "num_samples": 500, "iw_samples": 16}
ROWS = ("reconstructions", "box B=2.5", "box B=10", "prior", "density gaussian", "density gmm10", "density gaussian_z")


def run_name(data: str, model: str, z_dim: int, seed: int) -> str:
    return f"density_{data}_{model}_z{z_dim}_seed={seed}"


def _log(times: Path, **entry) -> None:
    with times.open("a") as handle:
        handle.write(json.dumps(entry) + "\n")
    print(json.dumps(entry), flush=True)


def run_cell(data: str, model: str, z_dim: int, seed: int, runs_dir: Path, times: Path) -> None:
    """Train (unless done), fit both densities (unless done), evaluate (unless done) one run."""
    import vaecli
    from vaecli.api import load_run
    from vaecli.evaluation.evaluate import evaluate
    from vaecli.latent.densities import density_names, fit_density
    from vaecli.runs import RunPaths, is_completed, read_evaluation

    name = run_name(data, model, z_dim, seed)
    folder = runs_dir / name
    if not (folder.is_dir() and is_completed(RunPaths(folder))):
        started = time.perf_counter()
        overrides = {"loss.kl_factor": MODELS[model], "model.z_dim": z_dim, "seed": seed}
        vaecli.train(DATA[data], overrides=overrides, name=name, runs_dir=runs_dir, force=True, quiet=True)
        _log(times, run=name, step="train", seconds=round(time.perf_counter() - started, 1))
    run = load_run(folder).require_models()
    densities = DENSITIES + ((POSTERIOR_DENSITY,) if run.is_vae and MODELS[model] == 1.0 else ())
    for density in densities:
        if density not in density_names(run):
            kind, components = ("gmm", 10) if density == "gmm10" else ("gaussian", 1)
            encoding = "z" if density == POSTERIOR_DENSITY else "z_mean"
            fit = fit_density(
                run, kind=kind, components=components, name=density, encoding=encoding, seed=seed, force=True
            )
            _log(times, run=name, step=f"fit {density}", seconds=fit.details["fit_seconds"])
    evaluation = read_evaluation(run.paths, EVALUATE["features"])
    if evaluation is None or set(evaluation.get("densities", {})) != set(densities):
        started = time.perf_counter()
        evaluate(
            run,
            "test",
            iw_samples=EVALUATE["iw_samples"],
            n_samples=EVALUATE["num_samples"],
            boundaries=BOXES,
            features=EVALUATE["features"],
            seed=seed,
            limit=EVALUATE["limit"],
            densities=densities,
        )
        _log(times, run=name, step="evaluate", seconds=round(time.perf_counter() - started, 1))


def run_all(arguments) -> None:
    arguments.runs_dir.mkdir(parents=True, exist_ok=True)
    times = arguments.runs_dir / "density_study_times.jsonl"
    started = time.perf_counter()
    for data in arguments.data.split(","):
        for z_dim in [int(value) for value in arguments.z_dims.split(",")]:
            for seed in range(arguments.seeds):
                for model in MODELS:
                    run_cell(data, model, z_dim, seed, arguments.runs_dir, times)
    _log(times, run="all", step="study", seconds=round(time.perf_counter() - started, 1))


# ------------------------------------------------------------------------------------- table


def _groups(runs_dir: Path) -> dict[tuple[str, str, int], list[dict]]:
    """(data, model, z_dim) -> the classifier-space evaluations of its seeds."""
    groups: dict[tuple[str, str, int], list[dict]] = {}
    for evaluation_file in sorted(runs_dir.glob("density_*_seed=*/evaluation/classifier.json")):
        match = re.match(r"density_(\w+?)_(ae|vae)_z(\d+)_seed=\d+$", evaluation_file.parent.parent.name)
        if match:
            key = (match[1], match[2], int(match[3]))
            groups.setdefault(key, []).append(json.loads(evaluation_file.read_text()))
    return groups


def _row(evaluation: dict, label: str) -> dict:
    return next(
        (
            row
            for row in evaluation["plausibility"]["rows"]
            if row["label"].startswith(label + " ") or row["label"] == label
        ),
        {},
    )


def _values(evaluations: list[dict], label: str, column: str) -> list[float]:
    return [_row(evaluation, label).get(column) for evaluation in evaluations]


def print_table(runs_dir: Path) -> None:
    groups = _groups(runs_dir)
    print("| data | model | z_dim | n | points | precision | recall | Fréchet distance |")
    print("|---|---|---:|---:|---|---:|---:|---:|")
    for (data, model, z_dim), evaluations in sorted(groups.items()):
        for label in ROWS:
            if not any(_row(evaluation, label) for evaluation in evaluations):
                continue
            cells = [summarize(_values(evaluations, label, column)) for column in ("precision", "recall")]
            frechet = summarize(_values(evaluations, label, "frechet_distance"))
            print(
                f"| {data} | {model} | {z_dim} | {len(evaluations)} | {label} | {cells[0].format(3)} | "
                f"{cells[1].format(3)} | {frechet.format(1)} |"
            )
    print()
    print("Welch p-values (two-sided, over seeds): density gmm10 against the prior and against box B=10")
    print()
    print("| data | model | z_dim | column | gmm10 − prior | p | gmm10 − box B=10 | p |")
    print("|---|---|---:|---|---:|---:|---:|---:|")
    for (data, model, z_dim), evaluations in sorted(groups.items()):
        for column in ("precision", "recall"):
            gmm = _values(evaluations, "density gmm10", column)
            cells = []
            for other in ("prior", "box B=10"):
                values = _values(evaluations, other, column)
                difference = summarize(gmm).mean - summarize(values).mean
                p_value = welch_p_value(gmm, values)
                cells += [f"{difference:+.3f}", "n/a" if p_value is None else f"{p_value:.2g}"]
            print(f"| {data} | {model} | {z_dim} | {column} | " + " | ".join(cells) + " |")
    print()
    print("The AE-like model's fitted densities against the VAE's prior (same data and z_dim; Welch p over seeds)")
    print()
    print("| data | z_dim | AE-like density | column | AE-like density | VAE prior | difference | p |")
    print("|---|---:|---|---|---:|---:|---:|---:|")
    for (data, model, z_dim), evaluations in sorted(groups.items()):
        if model != "ae" or (data, "vae", z_dim) not in groups:
            continue
        for density in DENSITIES:
            for column in ("precision", "recall"):
                ae = _values(evaluations, f"density {density}", column)
                prior = _values(groups[(data, "vae", z_dim)], "prior", column)
                p_value = welch_p_value(ae, prior)
                print(
                    f"| {data} | {z_dim} | {density} | {column} | {summarize(ae).mean:.3f} | "
                    f"{summarize(prior).mean:.3f} | {summarize(ae).mean - summarize(prior).mean:+.3f} | "
                    + ("n/a" if p_value is None else f"{p_value:.2g}")
                    + " |"
                )
    print()
    print("VAE: the aggregate posterior against the prior (mean log q(z), nats per point; 95% intervals)")
    print()
    print("| data | z_dim | density | log q(test encodings) | log q(prior samples) | gap |")
    print("|---|---:|---|---:|---:|---:|")
    for (data, model, z_dim), evaluations in sorted(groups.items()):
        if model != "vae":
            continue
        for density in (*DENSITIES, POSTERIOR_DENSITY):
            entries = [evaluation.get("densities", {}).get(density, {}) for evaluation in evaluations]
            columns = ("split_log_likelihood_nats", "prior_log_likelihood_nats", "prior_gap_nats")
            cells = [summarize([entry.get(column) for entry in entries]).format(1) for column in columns]
            print(f"| {data} | {z_dim} | {density} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("run", "table"))
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"))
    parser.add_argument("--data", default="faces,fmnist")
    parser.add_argument("--z-dims", default="16,200")
    parser.add_argument("--seeds", type=int, default=3)
    arguments = parser.parse_args()
    if arguments.stage == "run":
        run_all(arguments)
    else:
        print_table(arguments.runs_dir)


if __name__ == "__main__":
    main()
