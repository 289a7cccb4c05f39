"""The CAM fast path (``model.implementation: fast``): every stage's maps from one compiled pass, and the switch.

``CamExplainer`` (the reference) asks tf-keras-vis for one layer at a time; each call builds a
new Keras model around that layer and runs it eagerly, so a four-stage study pays four
eager forward and backward passes per method. ``FastCamExplainer`` computes, in one ``tf.function``
with a fixed signature, the class logit (the final Dense layer without its softmax) and its
gradient with respect to every requested stage at once, then forms each stage's map with the
method's own formula (src/explain/formulas.py, named by src/explain/methods.py).

The pass depends on the model only, so every method's explainer of one model shares one trace.
The maps are normalised per image as tf-keras-vis does. A method without a formula (Score-CAM)
stays on the reference. tests/explain/test_fast_cam.py checks every formula and stage against
tf-keras-vis. ``cam_explainer`` picks the implementation; a method that tf-keras-vis lacks is
computed from its formula under either.
"""
from __future__ import annotations

import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from src.explain import formulas
from src.explain.cam import CamExplainer
from src.explain.methods import CamMethod, cam_method
from src.models.variants import IMPLEMENTATIONS

EPSILON = 1e-7  # tf-keras-vis' normalisation epsilon (keras.config.epsilon())


def normalize(maps: np.ndarray) -> np.ndarray:
    """Each map rescaled to [0, 1], as tf-keras-vis' ``normalize``."""
    low = maps.min(axis=(1, 2), keepdims=True)
    high = maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / (high - low + EPSILON)


def formula_of(method: CamMethod):
    """The function ``method``'s formula names in src/explain/formulas.py; ValueError if there is none."""
    function = getattr(formulas, method.formula or "", None)
    if not callable(function):
        raise ValueError(f"CAM method {method.name!r} names formula {method.formula!r}, which src/explain/formulas.py "
                         "does not define")
    return function


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
    computes_formulas = True

    def raw(self, images: np.ndarray, classes: np.ndarray | list[int], layers: list[str],
            batch_size: int = 64) -> dict[str, np.ndarray]:
        """Un-normalised maps (N, h, w) at each of ``layers`` for ``classes``."""
        compiled = gradient_pass(self.model, tuple(layers))
        cam_of = formula_of(self.definition)
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
        if self.definition.formula is None:
            return super().native_stages(images, classes, layers, batch_size)
        start = time.perf_counter()
        maps = {name: np.clip(normalize(raw), 0.0, 1.0).astype(np.float32)
                for name, raw in self.raw(images, classes, layers, batch_size).items()}
        seconds = time.perf_counter() - start
        return maps, {name: seconds for name in layers}  # one pass made them all

    def native(self, images: np.ndarray, classes: np.ndarray | list[int], layer: str | None = None,
               batch_size: int = 64) -> np.ndarray:
        if self.definition.formula is None:
            return super().native(images, classes, layer, batch_size)
        layer = layer or self.default_layer()
        return self.native_stages(images, classes, [layer], batch_size)[0][layer]


def cam_explainer(model: keras.Model, method: str, implementation: str = "reference",
                  clone: bool = True) -> CamExplainer:
    """The explainer of ``method`` for ``model.implementation``: tf-keras-vis one layer at a time (the
    reference), or one compiled pass for all layers; a method that tf-keras-vis lacks is its formula,
    computed in the one pass."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"unknown implementation {implementation!r}; allowed: {', '.join(IMPLEMENTATIONS)}")
    if implementation == "fast" or cam_method(method).reference is None:
        return FastCamExplainer(model, method, clone)
    return CamExplainer(model, method, clone)
