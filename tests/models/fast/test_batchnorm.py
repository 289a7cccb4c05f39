"""FusedBatchNorm: the same numbers as Keras' BatchNormalization, and it saves as one."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from src.models.fast.batchnorm import FusedBatchNorm


@pytest.fixture
def features():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(8, 5, 5, 16)) * 3 + 2).astype(np.float32)


def paired_layers(features):
    fused, plain = FusedBatchNorm(momentum=0.9, epsilon=1e-5), layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    fused.build(features.shape)
    plain.build(features.shape)
    rng = np.random.default_rng(1)
    weights = [rng.uniform(0.5, 1.5, 16), rng.normal(size=16), rng.normal(size=16), rng.uniform(0.5, 2, 16)]
    for layer in (fused, plain):
        layer.set_weights([w.astype(np.float32) for w in weights])
    return fused, plain


def test_training_output_and_moving_mean_match_keras(features):
    fused, plain = paired_layers(features)
    np.testing.assert_allclose(np.asarray(fused(features, training=True)),
                               np.asarray(plain(features, training=True)), atol=1e-4)
    np.testing.assert_allclose(fused.moving_mean.numpy(), plain.moving_mean.numpy(), atol=1e-5)
    # The fused kernel tracks the unbiased batch variance: n / (n - 1) times Keras' estimate of it.
    n = features.shape[0] * features.shape[1] * features.shape[2]
    batch_var = features.reshape(-1, 16).var(axis=0)
    expected = plain.moving_variance.numpy() + 0.1 * batch_var * (n / (n - 1) - 1)
    np.testing.assert_allclose(fused.moving_variance.numpy(), expected, rtol=1e-4)


def test_inference_output_matches_keras(features):
    fused, plain = paired_layers(features)
    np.testing.assert_allclose(np.asarray(fused(features, training=False)),
                               np.asarray(plain(features, training=False)), atol=1e-4)


def test_gradients_match_keras(features):
    import tensorflow as tf

    fused, plain = paired_layers(features)
    x = tf.constant(features)
    grads = []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) ** 2 * tf.range(16, dtype=tf.float32))
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for g_fused, g_plain in zip(*grads):
        np.testing.assert_allclose(g_fused.numpy(), g_plain.numpy(), rtol=1e-3, atol=1e-3)


def test_non_nhwc_input_falls_back_to_keras():
    x = np.random.default_rng(0).normal(size=(4, 7)).astype(np.float32)
    fused = FusedBatchNorm()
    np.testing.assert_allclose(np.asarray(fused(x, training=True)),
                               np.asarray(layers.BatchNormalization()(x, training=True)), atol=1e-5)


def test_saves_as_keras_batch_normalization(tmp_path, features):
    from src.models.io import save_model

    inputs = keras.Input(features.shape[1:])
    model = keras.Model(inputs, FusedBatchNorm(name="bn")(inputs))
    model.layers[-1](features, training=True)  # move the statistics off their initial values
    path = tmp_path / "bn.keras"
    save_model(model, path)
    loaded = keras.models.load_model(path)
    assert type(loaded.get_layer("bn")) is layers.BatchNormalization
    np.testing.assert_allclose(np.asarray(loaded(features)), np.asarray(model(features)), atol=1e-5)
