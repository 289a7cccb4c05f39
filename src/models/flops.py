"""Forward-pass FLOPs per image of a built model, counted from its layer shapes.

Convolutions and dense layers are counted from their kernels; an attention gate by its
kind's ``gate_flops`` in ``ATTENTION_KINDS`` (``src/models/variants.py``), since the layers
inside it are not the model's own. Any other layer with weights is an error: counting it as
free would understate the cost of a network the counter does not understand.
"""
from __future__ import annotations

import keras
import numpy as np

from src.models.layer_sets import REFERENCE
from src.models.variants import ATTENTION_KINDS, AttentionKind

# Layers whose weights only shift and scale element-wise: left out, as is usual.
ELEMENT_WISE = (keras.layers.BatchNormalization, keras.layers.Normalization)


def attention_kind_of(layer: keras.layers.Layer) -> AttentionKind | None:
    """The attention kind whose layer ``layer`` is (a fast subclass counts as its reference), or None."""
    for kind in ATTENTION_KINDS.values():
        if isinstance(layer, REFERENCE.attention(kind)):
            return kind
    return None


def flops_per_image(model: keras.Model) -> int:
    """2 x multiply-adds of every conv and dense layer, and of the attention gates' own layers.

    Element-wise work (BN, ReLU, pooling, the gates' products) is left out, as is usual.
    ValueError, naming the layer, for a layer with weights that is none of these.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, out_h, out_w, _ = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2 * out_h * out_w * kh * kw * int(layer.kernel.shape[2]) * layer.filters
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
        elif (kind := attention_kind_of(layer)) is not None:
            _, height, width, channels = layer.input.shape
            config = layer.get_config()
            total += kind.gate_flops(height, width, channels, **{key: config[key] for key in kind.settings})
        elif layer.weights and not isinstance(layer, ELEMENT_WISE):
            raise ValueError(
                f"cannot count the FLOPs of layer {layer.name!r} ({type(layer).__name__}): it has weights but is "
                f"neither a convolution, a dense layer nor the layer of an attention kind in ATTENTION_KINDS "
                f"({', '.join(ATTENTION_KINDS)})")
    return int(total)
