"""Every Rich table vaecli prints, and the one way it formats numbers for the screen.

    likelihood_table, plausibility_table   vae evaluate (from evaluation.json)
    statistics_table                       vae latent-stats (from stats.json)
    compare_table                          vae compare, vae sweep

Files keep full precision; only the screen rounds.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence


def format_number(value, digits: int = 4, missing: str = "n/a") -> str:
    """4 significant digits, thousands separators from 100,000 on; `missing` for None."""
    if value is None:
        return missing
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


# The columns shown on screen (every column goes to --csv), with their short headers.
SCREEN_NUMBERS = {
    "n": "n",
    "kl_schedule": "KL schedule",
    "epochs": "epochs",
    "val_loss": "val loss",
    "val_reconstruction_loss": "val reco",
    "val_kl_loss": "val KL",
    "decoder": "decoder",
    "elbo": "ELBO",
    "iwae": "IWAE",
    "iwae_bits_per_dim": "IWAE bits/dim",
    "kl": "KL (eval)",
    "active_units": "active",
    "precision_prior": "P prior",
    "recall_prior": "R prior",
    "frechet_prior": "FD prior",
    "best_box_precision": "P best box",
    "best_box": "best B",
    "mig": "MIG",  # vae factors (vaecli.evaluation.factors)
    "dci_d": "DCI D",
    "dci_c": "DCI C",
    "dci_i": "DCI I",
    "sap": "SAP",
}


def make_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[str]],
    right: Container[str] = (),
    show_header: bool = True,
    fold: bool = False,
):
    """A Rich table: a left-aligned title, the columns (those in right aligned right), cells as given (already
    text, escaped where they hold names); fold wraps long cells instead of cutting them (whole run names)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_header=show_header)
    for column in columns:
        table.add_column(
            column, justify="right" if column in right else "left", overflow="fold" if fold else "ellipsis"
        )
    for row in rows:
        table.add_row(*row)
    return table


def decoder_label(likelihood: dict) -> str:
    """'Bernoulli' or 'Gaussian, sigma^2 = 0.5' (evaluations before the decoder was recorded: Bernoulli)."""
    if likelihood.get("decoder") == "gaussian":
        variance = likelihood.get("gaussian_variance")
        return "Gaussian" + (f", sigma^2 = {variance:.4g}" if variance is not None else "")
    return "Bernoulli"


def _bound_rows(table, bounds: dict, label: str, iw_samples) -> None:
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


def likelihood_table(evaluation: dict):
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


def plausibility_table(evaluation: dict):
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


def statistics_table(statistics: dict, top: int = 12):
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


DENSITY_PREFIXES = {"precision_density_": "P ", "recall_density_": "R ", "prior_gap_": "gap "}


def density_columns(rows: list[dict]) -> list[str]:
    """The compare columns of fitted densities present in any row (vae evaluate --density), in a stable order."""
    present = dict.fromkeys(key for row in rows for key in row if key.startswith(tuple(DENSITY_PREFIXES)))
    return [key for key in present if not key.endswith(("_sd", "_ci_low", "_ci_high"))]


def _density_header(column: str) -> str:
    """'precision_density_gmm10' -> 'P gmm10', 'prior_gap_gaussian_z' -> 'gap gaussian_z'."""
    for prefix, short in DENSITY_PREFIXES.items():
        if column.startswith(prefix):
            return short + column.removeprefix(prefix)
    return column


def density_table(evaluation: dict):
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


def _cell(row: dict, column: str) -> str:
    """A value, or 'mean ± sd [95% interval]' for a column aggregated over seeds (vaecli.evaluation.aggregate)."""
    sd = row.get(f"{column}_sd")
    text = format_number(row.get(column), missing="-")
    if not sd:  # no "± 0" for values every seed shares
        return text
    low, high = row.get(f"{column}_ci_low"), row.get(f"{column}_ci_high")
    interval = f" [{format_number(low)}, {format_number(high)}]" if low is not None and high is not None else ""
    return f"{text} ± {format_number(sd, 2)}{interval}"


