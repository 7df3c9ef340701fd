"""The tables of one run's measurements: `vae evaluate` (likelihood, plausibility, fitted densities, from
evaluation.json) and `vae latent-stats` (from stats.json)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vaecli.tables.cells import format_number

if TYPE_CHECKING:
    from rich.table import Table


def decoder_label(likelihood: dict) -> str:
    """'Bernoulli' or 'Gaussian, sigma^2 = 0.5' (evaluations before the decoder was recorded: Bernoulli)."""
    if likelihood.get("decoder") == "gaussian":
        variance = likelihood.get("gaussian_variance")
        return "Gaussian" + (f", sigma^2 = {variance:.4g}" if variance is not None else "")
    return "Bernoulli"


def _bound_rows(table: Table, bounds: dict, label: str, iw_samples: int) -> None:
    table.add_row(
        f"ELBO (KL weighted 1){label}",
        format_number(bounds["elbo_nats"], 6),
        format_number(bounds["elbo_bits_per_dim"]),
    )
    table.add_row(
        f"IWAE bound, K={iw_samples}{label}",
        format_number(bounds["iwae_nats"], 6),
        format_number(bounds["iwae_bits_per_dim"]),
    )
    table.add_row(
        f"E_q reconstruction -log p(x|z){label}", format_number(bounds["expected_reconstruction_nats"], 6), ""
    )


def likelihood_table(evaluation: dict) -> Table:
    from rich.table import Table

    likelihood = evaluation["likelihood"]
    reconstruction = likelihood["reconstruction"]
    table = Table(
        title=f"{evaluation['provenance']['run']}: {evaluation['num_images']:,} {evaluation['split']} images "
        f"(decoder: {decoder_label(likelihood)})",
        title_justify="left",
        show_header=True,
    )
    table.add_column("measure")
    table.add_column("nats / image", justify="right")
    table.add_column("bits / dim", justify="right")
    if likelihood["applicable"]:
        _bound_rows(table, likelihood, "", likelihood["iw_samples"])
        table.add_row("KL", format_number(likelihood["kl_nats"]), "")
        if "bernoulli" in likelihood:  # an MSE run: the Bernoulli figures too, to compare with BCE runs
            _bound_rows(table, likelihood["bernoulli"], " [Bernoulli]", likelihood["iw_samples"])
    else:
        table.add_row("ELBO, IWAE, KL", "n/a", "n/a")
    table.add_row(
        "reconstruction BCE (from z_mean)",
        format_number(reconstruction["bce_nats"], 6),
        format_number(reconstruction["bce_bits_per_dim"]),
    )
    if "gaussian_nats" in reconstruction:
        table.add_row(
            "reconstruction -log N(x | mu, sigma^2) (from z_mean)",
            format_number(reconstruction["gaussian_nats"], 6),
            "",
        )
    table.add_row("reconstruction squared error (sum)", format_number(reconstruction["mse_sum"]), "")
    units = evaluation["active_units"]
    table.add_row("active units (Var z_mean > 0.01)", f"{units['count']} of {units['of']}", "")
    table.caption = None if likelihood["applicable"] else likelihood["reason"]
    return table


def plausibility_table(evaluation: dict) -> Table:
    from rich.table import Table

    section = evaluation["plausibility"]
    space = section["feature_space"]
    accuracy = space.get("test_accuracy")
    accuracy_text = (
        (", classifier test accuracy " + ", ".join(f"{name} {value:.1%}" for name, value in accuracy.items()))
        if accuracy
        else ""
    )
    table = Table(
        title=f"plausibility in the {space['name']} feature space (every row: {section['num_samples']:,} points "
        f"against {section['num_real']:,} real images, k={section['k']}{accuracy_text})",
        title_justify="left",
    )
    for column in (
        "region",
        "precision",
        "recall",
        "Frechet distance",
        "cycle error ||E[z|dec(z)] - z||",
        "mean ||z||",
    ):
        table.add_column(column, justify="left" if column == "region" else "right")
    for row in section["rows"]:
        table.add_row(
            row["label"],
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            format_number(row["frechet_distance"]),
            format_number(row.get("cycle_error_mean")),
            format_number(row.get("latent_norm_mean")),
        )
    return table


def statistics_table(statistics: dict, top: int = 12) -> tuple[Table, Table]:
    """A Rich table for the screen: the headline numbers, then the most informative dimensions."""
    from rich.table import Table

    summary = Table(title="latent space", show_header=False, title_justify="left")
    summary.add_column("quantity", style="bold")
    summary.add_column("value", justify="right")
    active = statistics["active_units"]
    summary.add_row("points / z_dim", f"{statistics['num_points']:,} / {statistics['z_dim']}")
    summary.add_row(f"active units (Var z_mean > {active['threshold']:g})", str(active["count"]))
    if statistics["kl_total"] is not None:
        summary.add_row("KL per image (nats)", f"{statistics['kl_total']:.3f}")
    pca = statistics["pca"]
    summary.add_row("PCA effective rank", f"{pca['effective_rank']:.2f}")
    summary.add_row(
        "components for 90% / 99% variance", f"{pca['components_for_90_percent']} / {pca['components_for_99_percent']}"
    )
    norms = statistics["norm"]
    summary.add_row("median ||z_mean|| (prior ||z||)", f"{norms['encoded']['q50']:.3g} ({norms['prior']['q50']:.3g})")
    for boundary, fraction in statistics["box_fraction"].items():
        summary.add_row(
            f"inside 0 < z_i < {boundary}: points (components)",
            f"{100 * fraction['points']:.1f}% ({100 * fraction['components']:.0f}%)",
        )

    measure = statistics["dimensions_by_information"]["measure"]
    dimensions = Table(title=f"dimensions with the most {measure}", title_justify="left")
    for column in ("dim", "mean", "Var z_mean", "posterior var", "KL"):
        dimensions.add_column(column, justify="right")
    for dimension in statistics["dimensions_by_information"]["order"][:top]:
        posterior = statistics["posterior_variance"]
        kl = statistics["kl_per_dimension"]
        dimensions.add_row(
            f"z{dimension}",
            f"{statistics['mean'][dimension]:.3g}",
            f"{statistics['variance'][dimension]:.3g}",
            "-" if posterior is None else f"{posterior[dimension]:.3g}",
            "-" if kl is None else f"{kl[dimension]:.3g}",
        )
    return summary, dimensions


def density_table(evaluation: dict) -> Table:
    """The fitted densities of an evaluation: log q of the split's encodings and (VAE) of prior samples, the gap."""
    from rich.table import Table

    table = Table(title="fitted densities (mean log q(z), nats per point)", title_justify="left")
    for header in ("density", "fit to", "log q(encodings)", "log q(prior samples)", "prior gap"):
        table.add_column(header, justify="left" if header in ("density", "fit to") else "right")
    for name, entry in evaluation.get("densities", {}).items():
        fit_on = entry.get("fit_on") or {}
        table.add_row(
            name,
            f"{entry.get('encoding', 'z_mean')} of {fit_on.get('count', 0):,} {fit_on.get('split', '')} images",
            format_number(entry.get("split_log_likelihood_nats")),
            format_number(entry.get("prior_log_likelihood_nats"), missing="n/a (AE)"),
            format_number(entry.get("prior_gap_nats"), missing="n/a (AE)"),
        )
    return table
