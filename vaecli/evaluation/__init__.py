"""Measure and compare runs: `vae evaluate`, `vae compare`, `vae sweep`, `vae report`.

    metrics.py      pure NumPy: precision/recall (k-NN manifolds), Frechet distance, IWAE, bits/dim
    features.py     the named feature spaces (classifier, inception, pixels) the plausibility uses
    likelihood.py   ELBO, IWAE bound and reconstruction errors of a trained model on a split
    evaluate.py     the whole evaluation of one run -> evaluation.json (+ a sample grid per region)
    compare.py      one table of several runs (config differences, metrics, evaluation), CSV, plots
    sweep.py        a grid of runs over --set values: skip finished, resume interrupted, record failures
    report.py       a self-contained HTML page for one run
"""