def group_test_table(tests: list[dict], first: str, second: str):
    """One row per numeric column: the two groups' means, their difference and Welch's p-value."""
    from rich.table import Table

    table = Table(
        title=f"{second} against {first}: Welch t-test over seeds (two-sided; not adjusted for the many columns)",
        title_justify="left",
    )
    for header in ("column", first, second, "difference", "p"):
        table.add_column(header, justify="left" if header == "column" else "right", overflow="fold")
    for test in tests:
        p_value = test["p_value"]
        table.add_row(
            test["column"],
            format_number(test[first]),
            format_number(test[second]),
            format_number(test["difference"]),
            "n/a" if p_value is None else f"{p_value:.2g}",
        )
    return table


def compare_table(rows: list[dict], differing: list[str], width: int = 200):
    """Runs as rows when that fits in `width` characters, else transposed (a row per measure)."""
    from rich.table import Table

    shown = [key for key in SCREEN_NUMBERS if key not in differing and any(row.get(key) is not None for row in rows)]
    shown += density_columns(rows)
    spaces = sorted({row["features"] for row in rows if row.get("features")})
    groups = [row["n"] for row in rows if row.get("n")]
    title = (
        f"{len(groups)} groups of {sum(groups)} runs (mean ± sd [95% t-interval of the mean] over seeds)"
        if groups
        else f"{len(rows)} runs"
    )
    title += f" (plausibility in the {', '.join(spaces)} feature space)" if spaces else ""
    statuses = {row.get("status") for row in rows}
    columns = [*(["status"] if statuses != {"COMPLETED"} else []), *differing, *shown]
    headers = ["run", *(SCREEN_NUMBERS.get(column, _density_header(column)) for column in columns)]
    cells = [[row["run"], *(_cell(row, column) for column in columns)] for row in rows]
    needed = sum(max(len(text) for text in column) + 3 for column in zip(headers, *cells))
    if needed > width:  # transpose: measures down the side, one column per run
        measures = zip(headers[1:], *(row[1:] for row in cells))
        headers, cells = ["run", *(row[0] for row in cells)], [list(line) for line in measures]
    table = Table(title=title, title_justify="left")
    for index, header in enumerate(headers):
        table.add_column(header, overflow="fold", justify="left" if index == 0 else "right")
    for line in cells:
        table.add_row(*line)
    return table


def _three_places(value) -> str:
    """0.123, or '-' for a factor that is constant on the split (None in factors.json)."""
    return "-" if value is None else f"{value:.3f}"


def factor_table(report_dict: dict):
    """Two Rich tables: the summary scores, then one row per factor."""
    from rich.table import Table

    summary = Table(title="disentanglement (0 = none, 1 = perfect)", show_header=False, title_justify="left")
    summary.add_column("measure", style="bold")
    summary.add_column("value", justify="right")
    for label, key in (
        ("MIG (20 equal-width bins)", "mig"),
        ("DCI disentanglement", "dci_disentanglement"),
        ("DCI completeness", "dci_completeness"),
        ("DCI informativeness (chance-corrected)", "dci_informativeness"),
        ("SAP", "sap"),
    ):
        summary.add_row(label, format_number(report_dict[key]))
    summary.add_row("active units (Var z_mean > 0.01)", str(len(report_dict["active_units"])))
    per_factor = Table(
        title="per factor (gaps and informativeness 0..1; probe: accuracy for discrete, R^2 for continuous)",
        title_justify="left",
    )
    for column in ("factor", "kind", "best", "MIG", "SAP", "info", "probe"):
        per_factor.add_column(column, justify="left" if column in ("factor", "kind") else "right", no_wrap=True)
    for k, name in enumerate(report_dict["factor_names"]):
        per_factor.add_row(
            name,
            "discrete" if report_dict["discrete"][k] else "cont.",
            f"z{report_dict['best_dimension'][k]}",
            *(
                _three_places(report_dict[key][k])
                for key in ("mig_per_factor", "sap_per_factor", "informativeness_per_factor", "probe_score")
            ),
        )
    return summary, per_factor


def response_table(matrix, unused: list[int]):
    """The latent response matrix as a Rich table (rows: intervened dimension)."""
    from rich.table import Table

    table = Table(title="latent response matrix (row: intervened z_i, column: responding z_j)", title_justify="left")
    table.add_column("z_i", no_wrap=True)
    for j in range(matrix.shape[1]):
        table.add_column(f"z{j}", justify="right", no_wrap=True)
    for i, row in enumerate(matrix):
        label = f"z{i}" + (" (unused)" if i in unused else "")
        table.add_row(label, *(f"{value:.2f}" for value in row))
    return table
