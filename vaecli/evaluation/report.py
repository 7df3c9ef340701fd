"""`vae report`: one self-contained HTML page about a run (every image embedded as base64).

    runs/NAME/report.html

No JavaScript, no external CSS or fonts: the file can be mailed, archived or opened offline.
Sections appear only for what the run folder holds: config and manifest always; loss curves
and per-epoch grids once an epoch finished; latent statistics after `vae latent-stats`;
evaluation after `vae evaluate`.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
import time
from pathlib import Path

from vaecli.evaluation.html_parts import STYLE, data_table, embedded_image, figure, key_value_table
from vaecli.io.atomic import write_text_atomic
from vaecli.runs import Manifest, RunPaths, read_evaluation, read_manifest, read_metrics
from vaecli.tables import decoder_label

MAX_EPOCH_ROWS = 8  # epochs with grids shown: evenly spaced, the first and last included


def manifest_section(manifest: Manifest) -> str:
    data = manifest.data
    epochs = f"{manifest.epochs_completed} of {manifest.epochs}"
    seeds = f"{manifest.seed} / {manifest.train_seed}"
    sizes = (
        f"{data.get('source')} {data.get('image_shape')}: {data.get('train')} train, "
        f"{data.get('validation')} validation, {data.get('test')} test"
    )
    pairs = [
        ("status", manifest.status),
        ("epochs", epochs),
        ("started", manifest.started),
        ("ended", manifest.ended),
        ("command", manifest.command),
        ("seed / train seed", seeds),
        ("KL factor (effective)", f"{manifest.kl_factor} ({manifest.effective_kl_factor})"),
        ("KL schedule", (manifest.kl_schedule or {}).get("description")),
        ("data", sizes),
        ("data fingerprint", data.get("fingerprint")),
        ("device", manifest.device),
        ("XLA / precision", f"{manifest.jit_compile} / {manifest.precision_policy}"),
        ("versions", ", ".join(f"{key} {value}" for key, value in manifest.versions.items())),
        ("git commit", manifest.git_commit),
        ("error", manifest.error),
    ]
    return "<h2>Run</h2>" + key_value_table(pair for pair in pairs if pair[1] not in (None, ""))


def metrics_section(paths: RunPaths) -> str:
    rows = read_metrics(paths)
    if not rows:
        return '<h2>Training</h2><p class="note">No epoch has finished yet.</p>'
    columns = [
        key
        for key in (
            "epoch",
            "loss",
            "reconstruction_loss",
            "kl_loss",
            "kl_weight",
            "kl_penalty",
            "val_loss",
            "val_reconstruction_loss",
            "val_kl_loss",
            "learning_rate",
            "seconds",
        )
        if key in rows[0]
    ]
    return (
        "<h2>Training</h2>"
        + figure(paths.loss_curve, "loss, reconstruction and KL per epoch (nats per image)")
        + data_table(columns, [[row.get(key) for key in columns] for row in rows])
    )


def _grid_epochs(paths: RunPaths) -> list[int]:
    found = sorted(
        int(match.group(1))
        for file in paths.images.glob("samples_e*.png")
        if (match := re.fullmatch(r"samples_e(\d+)\.png", file.name))
    )
    if len(found) <= MAX_EPOCH_ROWS:
        return found
    step = (len(found) - 1) / (MAX_EPOCH_ROWS - 1)
    return sorted({found[round(index * step)] for index in range(MAX_EPOCH_ROWS)})


def grids_section(paths: RunPaths) -> str:
    epochs = _grid_epochs(paths)
    if not epochs:
        return ""
    rows = "".join(
        f"<tr><td>epoch {epoch}</td><td>{_maybe_image(paths.reconstruction_grid(epoch), 'reconstructions')}</td>"
        f"<td>{_maybe_image(paths.sample_grid(epoch), 'samples')}</td></tr>"
        for epoch in epochs
    )
    return (
        '<h2>Reconstructions and samples across epochs</h2><p class="note">Reconstructions: odd rows are '
        "validation images, even rows their reconstructions. Samples: the same fixed z ~ N(0, I) every epoch."
        '</p><table class="epochs"><tr><th>epoch</th><th>reconstructions</th><th>samples</th></tr>'
        f"{rows}</table>"
    )


def _maybe_image(path: Path, alt: str) -> str:
    return embedded_image(path, alt) if path.is_file() else "-"


def latent_stats_section(paths: RunPaths) -> str:
    stats_file = paths.latent_stats / "stats.json"
    if not stats_file.is_file():
        return ""
    statistics = json.loads(stats_file.read_text())
    units = statistics.get("active_units", {})
    pairs = [
        ("active units", f"{units.get('count')} (Var z_mean > {units.get('threshold')})"),
        ("effective rank", statistics.get("pca", {}).get("effective_rank")),
        ("KL total (nats)", statistics.get("kl_total")),
        ("split", statistics.get("provenance", {}).get("split")),
    ]
    figures = "".join(
        figure(paths.latent_stats / name, caption)
        for name, caption in (
            ("dimensions.png", "z_mean per dimension against N(0, 1)"),
            ("norms.png", "||z_mean|| against prior samples"),
            ("pca.png", "PCA of z_mean"),
        )
    )
    return (
        "<h2>Latent statistics</h2>"
        + key_value_table(pair for pair in pairs if pair[1] is not None)
        + kl_spectrum_figure(paths, statistics)
        + figures
    )


def kl_spectrum_figure(paths: RunPaths, statistics: dict) -> str:
    """The sorted per-dimension KL: latent-stats' PNG, or drawn here from stats.json when an older one lacks it."""
    caption = "KL spectrum: per-dimension KL, sorted largest first; collapsed dimensions form the tail near 0"
    if statistics.get("kl_per_dimension") is None:
        return ""
    stored = paths.latent_stats / "kl_spectrum.png"
    if stored.is_file():
        return figure(stored, caption)
    from vaecli.figures import kl_spectrum

    with tempfile.TemporaryDirectory() as folder:
        drawn = kl_spectrum(Path(folder) / "kl_spectrum.png", {paths.name: statistics["kl_per_dimension"]}, paths.name)
        return figure(drawn, caption)


