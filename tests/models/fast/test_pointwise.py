"""PointwiseConv2D: the same outputs and gradients as Keras' Conv2D with a 1x1 kernel (saving: test_io)."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from src.models.fast.pointwise import PointwiseConv2D


def paired_layers(input_shape, strides: int, padding: str, use_bias: bool = False):
    pointwise = PointwiseConv2D(5, 1, strides=strides, padding=padding, use_bias=use_bias)
    plain = layers.Conv2D(5, 1, strides=strides, padding=padding, use_bias=use_bias)
    pointwise.build(input_shape)
    plain.build(input_shape)
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=w.shape).astype(np.float32) for w in plain.weights]
    plain.set_weights(weights)
    pointwise.set_weights(weights)
    return pointwise, plain


# Odd and even maps: a strided 1x1 window keeps pixels 0, s, 2s, ... under either padding.
@pytest.mark.parametrize("size", [4, 5, 7])
@pytest.mark.parametrize("strides", [1, 2, 3])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_outputs_and_gradients_match_conv2d(size, strides, padding):
    x = tf.constant(np.random.default_rng(0).normal(size=(3, size, size, 6)).astype(np.float32))
    results = []
    for layer in paired_layers(x.shape, strides, padding, use_bias=True):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.range(5, dtype=tf.float32))
        results.append([y, *tape.gradient(loss, [x, *layer.trainable_weights])])
    for got, expected in zip(*results):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)


def test_bfloat16_policy_computes_in_bfloat16():
    layer = PointwiseConv2D(4, 1, strides=2, dtype="mixed_bfloat16")
    y = layer(np.ones((2, 6, 6, 3), np.float32))
    assert y.dtype == "bfloat16" and y.shape == (2, 3, 3, 4)


@pytest.mark.parametrize("kwargs, message", [
    ({"kernel_size": 3}, "kernel_size 1"),
    ({"dilation_rate": 2}, "undilated"),
    ({"data_format": "channels_first"}, "channels_last"),
])
def test_rejects_what_is_not_a_pointwise_conv(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PointwiseConv2D(4, **kwargs)
