"""The training loop only: loop.py (run_training: data, model, fit, resume), records.py (the manifests a run writes
as it starts), failures.py (every way training stops early, as a status and a message), callbacks.py (NaN guard,
per-epoch recorder, progress display), distribute.py (tf.distribute strategies), resources.py (the model's memory,
checked before anything is written)."""
