"""vaecli: train, encode, decode and sample autoencoders and VAEs on images from YAML configs."""

__version__ = "0.1.0"
