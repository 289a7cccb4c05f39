"""Patch-whitening initialisation of the stem convolution, from the training images.

Fast CIFAR trainers (airbench, after Page's "How to train your ResNet") start the first
convolution as a whitening transform of the image patches it sees: the eigenvectors of the
patch covariance, each scaled by 1/sqrt(its eigenvalue), and each paired with its negative
so the ReLU after the stem passes both signs. The network then starts from decorrelated
inputs instead of random filters. Here the stem keeps training afterwards (only its start
changes), and the filters come from the normalised pixels the stem really sees.

With ``f`` stem filters and ``d = k * k * 3`` patch dimensions, the ``min(f // 2, d)``
leading eigenvectors (most variance first) and their negatives fill the first filters; any
remaining filters keep their random initialisation.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from src.models.layer_names import NORMALIZATION, STEM_CONV

EPSILON = 5e-4  # keeps the near-zero-variance directions from exploding (airbench's value)


def patch_covariance(images: np.ndarray, kernel: int, chunk: int = 250) -> np.ndarray:
    """Covariance (float64) of all ``kernel x kernel`` patches of ``images`` (N, H, W, C), flattened like a conv kernel."""
    channels = images.shape[-1]
    dims = kernel * kernel * channels
    total, outer, count = np.zeros(dims), np.zeros((dims, dims)), 0
    for start in range(0, len(images), chunk):
        patches = tf.image.extract_patches(
            tf.constant(images[start:start + chunk], tf.float32), sizes=[1, kernel, kernel, 1],
            strides=[1, 1, 1, 1], rates=[1, 1, 1, 1], padding="VALID")
        # extract_patches orders each patch (row, column, channel): the order of a conv kernel's (kh, kw, cin).
        flat = patches.numpy().reshape(-1, dims).astype(np.float64)
        total += flat.sum(axis=0)
        outer += flat.T @ flat
        count += len(flat)
    mean = total / count
    return outer / count - np.outer(mean, mean)


def whitening_filters(covariance: np.ndarray, count: int) -> np.ndarray:
    """``count`` leading whitening directions as (dims, count): eigenvector / sqrt(eigenvalue + eps).

    Each eigenvector's sign is fixed (largest component positive), so the filters are the
    same whichever LAPACK computed them.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1][:count]
    vectors = eigenvectors[:, order]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(count)])
    return vectors * signs / np.sqrt(eigenvalues[order] + EPSILON)


def whiten_stem(model: keras.Model, images: np.ndarray, sample: int = 5000) -> int:
    """Set the leading filters of ``model``'s stem conv to ± patch-whitening filters; returns how many were set.

    ``images`` are raw training pixels (the model's own normalisation layer is applied);
    the first ``sample`` of them are used.
    """
    try:
        stem = model.get_layer(STEM_CONV)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no {STEM_CONV!r} layer to whiten") from None
    x = images[:sample].astype(np.float32)
    if any(layer.name == NORMALIZATION for layer in model.layers):
        x = np.asarray(model.get_layer(NORMALIZATION)(x))
    kernel = stem.kernel
    kh, kw, cin, cout = kernel.shape
    if kh != kw or cin != x.shape[-1]:
        raise ValueError(f"stem kernel {tuple(kernel.shape)} does not match square patches of {x.shape[-1]} channels")
    pairs = min(cout // 2, kh * kw * cin)
    directions = whitening_filters(patch_covariance(x, kh), pairs)
    weights = np.array(kernel.numpy(), dtype=np.float64).reshape(-1, cout)
    weights[:, :2 * pairs] = np.concatenate([directions, -directions], axis=1)
    kernel.assign(weights.reshape(kh, kw, cin, cout).astype(kernel.dtype))
    return 2 * pairs
