"""Class activation maps with tf-keras-vis, plus the helpers to pick images and draw overlays.

``CamExplainer`` runs Grad-CAM or Grad-CAM++ on a whole batch at once against the
deepest residual block (``stage*_block*_out``), scoring the pre-softmax logit of
the requested class (the final softmax is swapped for a linear activation), and
returns maps in [0, 1] upsampled to the input size.
"""
from __future__ import annotations

import keras
import matplotlib
import numpy as np
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

from src.models.io import float32_model
from src.models.layer_names import last_conv_layer_name

METHODS = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus}


class CamExplainer:
    """One explainer per (model, method); reuse it across batches (cloning the model is the slow part)."""

    def __init__(self, model: keras.Model, method: str = "gradcam", layer: str | None = None):
        if method not in METHODS:
            raise ValueError(f"unknown CAM method {method!r}; allowed: {', '.join(METHODS)}")
        self.method = method
        model = float32_model(model)
        self.layer = layer or last_conv_layer_name(model)
        self._explainer = METHODS[method](model, model_modifier=ReplaceToLinear(), clone=True)

    def __call__(self, images: np.ndarray, classes: np.ndarray | list[int], batch_size: int = 64) -> np.ndarray:
        """Maps (N, H, W) in [0, 1] for ``images`` (N, H, W, 3 raw pixels) and target ``classes``."""
        images = np.asarray(images, dtype=np.float32)
        classes = [int(c) for c in classes]
        maps = []
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            cam = self._explainer(
                CategoricalScore(classes[start:start + batch_size]), batch,
                penultimate_layer=self.layer, seek_penultimate_conv_layer=False,
            )
            maps.append(np.asarray(cam, dtype=np.float32).reshape(len(batch), *images.shape[1:3]))
        return np.clip(np.concatenate(maps), 0.0, 1.0) if maps else np.zeros((0, *images.shape[1:3]), np.float32)


def balanced_sample(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` seeded indices of each class (fewer if a class has fewer), ordered by class."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        picked.append(np.sort(rng.choice(idx, min(per_class, len(idx)), replace=False)))
    return np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a jet-coloured heatmap onto an RGB uint8 image of the same height and width."""
    heat = matplotlib.colormaps["jet"](np.clip(cam, 0, 1))[..., :3]
    blended = (1 - alpha) * (np.asarray(image, np.float32) / 255.0) + alpha * heat
    return (np.clip(blended, 0, 1) * 255).astype(np.uint8)
