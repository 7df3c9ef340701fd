"""Measuring runs: `vae evaluate`, `vae factors`, `vae assay`, `vae compare`, `vae report`.

metrics.py      pure NumPy: precision/recall (k-NN manifolds), Frechet distance, IWAE, bits/dim
features.py     the named feature spaces (classifier, inception, pixels) the plausibility uses
likelihood.py   ELBO, IWAE bound and reconstruction errors of a trained model on a split
plausibility.py decoded latent points against real images, per region
evaluate.py     the whole evaluation of one run -> evaluation.json (+ a sample grid per region)
factor_metrics.py pure NumPy/sklearn: MIG, DCI, SAP and probes of codes against known factors
factors.py      the factor measures of one run -> evaluation/factors.json (+ importance heat map)
assays.py       interventional assays (Leeb et al. 2022): latent response matrix, response maps
factor_figures.py the heat maps and response maps of factors.py and assays.py
compare.py      one table of several runs (config differences, metrics, evaluation), CSV
report.py       a self-contained HTML page for one run
"""
