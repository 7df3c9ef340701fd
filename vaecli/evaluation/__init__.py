"""Measuring runs: `vae evaluate`, `vae compare`, `vae report`.

metrics.py      pure NumPy: precision/recall (k-NN manifolds), Frechet distance, IWAE, bits/dim
features.py     the named feature spaces (classifier, inception, pixels) the plausibility uses
likelihood.py   ELBO, IWAE bound and reconstruction errors of a trained model on a split
plausibility.py decoded latent points against real images, per region
evaluate.py     the whole evaluation of one run -> evaluation.json (+ a sample grid per region)
compare.py      one table of several runs (config differences, metrics, evaluation), CSV
report.py       a self-contained HTML page for one run
"""
