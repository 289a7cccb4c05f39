"""The CAM fast path (``model.implementation: fast``): every stage's maps from one compiled pass.

``CamExplainer`` (the reference) asks tf-keras-vis for one layer at a time; each call builds a
new Keras model around that layer and runs it eagerly, so a four-stage study pays four
eager forward and backward passes per method. ``FastCamExplainer`` computes, in one ``tf.function``
with a fixed signature, the class logit (the final Dense layer without its softmax) and its
gradient with respect to every requested stage at once, then forms each stage's map with the
method's own formula:

- Grad-CAM (Selvaraju et al. 2017): ReLU(sum_c mean_hw(dS/dA_c) * A_c);
- Grad-CAM++ (Chattopadhay et al. 2018), in tf-keras-vis' closed form with exp(S) as the
  score, whose factor cancels in alpha and in the normalisation, so it is left out here
  (which also keeps large logits from overflowing);
- LayerCAM (Jiang et al. 2021): ReLU(sum_c ReLU(dS/dA_c) * A_c).

The pass depends on the model only, so every method's explainer of one model shares one trace.
The maps are normalised per image as tf-keras-vis does. Score-CAM has no gradient to share
and stays on the reference. tests/explain/test_fast_cam.py checks every method and stage
against tf-keras-vis.
"""
from __future__ import annotations

import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from src.explain.cam import CamExplainer

EPSILON = 1e-7  # tf-keras-vis' normalisation epsilon (keras.config.epsilon())


def _spatial_sum(x: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(x, axis=(1, 2), keepdims=True)


def grad_cam(activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
    """Channel weights are the spatial mean of the gradients."""
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


def grad_cam_plus_plus(activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
    """Channel weights are the positive gradients weighted by the second-order alphas."""
    second = gradients * gradients
    third = second * gradients
    denominator = 2.0 * second + third * _spatial_sum(activations)
    alphas = second / (denominator + tf.cast(second == 0.0, second.dtype))
    total = _spatial_sum(alphas)
    alphas = alphas / (total + tf.cast(total == 0.0, total.dtype))
    weights = _spatial_sum(tf.nn.relu(gradients) * alphas)
    return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


def layer_cam(activations: tf.Tensor, gradients: tf.Tensor) -> tf.Tensor:
    """Every position weighs its channels by their own positive gradients."""
    return tf.nn.relu(tf.reduce_sum(tf.nn.relu(gradients) * activations, axis=-1))


RAW_CAMS = {"gradcam": grad_cam, "gradcam++": grad_cam_plus_plus, "layercam": layer_cam}


def normalize(maps: np.ndarray) -> np.ndarray:
    """Each map rescaled to [0, 1], as tf-keras-vis' ``normalize``."""
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / (high - low + EPSILON)


def _classifier(model: keras.Model) -> keras.layers.Dense:
    """The final Dense layer, whose input gives the logits without cloning the model to swap its softmax."""
    classifier = model.layers[-1]
    if not isinstance(classifier, keras.layers.Dense):
        raise ValueError(f"the fast CAM path needs a Dense classifier as the last layer of {model.name!r}; "
                         f"it has {type(classifier).__name__} {classifier.name!r}")
    return classifier


_PASSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> {layers: compiled pass}


def gradient_pass(model: keras.Model, layers: tuple[str, ...]):
    """The compiled pass of ``model``: the activations at ``layers`` and the class logit's gradients there.

    One per model and set of layers, shared by every method's explainer, traced once (the batch
    dimension is left open); it reads the model's variables, so new weights need no new pass.
    """
    passes = _PASSES.setdefault(model, {})
    if layers not in passes:
        classifier = _classifier(model)
        extractor = keras.Model(model.inputs, [model.get_layer(name).output for name in layers] + [classifier.input])

        @tf.function(input_signature=[tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32),
                                      tf.TensorSpec([None], tf.int32)])
        def activations_and_gradients(images, classes):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(images)
                *activations, features = extractor(images, training=False)
                logits = tf.matmul(features, classifier.kernel)
                if classifier.use_bias:
                    logits = logits + classifier.bias
                score = tf.gather(logits, classes, batch_dims=1)
            return activations, tape.gradient(score, activations)

        passes[layers] = activations_and_gradients
    return passes[layers]


class FastCamExplainer(CamExplainer):
    """``CamExplainer`` with every stage's maps of a batch from one compiled forward and backward pass."""

    REFERENCE = CamExplainer

    def raw(self, images: np.ndarray, classes: np.ndarray | list[int], layers: list[str],
            batch_size: int = 64) -> dict[str, np.ndarray]:
        """Un-normalised maps (N, h, w) at each of ``layers`` for ``classes``."""
        compiled = gradient_pass(self.model, tuple(layers))
        cam_of = RAW_CAMS[self.method]
        images = np.asarray(images, dtype=np.float32)
        classes = np.asarray([int(c) for c in classes], dtype=np.int32)
        maps = {name: [np.zeros((0, *self.model.get_layer(name).output.shape[1:3]), np.float32)] for name in layers}
        for start in range(0, len(images), batch_size):
            activations, gradients = compiled(images[start:start + batch_size], classes[start:start + batch_size])
            for name, a, g in zip(layers, activations, gradients):
                maps[name].append(cam_of(a, g).numpy())
        return {name: np.concatenate(parts) for name, parts in maps.items()}

    def native_stages(self, images: np.ndarray, classes: np.ndarray | list[int], layers: list[str],
                      batch_size: int = 64) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        if self.method not in RAW_CAMS:
            return super().native_stages(images, classes, layers, batch_size)
        start = time.perf_counter()
        maps = {name: np.clip(normalize(raw), 0.0, 1.0).astype(np.float32)
                for name, raw in self.raw(images, classes, layers, batch_size).items()}
        seconds = time.perf_counter() - start
        return maps, {name: seconds for name in layers}  # one pass made them all

    def native(self, images: np.ndarray, classes: np.ndarray | list[int], layer: str | None = None,
               batch_size: int = 64) -> np.ndarray:
        if self.method not in RAW_CAMS:
            return super().native(images, classes, layer, batch_size)
        layer = layer or self.default_layer()
        return self.native_stages(images, classes, [layer], batch_size)[0][layer]
