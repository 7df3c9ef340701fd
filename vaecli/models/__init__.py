"""Encoder/decoder builders and the AE/VAE keras.Model that trains them."""

from vaecli.models.autoencoder import AutoEncoder, Sampling
from vaecli.models.builders import build_decoder, build_encoder, decoder_logits_model, layer_seed

__all__ = ["AutoEncoder", "Sampling", "build_decoder", "build_encoder", "decoder_logits_model", "layer_seed"]