def _bound_pairs(bounds: dict, iw_samples: int, label: str = "") -> list[tuple[str, str]]:
    elbo = f"{bounds['elbo_nats']:.2f} nats = {bounds['elbo_bits_per_dim']:.4f} bits/dim"
    iwae = f"{bounds['iwae_nats']:.2f} nats = {bounds['iwae_bits_per_dim']:.4f} bits/dim"
    return [(f"ELBO (KL weighted 1){label}", elbo), (f"IWAE bound, K={iw_samples}{label}", iwae)]


def evaluation_section(paths: RunPaths, features: str | None = None) -> str:
    evaluation = read_evaluation(paths, features)
    if evaluation is None:
        if features is None:
            return ""
        return f'<h2>Evaluation</h2><p class="note">No evaluation in the {html.escape(features)} feature space.</p>'
    likelihood = evaluation["likelihood"]
    reconstruction = likelihood["reconstruction"]
    pairs = [("images", f"{evaluation['num_images']:,} ({evaluation['split']} split)")]
    pairs.append(("decoder", decoder_label(likelihood)))
    if likelihood["applicable"]:
        pairs += _bound_pairs(likelihood, likelihood["iw_samples"])
        pairs.append(("KL", f"{likelihood['kl_nats']:.2f} nats"))
        if "bernoulli" in likelihood:
            pairs += _bound_pairs(likelihood["bernoulli"], likelihood["iw_samples"], " [Bernoulli, for BCE runs]")
    else:
        pairs.append(("ELBO, IWAE", "not applicable: " + likelihood["reason"]))
    pairs += [
        ("reconstruction BCE (from z_mean)", f"{reconstruction['bce_nats']:.2f} nats"),
        ("reconstruction squared error", f"{reconstruction['mse_sum']:.3f} (sum over values)"),
        ("active units", f"{evaluation['active_units']['count']} of {evaluation['active_units']['of']}"),
    ]
    section = evaluation["plausibility"]
    space = section["feature_space"]
    rows = [
        [
            row["label"],
            row["precision"],
            row["recall"],
            row["frechet_distance"],
            row.get("cycle_error_mean"),
            row.get("latent_norm_mean"),
        ]
        for row in section["rows"]
    ]
    accuracy = space.get("test_accuracy") or {}
    note = (
        f"Feature space: <b>{html.escape(space['name'])}</b> ({html.escape(space.get('description', ''))}"
        + (", test accuracy " + ", ".join(f"{html.escape(k)} {v:.1%}" for k, v in accuracy.items()) if accuracy else "")
        + f"). Every row: {section['num_samples']:,} points against {section['num_real']:,} real "
        f"images, k = {section['k']}."
    )
    samples = paths.root / (evaluation.get("files", {}).get("samples") or "evaluation/samples.png")
    return (
        "<h2>Evaluation</h2>"
        + key_value_table(pairs)
        + f"<p>{note}</p>"
        + data_table(["region", "precision", "recall", "Frechet distance", "cycle error", "mean ||z||"], rows)
        + densities_section(evaluation)
        + figure(samples, "decoded points per region (first row: real images; second: reconstructions)")
    )


