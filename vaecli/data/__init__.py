"""Data sources (a registry by name), splits and the tf.data pipeline.

sources.py        SOURCES: synthetic, mnist, fashion_mnist, cifar10, image_folder
image_folder.py   scanning a folder and decoding one file (PIL; no TensorFlow)
cache.py          the fingerprinted uint8 HDF5 cache of an image folder, built in parallel
cached_images.py  CachedImages: a split of that cache, indexed like an array, read on demand
prepare.py        building the cache with a progress bar (`vae data prepare`, `vae train`)
labels.py         known factors of each source; an image folder's data.labels CSV
splits.py         train / validation / test splits
pipeline.py       tf.data batches: in memory, or streamed from the cache
tasks.py          reconstruct / denoise / recolor: the corrupted input and the clean target
"""
