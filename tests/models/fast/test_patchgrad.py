"""PatchGradConv2D: Conv2D's outputs and gradients, the kernel gradient by image patches (saving: test_io)."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from src.models.fast.patchgrad import PatchGradConv2D


def outputs_and_grads(layer, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        # Weights that differ per output channel and position, so a misplaced gradient entry shows.
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.reshape(tf.range(tf.size(y), dtype=tf.float32) % 7 - 3,
                                                                 tf.shape(y)))
    return [y, *tape.gradient(loss, [x, *layer.trainable_weights])]


@pytest.mark.parametrize("size", [5, 6, 8])
@pytest.mark.parametrize("kernel, strides", [(3, 1), (3, 2), (5, 2), (3, 3)])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_outputs_and_gradients_match_conv2d(size, kernel, strides, padding):
    x = tf.constant(np.random.default_rng(0).normal(size=(3, size, size, 4)).astype(np.float32))
    patch = PatchGradConv2D(6, kernel, strides=strides, padding=padding, use_bias=True)
    plain = layers.Conv2D(6, kernel, strides=strides, padding=padding, use_bias=True)
    for layer in (patch, plain):
        layer.build(x.shape)
    plain.set_weights(patch.get_weights())
    for got, expected in zip(outputs_and_grads(patch, x), outputs_and_grads(plain, x)):
        assert got.shape == expected.shape
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-4, atol=1e-4)


def test_bfloat16_kernel_gradient_is_as_accurate_as_conv2d():
    x = tf.constant(np.random.default_rng(1).normal(size=(16, 4, 4, 32)).astype(np.float32))
    grads = {}
    for name, cls, policy in [("patch", PatchGradConv2D, "mixed_bfloat16"), ("plain", layers.Conv2D, "mixed_bfloat16"),
                              ("truth", layers.Conv2D, "float32")]:
        layer = cls(32, 3, strides=2, padding="same", use_bias=False, dtype=policy,
                    kernel_initializer=keras.initializers.HeNormal(seed=3))
        result = outputs_and_grads(layer, tf.cast(tf.cast(x, tf.bfloat16), tf.float32))
        grads[name] = tf.cast(result[2], tf.float32)
    error = float(tf.norm(grads["patch"] - grads["truth"]) / tf.norm(grads["truth"]))
    plain_error = float(tf.norm(grads["plain"] - grads["truth"]) / tf.norm(grads["truth"]))
    assert error < 2 * plain_error + 0.01


@pytest.mark.parametrize("kwargs, message", [
    ({"dilation_rate": 2}, "undilated"),
    ({"data_format": "channels_first"}, "channels_last"),
    ({"groups": 2}, "ungrouped"),
])
def test_rejects_what_it_does_not_compute(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PatchGradConv2D(4, 3, **kwargs)