def factors_section(paths: RunPaths) -> str:
    """`vae factors` (evaluation/factors.json) and `vae assay` (evaluation/assay.json), when present."""
    from vaecli.evaluation.factors import read_factors

    found, parts = read_factors(paths.root), []
    if found:
        pairs = [
            (name.replace("_", " "), found.get(name))
            for name in ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap")
        ]
        rows = [
            [name, "discrete" if discrete else "continuous", f"z{best}", probe]
            for name, discrete, best, probe in zip(
                found["factor_names"], found["discrete"], found["best_dimension"], found["probe_score"]
            )
        ]
        parts += [
            "<h2>Known factors</h2>",
            key_value_table(pairs),
            data_table(["factor", "kind", "best dimension", "linear probe (accuracy / R^2)"], rows),
            figure(paths.evaluation_images / "factor_importance.png", "DCI importance: factors x dimensions"),
        ]
    parts.append(figure(paths.evaluation_images / "latent_response_matrix.png", "latent response matrix (vae assay)"))
    return "".join(parts)


def densities_section(evaluation: dict) -> str:
    """The fitted densities' log-likelihoods and, for a VAE, the prior gap they reveal (vae evaluate --density)."""
    densities = evaluation.get("densities") or {}
    if not densities:
        return ""
    rows = [
        [
            name,
            f"{entry.get('kind')} ({entry.get('components')} components) on {entry.get('encoding', 'z_mean')}",
            entry.get("split_log_likelihood_nats"),
            entry.get("prior_log_likelihood_nats"),
            entry.get("prior_gap_nats"),
        ]
        for name, entry in densities.items()
    ]
    note = (
        "Mean log q(z) in nats per point under each fitted density: of the split's encodings, and for a VAE "
        "of samples of the prior N(0, I); the gap (prior minus encodings) is near 0 when the aggregate posterior "
        "fills the prior. Read it for densities fit to posterior samples (z): one fit to z_mean is nearly "
        "singular along collapsed dimensions."
    )
    return f'<h3>Fitted densities</h3><p class="note">{html.escape(note)}</p>' + data_table(
        ["density", "fit", "log q(encodings)", "log q(prior samples)", "prior gap"], rows
    )


def render_report(paths: RunPaths, features: str | None = None) -> str:
    manifest = read_manifest(paths)
    config_text = paths.config.read_text() if paths.config.is_file() else ""
    status = html.escape(str(manifest.status))
    data = manifest.data
    summary = (
        f'<span class="status-{status}">{status}</span> &middot; {html.escape(str(manifest.name))} '
        f"&middot; {html.escape(str(data.get('source')))} {html.escape(str(data.get('image_shape')))} "
        f"&middot; KL factor {html.escape(str(manifest.kl_factor))}"
    )
    body = "".join(
        [
            f'<h1>{html.escape(paths.name)}</h1><p class="summary">{summary}</p>',
            manifest_section(manifest),
            f'<h2>Config</h2><pre class="config">{html.escape(config_text)}</pre>',
            metrics_section(paths),
            grids_section(paths),
            latent_stats_section(paths),
            evaluation_section(paths, features),
            factors_section(paths),
        ]
    )
    from vaecli import __version__

    footer = (
        f'<p class="note">Written by vaecli {__version__} on {time.strftime("%Y-%m-%d %H:%M %Z")} from '
        f"{html.escape(str(paths.root))}.</p>"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(paths.name)} - vaecli '
        f"report</title><style>{STYLE}</style></head><body>{body}{footer}</body></html>\n"
    )


def write_report(paths: RunPaths, out: str | Path | None = None, features: str | None = None) -> Path:
    """The page; features picks the evaluation's feature space (default: the latest evaluation)."""
    target = Path(out) if out is not None else paths.report
    write_text_atomic(target, render_report(paths, features))
    return target
