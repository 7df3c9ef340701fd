"""Data sources (a registry by name), splits and the tf.data pipeline."""
