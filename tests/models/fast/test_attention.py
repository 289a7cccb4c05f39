"""Fast SE/CBAM layers: the same function and the same input and weight gradients as the reference layers, ties included."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from src.models.fast.attention import FastCBAM, FastSqueezeExcitation
from src.models.fast.kernels import global_pool, spatial_conv


def with_twin(kind: str, x):
    """A fast layer built on ``x`` and its reference layer with the same config and weights."""
    fast = FastSqueezeExcitation(reduction=4) if kind == "se" else FastCBAM(reduction=4, kernel_size=3)
    fast(x)
    reference = fast.REFERENCE.from_config(fast.get_config())
    reference(x)
    reference.set_weights(fast.get_weights())
    return fast, reference


def output_and_grads(fn, layer, x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(tf.cast(fn(x), tf.float32) * upstream)
    return fn(x), tape.gradient(loss, [x, *layer.trainable_variables])


@pytest.mark.parametrize("kind", ["se", "cbam"])
@pytest.mark.parametrize("shape", [(3, 6, 6, 16), (2, 5, 7, 8), (2, 1, 1, 32)])
def test_fast_layer_matches_its_reference(kind, shape):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=shape).astype(np.float32))
    upstream = tf.constant(rng.normal(size=shape).astype(np.float32))
    fast, reference = with_twin(kind, x)
    fused_out, fused_grads = output_and_grads(fast, fast, x, upstream)
    ref_out, ref_grads = output_and_grads(reference, reference, x, upstream)
    np.testing.assert_allclose(fused_out, ref_out, rtol=1e-5, atol=1e-6)
    assert len(fused_grads) == len(ref_grads) == 1 + len(fast.trainable_variables)
    for got, want in zip(fused_grads, ref_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_cbam_shares_the_max_gradient_among_ties():
    # Every channel equal at every position: both maxima are tied everywhere, and the
    # fused gradient must equal reduce_max's even split, not count the max once per tie.
    rng = np.random.default_rng(1)
    x = tf.constant(np.broadcast_to(rng.normal(size=(2, 4, 4, 1)), (2, 4, 4, 8)).astype(np.float32))
    x = tf.constant(np.round(x.numpy()))  # also ties across positions
    fast, reference = with_twin("cbam", x)
    upstream = tf.constant(rng.normal(size=x.shape).astype(np.float32))
    _, fused_grads = output_and_grads(fast, fast, x, upstream)
    _, ref_grads = output_and_grads(reference, reference, x, upstream)
    for got, want in zip(fused_grads, ref_grads):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["se", "cbam"])
def test_unknown_spatial_size(kind):
    fast, reference = with_twin(kind, np.zeros((1, 4, 4, 8), np.float32))
    inputs = keras.Input((None, None, 8))
    model = keras.Model(inputs, fast(inputs))
    for shape in [(1, 6, 6, 8), (2, 3, 9, 8)]:
        x = np.random.default_rng(2).normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(model(x), reference(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("kind", ["se", "cbam"])
def test_bfloat16_is_as_accurate_as_the_reference(kind, seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x32 = tf.constant(rng.normal(size=(4, 8, 8, 32)).astype(np.float32))
    upstream = tf.constant(rng.normal(size=x32.shape).astype(np.float32))
    fast32, reference32 = with_twin(kind, x32)
    try:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        fast16, reference16 = with_twin(kind, x32)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for layer in (fast16, reference16, reference32):
        layer.set_weights(fast32.get_weights())
    x16 = tf.cast(x32, tf.bfloat16)
    fused = output_and_grads(fast16, fast16, x16, upstream)
    plain = output_and_grads(reference16, reference16, x16, upstream)
    # The truth: float32 on the same bfloat16-rounded input.
    truth = output_and_grads(reference32, reference32, tf.cast(x16, tf.float32), upstream)
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
