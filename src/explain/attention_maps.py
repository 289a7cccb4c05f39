"""Read the attention itself out of a trained model: CBAM spatial masks and SE channel excitations.

Grad-CAM shows where the *classifier* looks; these show what the attention modules
computed on the way. For every stage we take its last block's attention layer,
feed it the features it saw, and ask it for its gate:
- CBAM: the spatial gate (H x W in (0, 1)), upsampled to the input size;
- SE: the channel excitation vector, averaged per class, and how class-specific it
  is (spread of the per-class means, as in the SE paper's Fig. 6 analysis).
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from src.models.attention import CBAM, SqueezeExcitation


def last_attention_per_stage(model: keras.Model, kind: type) -> list[keras.layers.Layer]:
    """The deepest attention layer of ``kind`` in every stage, shallow to deep."""
    by_stage: dict[str, keras.layers.Layer] = {}
    for layer in model.layers:
        if isinstance(layer, kind):
            by_stage[layer.name.split("_")[0]] = layer  # names are stage{S}_block{B}_{kind}
    return [by_stage[k] for k in sorted(by_stage, key=lambda s: int(s.replace("stage", "")))]


def _features(model: keras.Model, layers: list[keras.layers.Layer], images: np.ndarray) -> list[np.ndarray]:
    extractor = keras.Model(model.inputs, [layer.input for layer in layers])
    out = extractor.predict(np.asarray(images, np.float32), verbose=0, batch_size=256)
    return out if isinstance(out, list) else [out]


def cbam_spatial_masks(model: keras.Model, images: np.ndarray, native: bool = False) -> dict[str, np.ndarray]:
    """{layer name: masks in (0, 1)} for each stage's last CBAM: (N, H_in, W_in), or the gate's own size if native."""
    layers = last_attention_per_stage(model, CBAM)
    if not layers:
        raise ValueError(f"model {model.name!r} has no CBAM layers")
    size = images.shape[1:3]
    masks = {}
    for layer, feats in zip(layers, _features(model, layers, images)):
        feats = tf.convert_to_tensor(feats)
        refined = feats * tf.cast(layer.channel_gate(feats)[:, None, None, :], feats.dtype)
        gate = tf.cast(layer.spatial_gate(refined), tf.float32)
        masks[layer.name] = (gate if native else tf.image.resize(gate, size, method="bilinear")).numpy()[..., 0]
    return masks


def se_excitations_by_class(model: keras.Model, images: np.ndarray, labels: np.ndarray,
                            num_classes: int) -> dict[str, np.ndarray]:
    """{layer name: mean excitation per class (num_classes, C)} for each stage's last SE layer."""
    layers = last_attention_per_stage(model, SqueezeExcitation)
    if not layers:
        raise ValueError(f"model {model.name!r} has no SE layers")
    result = {}
    for layer, feats in zip(layers, _features(model, layers, images)):
        excitation = tf.cast(layer.excitation(tf.convert_to_tensor(feats)), tf.float32).numpy()
        result[layer.name] = np.stack([excitation[labels == k].mean(axis=0) for k in range(num_classes)])
    return result


def class_specificity(per_class: np.ndarray) -> float:
    """Mean over channels of the std across classes of the mean excitation: 0 = class-agnostic."""
    return float(per_class.std(axis=0).mean())
