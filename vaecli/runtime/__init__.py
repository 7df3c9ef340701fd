"""The machine: tensorflow.py (a quiet TensorFlow start-up, threads, devices, precision, seeds, and the global
state training restores), memory.py (what this machine can hold, checked before big arrays are made)."""
