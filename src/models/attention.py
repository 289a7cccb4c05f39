"""Channel and spatial attention as small Keras layers, written the way the papers read.

Both layers take a feature map (N, H, W, C) and return a re-weighted map of the
same shape, so they plug into the residual branch of any block:

- ``SqueezeExcitation`` (Hu et al., 2018): squeeze (global average pool), excite
  (bottleneck MLP with reduction r, sigmoid), scale each channel by its gate.
- ``CBAM`` (Woo et al., 2018): a channel gate from one MLP shared by the average-
  and max-pooled descriptors, then a spatial gate from a k x k conv over the
  channel-wise average and max maps.

The gates are methods of their own (``excitation``, ``channel_gate``,
``spatial_gate``): ``call`` composes them, and the explain stage reads them to show
the attention itself. These are the reference layers; ``src/models/fast/`` holds
CPU-tuned subclasses that compute the same functions faster.

Each layer is the ``layer`` of one kind in ``ATTENTION_KINDS`` (``src/models/variants.py``),
which holds its settings' defaults and allowed values (checked here too), its FLOP
count and the name of its fast subclass.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from src.models.variants import checked_settings, hidden_units


def per_channel(gate):
    """(N, C) -> (N, 1, 1, C), to scale a feature map channel by channel."""
    return gate[:, None, None, :]


@keras.saving.register_keras_serializable(package="attention")
class SqueezeExcitation(layers.Layer):
    """Squeeze-and-Excitation: ``x * sigmoid(W2 relu(W1 GAP(x)))`` per channel."""

    def __init__(self, reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        checked_settings("se", {"reduction": reduction})
        self.reduction = reduction

    def build(self, input_shape):
        channels = int(input_shape[-1])
        # Inner layers follow this layer's dtype policy (also when loaded under another global policy).
        self.squeeze = layers.Dense(hidden_units(channels, self.reduction), activation="relu", name="squeeze",
                                    dtype=self.dtype_policy)
        self.excite = layers.Dense(channels, activation="sigmoid", name="excite", dtype=self.dtype_policy)
        self.squeeze.build((None, channels))
        self.excite.build((None, self.squeeze.units))
        super().build(input_shape)

    def excitation(self, inputs):
        """Per-channel gate in (0, 1), shape (N, C)."""
        return self.excite(self.squeeze(ops.mean(inputs, axis=(1, 2))))

    def call(self, inputs):
        return inputs * per_channel(self.excitation(inputs))

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="attention")
class CBAM(layers.Layer):
    """Convolutional Block Attention Module: channel gate, then spatial gate."""

    def __init__(self, reduction: int = 16, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        checked_settings("cbam", {"reduction": reduction, "kernel_size": kernel_size})
        self.reduction = reduction
        self.kernel_size = kernel_size

    def build(self, input_shape):
        channels = int(input_shape[-1])
        hidden = hidden_units(channels, self.reduction)
        # One MLP shared by the avg- and max-pooled descriptors (the paper's design).
        self.mlp_hidden = layers.Dense(hidden, activation="relu", name="mlp_hidden", dtype=self.dtype_policy)
        self.mlp_out = layers.Dense(channels, name="mlp_out", dtype=self.dtype_policy)
        self.mlp_hidden.build((None, channels))
        self.mlp_out.build((None, hidden))
        self.spatial_conv = layers.Conv2D(1, self.kernel_size, padding="same", use_bias=False, name="spatial_conv",
                                          dtype=self.dtype_policy)
        self.spatial_conv.build((None, None, None, 2))
        super().build(input_shape)

    def shared_mlp(self, descriptor):
        """The channel MLP, (N, C) -> (N, C), before the sigmoid."""
        return self.mlp_out(self.mlp_hidden(descriptor))

    def channel_gate(self, inputs):
        """Per-channel gate in (0, 1), shape (N, C)."""
        average = self.shared_mlp(ops.mean(inputs, axis=(1, 2)))
        maximum = self.shared_mlp(ops.max(inputs, axis=(1, 2)))
        return ops.sigmoid(average + maximum)

    def spatial_gate(self, features):
        """Per-position gate in (0, 1), shape (N, H, W, 1), of the channel-refined ``features``."""
        average = ops.mean(features, axis=-1, keepdims=True)
        maximum = ops.max(features, axis=-1, keepdims=True)
        return ops.sigmoid(self.spatial_conv(ops.concatenate([average, maximum], axis=-1)))

    def call(self, inputs):
        refined = inputs * per_channel(self.channel_gate(inputs))
        return refined * self.spatial_gate(refined)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "kernel_size": self.kernel_size}
