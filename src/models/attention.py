"""Channel and spatial attention as small, self-contained Keras layers.

Both layers take a feature map (N, H, W, C) and return a re-weighted map of the
same shape, so they plug into the residual branch of any block:

- ``SqueezeExcitation`` (Hu et al., 2018): global average pool -> bottleneck MLP
  (reduction r) -> sigmoid gate per channel.
- ``CBAM`` (Woo et al., 2018): channel attention with one MLP shared between the
  average- and max-pooled descriptors, then spatial attention from a k x k conv
  over the channel-wise average and max maps.

The gates are kept as separate methods (``excitation`` / ``channel_gate`` /
``spatial_gate``) so the explain stage can read the attention itself, not only its
effect.

``call`` computes each layer through a hand-written gradient with fused passes
over the feature map (``attention_kernels``): attention is cheap in FLOPs but
memory-bound, and op by op it made CBAM the slowest variant by far on CPU. The
gate methods stay plain Keras ops: the reference the fused path is tested against.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from src.models.attention_kernels import fused_cbam, fused_se, global_pool


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
        return self.excite(self.squeeze(global_pool(inputs, "avg")))

    def call(self, inputs):
        return fused_se(inputs, lambda pooled: self.excite(self.squeeze(pooled)))

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
        pools = ops.stack([global_pool(inputs, "avg"), global_pool(inputs, "max")], axis=1)
        return self._channel_mlp(pools)

    def _channel_mlp(self, pools):
        # One MLP shared by both descriptors, applied to (N, 2, C) at once: one matmul pair, not two.
        return ops.sigmoid(ops.sum(self.mlp_out(self.mlp_hidden(pools)), axis=1))

    def spatial_gate(self, features):
        """Per-position gate in (0, 1), shape (N, H, W, 1), of the channel-refined ``features``."""
        avg = ops.mean(features, axis=-1, keepdims=True)
        mx = ops.max(features, axis=-1, keepdims=True)
        return ops.sigmoid(self.spatial_conv(ops.concatenate([avg, mx], axis=-1)))

    def call(self, inputs):
        return fused_cbam(inputs, self._channel_mlp, ops.cast(self.spatial_conv.kernel, "float32"))

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
