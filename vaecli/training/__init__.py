"""The training loop only: loop.py (run_training: data, model, fit, resume, failure states), callbacks.py (NaN
guard, per-epoch recorder, progress display), distribute.py (tf.distribute strategies), resources.py (the model's
memory, checked before anything is written)."""
