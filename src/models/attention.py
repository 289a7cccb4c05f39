"""Channel and spatial attention as small, self-contained Keras layers.

Both layers take a feature map (N, H, W, C) and return a re-weighted map of the
same shape, so they plug into the residual branch of any block:

- ``SqueezeExcitation`` (Hu et al., 2018): global average pool -> bottleneck MLP
  (reduction r) -> sigmoid gate per channel.
- ``CBAM`` (Woo et al., 2018): channel attention with one MLP shared between the
  average- and max-pooled descriptors, then spatial attention from a k x k conv
  over the channel-wise average and max maps.

The gates are kept as separate sub-layers (``excitation`` / ``spatial_gate``) so
the explain stage can read the attention itself, not only its effect.
"""
from __future__ import annotations

import keras
from keras import layers, ops


def _global_pool(inputs, kind: str):
    """Mean or max over H and W, shape (N, C).

    With a static spatial size this is one global pooling window: the pooling
    kernels (oneDNN on CPU) make the forward and backward passes measurably
    cheaper than a reduction over axes (1, 2), which matters because the
    attention runs on the largest feature maps of the block.
    """
    height, width = inputs.shape[1], inputs.shape[2]
    if height is None or width is None:
        return ops.mean(inputs, axis=(1, 2)) if kind == "avg" else ops.max(inputs, axis=(1, 2))
    pool = ops.average_pool if kind == "avg" else ops.max_pool
    pooled = pool(inputs, pool_size=(height, width), strides=1, padding="valid")
    return ops.reshape(pooled, (-1, inputs.shape[-1]))


def _hidden_units(channels: int, reduction: int) -> int:
    # Never squeeze below a handful of units: tiny smoke-profile widths would
    # otherwise get a 0- or 1-unit bottleneck that cannot learn anything.
    return max(channels // reduction, 4)


@keras.saving.register_keras_serializable(package="attention")
class SqueezeExcitation(layers.Layer):
    """Squeeze-and-Excitation gate: ``x * sigmoid(MLP(GAP(x)))``."""

    def __init__(self, reduction: int = 16, **kwargs):
        super().__init__(**kwargs)
        if reduction < 1:
            raise ValueError(f"SE reduction must be >= 1, got {reduction}")
        self.reduction = reduction

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.squeeze = layers.Dense(_hidden_units(channels, self.reduction), activation="relu", name="squeeze")
        self.excite = layers.Dense(channels, activation="sigmoid", name="excite")
        self.squeeze.build((None, channels))
        self.excite.build((None, self.squeeze.units))
        super().build(input_shape)

    def excitation(self, inputs):
        """Per-channel gate values in (0, 1), shape (N, C)."""
        return self.excite(self.squeeze(_global_pool(inputs, "avg")))

    def call(self, inputs):
        gate = self.excitation(inputs)
        return inputs * ops.cast(gate[:, None, None, :], inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction}


@keras.saving.register_keras_serializable(package="attention")
class CBAM(layers.Layer):
    """Convolutional Block Attention Module: channel gate, then spatial gate."""

    def __init__(self, reduction: int = 16, kernel_size: int = 7, **kwargs):
        super().__init__(**kwargs)
        if reduction < 1:
            raise ValueError(f"CBAM reduction must be >= 1, got {reduction}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"CBAM kernel_size must be a positive odd number, got {kernel_size}")
        self.reduction = reduction
        self.kernel_size = kernel_size

    def build(self, input_shape):
        channels = int(input_shape[-1])
        hidden = _hidden_units(channels, self.reduction)
        # One MLP shared by the avg- and max-pooled descriptors (the paper's design).
        self.mlp_hidden = layers.Dense(hidden, activation="relu", name="mlp_hidden")
        self.mlp_out = layers.Dense(channels, name="mlp_out")
        self.mlp_hidden.build((None, channels))
        self.mlp_out.build((None, hidden))
        self.spatial_conv = layers.Conv2D(
            1, self.kernel_size, padding="same", use_bias=False, name="spatial_conv"
        )
        self.spatial_conv.build((None, None, None, 2))
        super().build(input_shape)

    def channel_gate(self, inputs):
        """Per-channel gate in (0, 1), shape (N, C)."""
        avg = _global_pool(inputs, "avg")
        mx = _global_pool(inputs, "max")
        # Both descriptors go through the MLP as one batch: one matmul pair instead of two.
        both = self.mlp_out(self.mlp_hidden(ops.concatenate([avg, mx], axis=0)))
        avg_out, max_out = ops.split(both, 2, axis=0)
        return ops.sigmoid(avg_out + max_out)

    def spatial_gate(self, features):
        """Per-position gate in (0, 1), shape (N, H, W, 1)."""
        avg = ops.mean(features, axis=-1, keepdims=True)
        mx = ops.max(features, axis=-1, keepdims=True)
        return ops.sigmoid(self.spatial_conv(ops.concatenate([avg, mx], axis=-1)))

    def call(self, inputs):
        refined = inputs * ops.cast(self.channel_gate(inputs)[:, None, None, :], inputs.dtype)
        return refined * ops.cast(self.spatial_gate(refined), inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "reduction": self.reduction, "kernel_size": self.kernel_size}


ATTENTION_LAYERS = {"se": SqueezeExcitation, "cbam": CBAM}


def make_attention(kind: str | None, name: str, reduction: int = 16, kernel_size: int = 7) -> layers.Layer | None:
    """Return a fresh attention layer of ``kind`` (None, "se" or "cbam")."""
    if kind is None:
        return None
    if kind == "se":
        return SqueezeExcitation(reduction=reduction, name=name)
    if kind == "cbam":
        return CBAM(reduction=reduction, kernel_size=kernel_size, name=name)
    raise ValueError(f"unknown attention {kind!r}; allowed: None, 'se', 'cbam'")
