"""Finding the layers of a built ResNet by name: every block's output is ``stage{S}_block{B}_out``."""
from __future__ import annotations

import keras

STEM = "stem"                   # the stem's conv/BN/ReLU are stem_conv, stem_bn, stem_relu
STEM_CONV = f"{STEM}_conv"
NORMALIZATION = "normalize"     # the in-model pixel normalisation (raw [0, 255] pixels in)


def block_output_names(model: keras.Model) -> list[str]:
    """Names of every block's output layer, shallow to deep."""
    return [layer.name for layer in model.layers if layer.name.endswith("_out") and layer.name.startswith("stage")]


def last_conv_layer_name(model: keras.Model) -> str:
    """The deepest block output: the usual Grad-CAM target."""
    names = block_output_names(model)
    if not names:
        raise ValueError(f"model {model.name!r} has no stage*_block*_out layer to explain")
    return names[-1]
