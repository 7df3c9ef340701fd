"""The latent space of a trained run: one module per command, and what they share.

encode.py        vae encode          a split -> an HDF5 latent file
decode.py        vae decode          a latent file -> a PNG grid (and an array)
sample.py        vae sample          random points of a region (the box 0 < z_i < B, ...) decoded
interpolate.py   vae interpolate     a path between two encodings
traverse.py      vae traverse        single dimensions varied around one encoding
stats.py         vae latent-stats    active units, KL per dimension, norms, boxes, PCA

geometry.py      regions, lerp/slerp, traversal grids, option parsing (pure NumPy)
files.py         the HDF5 latent-file format (atomic), .npy/.npz input
inference.py     batched encoder/decoder calls and the splits they encode
"""
