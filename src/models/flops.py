"""Forward-pass FLOPs per image of a built model, counted from its layer shapes."""
from __future__ import annotations

import keras
import numpy as np

from src.models.attention import CBAM, SqueezeExcitation


def flops_per_image(model: keras.Model) -> int:
    """2 x multiply-adds of every conv and dense layer, including those inside SE/CBAM.

    Element-wise work (BN, ReLU, pooling, the gates' products) is left out, as is usual.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, out_h, out_w, _ = layer.output.shape
            kh, kw = layer.kernel_size
            total += 2 * out_h * out_w * kh * kw * int(layer.kernel.shape[2]) * layer.filters
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, (SqueezeExcitation, CBAM)):
            kernels = [w for w in layer.trainable_weights if len(w.shape) == 2]
            mlp = sum(2 * int(np.prod(w.shape)) for w in kernels)
            if isinstance(layer, CBAM):
                _, h, w, _ = layer.input.shape
                # The shared MLP runs on the avg- and the max-pooled descriptor; the spatial conv is k x k x 2 -> 1.
                total += 2 * mlp + 2 * h * w * layer.kernel_size ** 2 * 2
            else:
                total += mlp
    return int(total)
