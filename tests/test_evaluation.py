"""Evaluation: test-time views and their averaged prediction, test metrics."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from src import evaluation
from src.evaluation import predict, translate, tta_views


@pytest.fixture
def batch():
    return tf.constant(np.arange(2 * 5 * 5 * 3, dtype=np.float32).reshape(2, 5, 5, 3) + 1)


def test_translate_moves_down_right_and_fills_zeros(batch):
    moved = translate(batch, 2, 1).numpy()
    np.testing.assert_array_equal(moved[:, 2:, 1:], batch.numpy()[:, :-2, :-1])
    assert (moved[:, :2] == 0).all() and (moved[:, :, :1] == 0).all()


def test_translate_moves_up_left(batch):
    moved = translate(batch, -1, -1).numpy()
    np.testing.assert_array_equal(moved[:, :-1, :-1], batch.numpy()[:, 1:, 1:])
    assert (moved[:, -1] == 0).all()


@pytest.mark.parametrize("flip, shift, count", [(False, 0, 1), (True, 0, 2), (False, 2, 3), (True, 2, 6)])
def test_view_count(flip, shift, count):
    assert len(tta_views(flip, shift)) == count


def test_views_are_distinct_and_start_with_identity(batch):
    views = [view(batch).numpy() for view in tta_views(True, 1)]
    np.testing.assert_array_equal(views[0], batch.numpy())
    assert len({v.tobytes() for v in views}) == len(views)


def test_predict_averages_probabilities_over_views():
    # A "model" whose output depends on where the bright pixels are: views must change it.
    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    outputs = keras.layers.Dense(2, activation="softmax", kernel_initializer="glorot_uniform")(flat)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).integers(0, 256, (6, 4, 4, 1)).astype(np.uint8)
    expected = np.mean([model.predict(view(tf.constant(x, tf.float32)), verbose=0)
                        for view in tta_views(True, 1)], axis=0)
    probs, img_per_s = predict(model, x, batch_size=4, views=tta_views(True, 1))
    # Batches of 4 vs 6 images sum in a different order on each instruction set: float32 rounding, not 1e-5.
    np.testing.assert_allclose(probs, expected, rtol=1e-4, atol=1e-6)
    assert not np.allclose(probs, predict(model, x, batch_size=4)[0])
    assert img_per_s > 0


def test_metrics_accuracy_and_per_class():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], dtype=np.float32)
    metrics = evaluation.test_metrics(probs, np.array([0, 1, 1]), ["a", "b"])
    assert metrics["accuracy"] == pytest.approx(2 / 3)
    assert metrics["per_class_accuracy"] == {"a": 1.0, "b": 0.5}
