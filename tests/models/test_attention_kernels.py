"""Fused SE/CBAM passes: the same function and the same gradients as the plain ops, ties included."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from src.models.attention import CBAM, SqueezeExcitation
from src.models.attention_kernels import global_pool, spatial_conv


def reference(layer, x):
    """The layer's function written op by op, with reduce ops (whose max gradient splits ties evenly)."""
    if isinstance(layer, SqueezeExcitation):
        return x * layer.excite(layer.squeeze(tf.reduce_mean(x, axis=(1, 2))))[:, None, None, :]
    pools = tf.stack([tf.reduce_mean(x, axis=(1, 2)), tf.reduce_max(x, axis=(1, 2))], axis=1)
    refined = x * layer._channel_mlp(pools)[:, None, None, :]
    stats = tf.concat([tf.reduce_mean(refined, -1, keepdims=True), tf.reduce_max(refined, -1, keepdims=True)], -1)
    kernel = tf.cast(layer.spatial_conv.kernel, stats.dtype)
    return refined * tf.sigmoid(tf.nn.conv2d(stats, kernel, strides=1, padding="SAME"))


def output_and_grads(fn, layer, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.cast(fn(x), tf.float32) * upstream)
    return fn(x), tape.gradient(loss, [x, *layer.trainable_variables])


def make_layer(kind):
    return SqueezeExcitation(reduction=4) if kind == "se" else CBAM(reduction=4, kernel_size=3)


@pytest.mark.parametrize("kind", ["se", "cbam"])
@pytest.mark.parametrize("shape", [(3, 6, 6, 16), (2, 5, 7, 8), (2, 1, 1, 32)])
def test_fused_matches_plain_ops(kind, shape):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=shape).astype(np.float32))
    upstream = tf.constant(rng.normal(size=shape).astype(np.float32))
    layer = make_layer(kind)
    layer(x)
    fused_out, fused_grads = output_and_grads(layer, layer, x, upstream)
    ref_out, ref_grads = output_and_grads(lambda t: reference(layer, t), layer, x, upstream)
    np.testing.assert_allclose(fused_out, ref_out, rtol=1e-5, atol=1e-6)
    assert len(fused_grads) == len(ref_grads) == 1 + len(layer.trainable_variables)
    for got, want in zip(fused_grads, ref_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_cbam_shares_the_max_gradient_among_ties():
    # Every channel equal at every position: both maxima are tied everywhere, and the
    # fused gradient must equal reduce_max's even split, not count the max once per tie.
    rng = np.random.default_rng(1)
    x = tf.constant(np.broadcast_to(rng.normal(size=(2, 4, 4, 1)), (2, 4, 4, 8)).astype(np.float32))
    x = tf.constant(np.round(x.numpy()))  # also ties across positions
    layer = make_layer("cbam")
    layer(x)
    upstream = tf.constant(rng.normal(size=x.shape).astype(np.float32))
    _, fused_grads = output_and_grads(layer, layer, x, upstream)
    _, ref_grads = output_and_grads(lambda t: reference(layer, t), layer, x, upstream)
    for got, want in zip(fused_grads, ref_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["se", "cbam"])
def test_unknown_spatial_size(kind):
    inputs = keras.Input((None, None, 8))
    model = keras.Model(inputs, make_layer(kind)(inputs))
    for shape in [(1, 6, 6, 8), (2, 3, 9, 8)]:
        x = np.random.default_rng(2).normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(model(x), reference(model.layers[-1], tf.constant(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("kind", ["se", "cbam"])
def test_bfloat16_is_as_accurate_as_plain_ops(kind, seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x32 = tf.constant(rng.normal(size=(4, 8, 8, 32)).astype(np.float32))
    upstream = tf.constant(rng.normal(size=x32.shape).astype(np.float32))
    layer32 = make_layer(kind)
    layer32(x32)
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        layer16 = make_layer(kind)
        layer16(x32)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    layer16.set_weights(layer32.get_weights())
    x16 = tf.cast(x32, tf.bfloat16)
    fused = output_and_grads(layer16, layer16, x16, upstream)
    plain = output_and_grads(lambda t: reference(layer16, t), layer16, x16, upstream)
    # The truth: float32 on the same bfloat16-rounded input.
    truth = output_and_grads(lambda t: reference(layer32, t), layer32, tf.cast(x16, tf.float32), upstream)
    assert fused[0].dtype == tf.bfloat16
    # bfloat16 rounding alone costs up to ~10% on this tiny map (gates and ties
    # included) for both paths; a wrong term in a hand-written gradient costs far more.
    for got, baseline, want in zip([fused[0], *fused[1]], [plain[0], *plain[1]], [truth[0], *truth[1]]):
        error = float(tf.norm(tf.cast(got, tf.float32) - want) / tf.norm(want))
        plain_error = float(tf.norm(tf.cast(baseline, tf.float32) - want) / tf.norm(want))
        assert error < 2 * plain_error + 0.01


def test_global_pools_equal_mean_and_max():
    features = np.random.default_rng(0).normal(size=(2, 6, 6, 32)).astype(np.float32)
    np.testing.assert_allclose(global_pool(features, "avg"), features.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(global_pool(features, "max"), features.max(axis=(1, 2)), rtol=1e-6)


@pytest.mark.parametrize("height, width, kernel_size", [(8, 8, 7), (2, 2, 7), (3, 5, 3), (1, 1, 7), (9, 9, 3)])
def test_spatial_conv_equals_conv2d_with_gradients(height, width, kernel_size):
    # Small maps take the matrix product, larger ones the conv kernels: both must be the "same" conv.
    rng = np.random.default_rng(height * width)
    stats = tf.constant(rng.normal(size=(3, height, width, 2)).astype(np.float32))
    kernel = tf.constant(rng.normal(size=(kernel_size, kernel_size, 2, 1)).astype(np.float32))
    upstream = tf.constant(rng.normal(size=(3, height, width, 1)).astype(np.float32))
    results = []
    for conv in (spatial_conv, lambda s, k: tf.nn.conv2d(s, k, strides=1, padding="SAME")):
        with tf.GradientTape() as tape:
            tape.watch([stats, kernel])
            out = conv(stats, kernel)
        results.append([out, *tape.gradient(out, [stats, kernel], output_gradients=upstream)])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
