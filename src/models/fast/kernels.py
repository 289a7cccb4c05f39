"""Fused forward and backward passes of the SE and CBAM layers.

Attention costs few FLOPs but several passes over the block's largest feature
map; written op by op, the passes and their autodiff gradients (about ten for
CBAM's spatial branch alone) made CBAM the slowest variant by far on CPU.
``fused_se`` and ``fused_cbam`` compute the same functions with hand-written
gradients: element-wise work over the map is fused by XLA into one loop per pass
(float32 inside, the caller's dtype outside), reductions stay TensorFlow's pooling
and reduce kernels (measured 1.5-5x faster on CPU than XLA's reduction loops),
and the small parts (MLPs, the spatial conv) stay ordinary ops whose gradients
come from inner tapes, so Keras still owns and trains their weights. On maps up to
8x8 the spatial conv is one matrix product (``spatial_conv``).

Measured and rejected (``python -m benchmarks.attention``; docs/history.md): the MLPs
and the spatial conv inside the XLA functions (XLA's CPU dots and convs run as separate
thunks: CBAM 2x slower at 16x16), and the gradient's channel sums and tie counts
merged into multi-output XLA reductions (CBAM 1.5x slower).
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import tensorflow as tf
from keras import ops


def global_pool(inputs, kind: str):
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


def _broadcast_channels(per_channel):
    return per_channel[:, None, None, :]


def _map_size(inputs):
    # From the runtime shape: models may be built with unknown height and width.
    shape = tf.shape(inputs)
    return tf.cast(shape[1] * shape[2], tf.float32)


@tf.function(jit_compile=True)
def _refine(inputs, channel_gate):
    return tf.cast(inputs, tf.float32) * _broadcast_channels(channel_gate)


@tf.function(jit_compile=True)
def _reweight(inputs, channel_gate, spatial_gate):
    return tf.cast(_refine(inputs, channel_gate) * spatial_gate, inputs.dtype)


@tf.function(jit_compile=True)
def _grad_times_refined(grad, inputs, channel_gate):
    return tf.cast(grad, tf.float32) * _refine(inputs, channel_gate)


# Tie counts of the two maxima: their gradient is shared among the tied entries, as
# reduce_max's gradient does. In bfloat16 ties are common (8-bit mantissa), and
# giving each tied entry the whole gradient would not be a subgradient.
@tf.function(jit_compile=True)
def _channel_max_ties(inputs, channel_gate, stats):
    return tf.reduce_sum(tf.cast(_refine(inputs, channel_gate) == stats[..., 1:], tf.float32), -1, keepdims=True)


@tf.function(jit_compile=True)
def _position_max_ties(inputs, pools):
    return tf.reduce_sum(tf.cast(inputs == _broadcast_channels(pools[:, 1]), tf.float32), axis=(1, 2))


def _refined_grad(grad, inputs, channel_gate, spatial_gate, stats, stats_grad):
    """dL/d(inputs * channel_gate): through the re-weighting, the channel mean and the channel max.

    ``stats_grad[..., 1]`` is the max's gradient already divided among tied
    channels (as reduce_max's gradient does), so it goes to each channel holding the max.
    """
    refined = _refine(inputs, channel_gate)
    return (tf.cast(grad, tf.float32) * spatial_gate + stats_grad[..., :1] / inputs.shape[-1]
            + tf.where(refined == stats[..., 1:], stats_grad[..., 1:], 0.0))


@tf.function(jit_compile=True)
def _refined_grad_times_input(grad, inputs, channel_gate, spatial_gate, stats, stats_grad):
    return _refined_grad(grad, inputs, channel_gate, spatial_gate, stats, stats_grad) * tf.cast(inputs, tf.float32)


@tf.function(jit_compile=True)
def _input_grad(grad, inputs, channel_gate, spatial_gate, stats, stats_grad, pools, pools_grad):
    """dL/d(inputs); ``pools_grad[:, 1]`` already divided among tied positions."""
    d_refined = _refined_grad(grad, inputs, channel_gate, spatial_gate, stats, stats_grad)
    d_pools = (_broadcast_channels(pools_grad[:, 0]) / _map_size(inputs)
               + tf.where(inputs == _broadcast_channels(pools[:, 1]), _broadcast_channels(pools_grad[:, 1]), 0.0))
    return tf.cast(d_refined * _broadcast_channels(channel_gate) + d_pools, inputs.dtype)


# Up to this many positions (8x8) the spatial conv runs as one matrix product, where
# measured faster than the conv kernels; its matrix has 2 * positions^2 entries.
MAX_MATRIX_CONV_POSITIONS = 64


@functools.lru_cache(maxsize=None)
def _conv_matrix_index(height: int, width: int, kernel_size: int, channels: int) -> np.ndarray:
    """Which kernel entry links each input entry to each output position of a "same" conv.

    Shape (height * width * channels, height * width); entries out of the window
    point one past the kernel's last entry, where a zero is appended.
    """
    half = kernel_size // 2
    index = np.full((height, width, channels, height, width), kernel_size * kernel_size * channels, np.int32)
    for out_row in range(height):
        for out_col in range(width):
            for in_row in range(max(0, out_row - half), min(height, out_row + half + 1)):
                for in_col in range(max(0, out_col - half), min(width, out_col + half + 1)):
                    tap = ((in_row - out_row + half) * kernel_size + in_col - out_col + half) * channels
                    index[in_row, in_col, :, out_row, out_col] = tap + np.arange(channels)
    return index.reshape(height * width * channels, height * width)


def spatial_conv(stats, kernel):
    """The single-output "same" conv of the (N, H, W, C) statistics map with a (k, k, C, 1) kernel.

    On small maps it is one matrix product with the conv's (H*W*C, H*W) matrix,
    built from the kernel by a gather: oneDNN's convolution kernels (forward, input
    and kernel gradients) are slow for a conv this thin, and on CPU the three of
    them cost more than the rest of CBAM's spatial branch.
    """
    height, width, channels = stats.shape[1], stats.shape[2], stats.shape[3]
    kernel_size = kernel.shape[0]
    if height is None or width is None or height * width > MAX_MATRIX_CONV_POSITIONS:
        return tf.nn.conv2d(stats, kernel, strides=1, padding="SAME")
    taps = tf.concat([tf.reshape(kernel, [-1]), tf.zeros([1], kernel.dtype)], 0)
    matrix = tf.gather(taps, _conv_matrix_index(height, width, kernel_size, channels))
    conv = tf.reshape(stats, (-1, height * width * channels)) @ matrix
    return tf.reshape(conv, (-1, height, width, 1))


def _channel_stats(refined):
    return tf.concat([tf.reduce_mean(refined, -1, keepdims=True), tf.reduce_max(refined, -1, keepdims=True)], -1)


@tf.function(jit_compile=True)
def _scale(inputs, channel_gate):
    return tf.cast(_refine(inputs, channel_gate), inputs.dtype)


@tf.function(jit_compile=True)
def _grad_times_input(grad, inputs):
    return tf.cast(grad, tf.float32) * tf.cast(inputs, tf.float32)


@tf.function(jit_compile=True)
def _se_input_grad(grad, channel_gate, pooled_grad):
    # Through the re-weighting, plus through the global average pool.
    d_pool = _broadcast_channels(tf.cast(pooled_grad, tf.float32)) / _map_size(grad)
    return tf.cast(tf.cast(grad, tf.float32) * _broadcast_channels(channel_gate) + d_pool, grad.dtype)


def fused_se(inputs, excitation_mlp: Callable):
    """Squeeze-and-Excitation on ``inputs`` (N, H, W, C) with a hand-written gradient.

    ``excitation_mlp`` maps the (N, C) average-pooled descriptor to the (N, C)
    gate. Two passes over the map forward (pool, re-weight), three backward.
    """
    @tf.custom_gradient
    def se(x):
        pooled = global_pool(x, "avg")
        with tf.GradientTape() as mlp_tape:
            mlp_tape.watch(pooled)
            gate = tf.cast(excitation_mlp(pooled), tf.float32)

        def grad(upstream, variables=None):
            gate_grad = tf.reduce_sum(_grad_times_input(upstream, x), axis=(1, 2))
            pooled_grad, *variable_grads = mlp_tape.gradient(gate, [pooled, *(variables or [])],
                                                             output_gradients=gate_grad)
            return _se_input_grad(upstream, gate, pooled_grad), variable_grads

        return _scale(x, gate), grad

    return se(inputs)


def fused_cbam(inputs, channel_mlp: Callable, spatial_kernel):
    """CBAM on ``inputs`` (N, H, W, C) with a hand-written gradient over the full map.

    ``channel_mlp`` maps the stacked (N, 2, C) average/max descriptors to the
    (N, C) channel gate; ``spatial_kernel`` is the (k, k, 2, 1) float32 kernel of
    the spatial conv. Returns the refined map in the dtype of ``inputs``.
    """
    @tf.custom_gradient
    def cbam(x, kernel):
        pools = ops.stack([global_pool(x, "avg"), global_pool(x, "max")], axis=1)
        with tf.GradientTape() as mlp_tape:
            mlp_tape.watch(pools)
            gate = tf.cast(channel_mlp(pools), tf.float32)
        stats = _channel_stats(_refine(x, gate))
        with tf.GradientTape() as conv_tape:
            conv_tape.watch([stats, kernel])
            spatial = tf.sigmoid(spatial_conv(stats, kernel))

        def grad(upstream, variables=None):
            spatial_grad = tf.reduce_sum(_grad_times_refined(upstream, x, gate), -1, keepdims=True)
            stats_grad, kernel_grad = conv_tape.gradient(spatial, [stats, kernel], output_gradients=spatial_grad)
            stats_grad = tf.concat([stats_grad[..., :1], stats_grad[..., 1:] / _channel_max_ties(x, gate, stats)], -1)
            gate_grad = tf.reduce_sum(_refined_grad_times_input(upstream, x, gate, spatial, stats, stats_grad),
                                      axis=(1, 2))
            pools_grad, *variable_grads = mlp_tape.gradient(gate, [pools, *(variables or [])],
                                                            output_gradients=gate_grad)
            pools_grad = tf.stack([tf.cast(pools_grad[:, 0], tf.float32),
                                   tf.cast(pools_grad[:, 1], tf.float32) / _position_max_ties(x, pools)], axis=1)
            x_grad = _input_grad(upstream, x, gate, spatial, stats, stats_grad, pools, pools_grad)
            return (x_grad, kernel_grad), variable_grads

        return _reweight(x, gate, spatial), grad

    return cbam(inputs, spatial_kernel)
