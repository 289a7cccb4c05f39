"""Patch-whitening of the stem: the covariance, the whitening directions, and the filters set in a model."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from src.models.resnet import build_resnet
from src.training.stem_init import EPSILON, patch_covariance, whiten_stem, whitening_filters


def correlated_images(count: int = 40, seed: int = 0) -> np.ndarray:
    """Smooth random images with channels that share most of their signal: strongly correlated patches."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(count, 8, 8, 1))
    smooth = np.kron(base, np.ones((1, 2, 2, 1)))  # 16x16, neighbouring pixels equal
    images = smooth * [60.0, 50.0, 40.0] + rng.normal(scale=8.0, size=(count, 16, 16, 3)) + 128
    return np.clip(images, 0, 255).astype(np.float32)


def test_patch_covariance_is_the_covariance_of_every_valid_patch():
    images = correlated_images(5)
    patches = np.array([images[n, i:i + 3, j:j + 3, :].reshape(-1)
                        for n in range(5) for i in range(14) for j in range(14)], dtype=np.float64)
    np.testing.assert_allclose(patch_covariance(images, 3, chunk=2), np.cov(patches, rowvar=False, bias=True),
                               rtol=1e-4, atol=1e-3)


def test_whitening_filters_decorrelate_and_have_a_fixed_sign():
    covariance = patch_covariance(correlated_images(), 3)
    filters = whitening_filters(covariance, 5)
    eigenvalues = np.sort(np.linalg.eigvalsh(covariance))[::-1][:5]
    # W^T C W is diagonal: lambda / (lambda + eps) per direction, leading (largest) directions first.
    np.testing.assert_allclose(filters.T @ covariance @ filters, np.diag(eigenvalues / (eigenvalues + EPSILON)),
                               atol=1e-6)
    assert np.all(filters[np.abs(filters).argmax(axis=0), np.arange(5)] > 0)


@pytest.mark.parametrize("width, pairs", [(8, 4), (64, 27)])
def test_whiten_stem_sets_plus_minus_pairs_and_leaves_the_rest(width, pairs):
    keras.utils.set_random_seed(0)
    model = build_resnet(blocks=[1], strides=[1], width=width, input_shape=(16, 16, 3),
                         normalization=([128.0] * 3, [50.0] * 3))
    before = model.get_layer("stem_conv").kernel.numpy().copy()
    images = correlated_images()
    assert whiten_stem(model, images) == 2 * pairs
    kernel = model.get_layer("stem_conv").kernel.numpy().reshape(27, width)
    np.testing.assert_array_equal(kernel[:, :pairs], -kernel[:, pairs:2 * pairs])
    np.testing.assert_array_equal(kernel[:, 2 * pairs:], before.reshape(27, width)[:, 2 * pairs:])
    # The stem sees normalised pixels: its first filters decorrelate the normalised patches.
    normalised = (images - 128.0) / 50.0
    covariance = patch_covariance(normalised, 3)
    product = kernel[:, :pairs].T @ covariance @ kernel[:, :pairs]
    np.testing.assert_allclose(product - np.diag(np.diag(product)), 0, atol=1e-4)
    again = build_resnet(blocks=[1], strides=[1], width=width, input_shape=(16, 16, 3),
                         normalization=([128.0] * 3, [50.0] * 3))
    whiten_stem(again, images)
    np.testing.assert_array_equal(again.get_layer("stem_conv").kernel.numpy().reshape(27, width)[:, :2 * pairs],
                                  kernel[:, :2 * pairs])


def test_a_model_without_a_stem_is_named():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="first")(inputs), name="plain")
    with pytest.raises(ValueError, match="model 'plain' has no 'stem_conv' layer"):
        whiten_stem(model, np.zeros((2, 8, 8, 3), np.float32))
