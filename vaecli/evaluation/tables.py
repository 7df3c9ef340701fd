"""Rich tables of `vae evaluate` (one run) for the screen; the numbers come from evaluation.json."""

from __future__ import annotations


def _number(value, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


def likelihood_table(evaluation: dict):
    from rich.table import Table

    likelihood = evaluation["likelihood"]
    reconstruction = likelihood["reconstruction"]
    table = Table(title=f"{evaluation['provenance']['run']}: {evaluation['num_images']:,} {evaluation['split']} "
                        f"images", title_justify="left", show_header=True)
    table.add_column("measure")
    table.add_column("nats / image", justify="right")
    table.add_column("bits / dim", justify="right")
    if likelihood["applicable"]:
        table.add_row("ELBO (KL weighted 1)", _number(likelihood["elbo_nats"], 6),
                      _number(likelihood["elbo_bits_per_dim"]))
        table.add_row(f"IWAE bound, K={likelihood['iw_samples']}", _number(likelihood["iwae_nats"], 6),
                      _number(likelihood["iwae_bits_per_dim"]))
        table.add_row("E_q reconstruction (BCE)", _number(likelihood["expected_reconstruction_nats"], 6), "")
        table.add_row("KL", _number(likelihood["kl_nats"]), "")
    else:
        table.add_row("ELBO, IWAE, KL", "n/a", "n/a")
    table.add_row("reconstruction BCE (from z_mean)", _number(reconstruction["bce_nats"], 6),
                  _number(reconstruction["bce_bits_per_dim"]))
    table.add_row("reconstruction squared error (sum)", _number(reconstruction["mse_sum"]), "")
    units = evaluation["active_units"]
    table.add_row("active units (Var z_mean > 0.01)", f"{units['count']} of {units['of']}", "")
    caption = None if likelihood["applicable"] else likelihood["reason"]
    table.caption = caption
    return table


def plausibility_table(evaluation: dict):
    from rich.table import Table

    section = evaluation["plausibility"]
    space = section["feature_space"]
    accuracy = space.get("test_accuracy")
    accuracy_text = (", classifier test accuracy " + ", ".join(f"{name} {value:.1%}" for name, value in
                                                               accuracy.items())) if accuracy else ""
    table = Table(title=f"plausibility in the {space['name']} feature space ({section['num_samples']:,} points per "
                        f"region against {section['num_real']:,} real images, k={section['k']}{accuracy_text})",
                  title_justify="left")
    for column in ("region", "precision", "recall", "Frechet distance", "cycle error ||E[z|dec(z)] - z||",
                   "mean ||z||"):
        table.add_column(column, justify="left" if column == "region" else "right")
    for row in section["rows"]:
        table.add_row(row["label"], f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                      _number(row["frechet_distance"]), _number(row.get("cycle_error_mean")),
                      _number(row.get("latent_norm_mean")))
    return table
