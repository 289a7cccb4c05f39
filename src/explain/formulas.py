"""The gradient CAM formulas, one function each, named by the ``formula`` of their ``CamMethod`` (src/explain/methods.py).

Each takes a layer's activations A (N, h, w, C) and the gradients dS/dA of the class score S (the
logit, before the softmax) and returns the un-normalised maps (N, h, w). They live apart from the
registry, which names them, so that the params schema reads the method names without this code:
a change to a formula re-runs the heatmap stages only, not every stage that reads params.yaml.
"""
from __future__ import annotations

import tensorflow as tf


def grad_cam(activations, gradients):
    """Channel weights are the spatial mean of the gradients."""
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


def grad_cam_plus_plus(activations, gradients):
    """Channel weights are the positive gradients weighted by the second-order alphas."""
    second = gradients * gradients
    third = second * gradients
    denominator = 2.0 * second + third * tf.reduce_sum(activations, axis=(1, 2), keepdims=True)
    alphas = second / (denominator + tf.cast(second == 0.0, second.dtype))
    total = tf.reduce_sum(alphas, axis=(1, 2), keepdims=True)
    alphas = alphas / (total + tf.cast(total == 0.0, total.dtype))
    weights = tf.reduce_sum(tf.nn.relu(gradients) * alphas, axis=(1, 2), keepdims=True)
    return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


def layer_cam(activations, gradients):
    """Every position weighs its channels by their own positive gradients."""
    return tf.nn.relu(tf.reduce_sum(tf.nn.relu(gradients) * activations, axis=-1))
