"""Encoder/decoder builders and the AE/VAE keras.Model that trains them.

Imported lazily (PEP 562): `import vaecli.models.factory` (which vaecli.training needs at import
time) loads no Keras, so TensorFlow is first imported by vaecli.runtime.tensorflow.import_tensorflow, with
its start-up lines kept out of the terminal, and a MultiWorkerMirroredStrategy can still be
created before the runtime starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vaecli.models.autoencoder import AutoEncoder, Sampling
    from vaecli.models.builders import build_decoder, build_encoder, decoder_logits_model, layer_seed

_HOMES = {
    "AutoEncoder": "vaecli.models.autoencoder",
    "Sampling": "vaecli.models.autoencoder",
    "build_decoder": "vaecli.models.builders",
    "build_encoder": "vaecli.models.builders",
    "decoder_logits_model": "vaecli.models.builders",
    "layer_seed": "vaecli.models.builders",
}
__all__ = ["AutoEncoder", "Sampling", "build_decoder", "build_encoder", "decoder_logits_model", "layer_seed"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'vaecli.models' has no attribute {name!r}")
