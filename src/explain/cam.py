"""Class activation maps with tf-keras-vis, at any stage of the ResNet, plus helpers to pick images and draw.

``CamExplainer`` runs a CAM method of src/explain/methods.py (Grad-CAM, Grad-CAM++, LayerCAM,
Score-CAM) through its tf-keras-vis class, the reference, on a whole batch at once against one
stage's output (its last block, ``stage{S}_block{B}_out``), scoring the pre-softmax logit of the
requested class (the final softmax is swapped for a linear activation). ``native`` gives the maps
at the layer's own resolution; ``__call__`` upsamples them to the input size
(src/explain/layer_maps.py, which also forms the fused multi-layer map). ``cam_explainer`` in
src/explain/fast_cam.py picks this reference or the one-pass fast path (the same maps).
"""
from __future__ import annotations

import importlib
import time

import keras
import matplotlib
import numpy as np
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

from src.explain.layer_maps import upsample
from src.explain.methods import CamMethod, cam_method
from src.models.io import float32_model
from src.models.layer_names import block_output_names, last_conv_layer_name


def stage_layer(model: keras.Model, stage: str) -> str:
    """The output layer of ``stage`` ("stage1", ...): its last block's output."""
    names = [name for name in block_output_names(model) if name.startswith(f"{stage}_")]
    if not names:
        stages = sorted({name.split("_")[0] for name in block_output_names(model)})
        raise ValueError(f"model {model.name!r} has no stage {stage!r}; it has {', '.join(stages)}")
    return names[-1]


def reference_class(method: CamMethod) -> type:
    """The tf-keras-vis class that computes ``method``; ValueError if tf-keras-vis lacks it."""
    if method.reference is None:
        raise ValueError(f"CAM method {method.name!r} has no tf-keras-vis class; its formula defines it, which "
                         "src.explain.fast_cam.cam_explainer computes")
    module, name = method.reference.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


class CamExplainer:
    """One explainer per (model, method); reuse it across batches and layers (cloning the model is the slow part)."""

    # Whether the explainer computes methods from their formula (the fast path) or only through tf-keras-vis.
    computes_formulas = False

    def __init__(self, model: keras.Model, method: str = "gradcam", clone: bool = True):
        """``clone=False`` swaps the softmax of ``model`` itself: for a throwaway copy, it saves a clone."""
        self.definition = cam_method(method)
        if not self.computes_formulas:
            reference_class(self.definition)  # a method tf-keras-vis lacks is refused here, not at its first batch
        self.method = method
        self.model = float32_model(model)
        self._clone = clone
        self._tf_keras_vis = None

    @property
    def tf_keras_vis(self):
        """tf-keras-vis' explainer, built on first use: building it clones the model, and the fast path
        (a subclass) needs it only for the methods it does not compute itself."""
        if self._tf_keras_vis is None:
            self._tf_keras_vis = reference_class(self.definition)(self.model, model_modifier=ReplaceToLinear(),
                                                             clone=self._clone)
        return self._tf_keras_vis

    def native(self, images: np.ndarray, classes: np.ndarray | list[int], layer: str | None = None,
               batch_size: int = 64) -> np.ndarray:
        """Maps (N, h, w) in [0, 1] at ``layer``'s resolution (default: the deepest block) for ``classes``."""
        images = np.asarray(images, dtype=np.float32)
        layer = layer or self.default_layer()
        classes = [int(c) for c in classes]
        channels = self.model.get_layer(layer).output.shape[-1]
        extra = self.definition.reference_options(channels)
        maps = []
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            cam = self.tf_keras_vis(CategoricalScore(classes[start:start + batch_size]), batch,
                                  penultimate_layer=layer, seek_penultimate_conv_layer=False, expand_cam=False,
                                  **extra)
            maps.append(np.asarray(cam, dtype=np.float32).reshape(len(batch), *cam.shape[1:3]))
        if not maps:
            grid = self.model.get_layer(layer).output.shape[1:3]
            return np.zeros((0, *grid), np.float32)
        return np.clip(np.concatenate(maps), 0.0, 1.0)

    def native_stages(self, images: np.ndarray, classes: np.ndarray | list[int], layers: list[str],
                      batch_size: int = 64) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Native maps at each of ``layers``, and the seconds each layer's maps took."""
        maps, seconds = {}, {}
        for layer in layers:
            start = time.perf_counter()
            maps[layer] = self.native(images, classes, layer, batch_size)
            seconds[layer] = time.perf_counter() - start
        return maps, seconds

    def timed_native_stages(self, images: np.ndarray, classes: np.ndarray | list[int], layers: list[str],
                            batch_size: int = 64, warm_up: bool = True
                            ) -> tuple[dict[str, np.ndarray], dict[str, float], float]:
        """``native_stages`` and the seconds all layers took together, after one untimed batch when
        ``warm_up`` (tracing and building are not throughput)."""
        if warm_up:
            self.native_stages(images[:batch_size], classes[:batch_size], layers, batch_size)
        start = time.perf_counter()
        maps, seconds = self.native_stages(images, classes, layers, batch_size)
        return maps, seconds, time.perf_counter() - start

    def default_layer(self) -> str:
        """The deepest block's output."""
        return last_conv_layer_name(self.model)

    def __call__(self, images: np.ndarray, classes: np.ndarray | list[int], batch_size: int = 64,
                 layer: str | None = None) -> np.ndarray:
        """Maps (N, H, W) in [0, 1] at the input's size."""
        return upsample(self.native(images, classes, layer, batch_size), np.asarray(images).shape[1:3])


def balanced_sample(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` seeded indices of each class (fewer if a class has fewer), ordered by class."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        picked.append(np.sort(rng.choice(idx, min(per_class, len(idx)), replace=False)))
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


def faithfulness_images(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """The test images every run's heatmaps are measured on: class-balanced, seeded by the top-level ``seed``."""
    return balanced_sample(labels, per_class, seed + 1)


def selection_images(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """The validation images each variant's heatmap study is scored on: class-balanced, seeded by ``seed``."""
    return balanced_sample(labels, per_class, seed + 2)


def first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Positions of the first ``per_class`` items of each class in ``labels`` (the grid and sanity images)."""
    return np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in np.unique(labels)])


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a jet-coloured heatmap onto an RGB uint8 image of the same height and width."""
    heat = matplotlib.colormaps["jet"](np.clip(cam, 0, 1))[..., :3]
    blended = (1 - alpha) * (np.asarray(image, np.float32) / 255.0) + alpha * heat
    return (np.clip(blended, 0, 1) * 255).astype(np.uint8)


def blocks(native: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A native-resolution map drawn as blocks at ``size`` (nearest neighbour): what the layer really resolves."""
    rows, cols = size[0] // native.shape[0], size[1] // native.shape[1]
    return np.kron(native, np.ones((rows, cols), np.float32))
