"""Grad-CAM and faithfulness on a tiny model whose answer is known: class 1 is decided by one patch."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from src.explain.cam import CamExplainer, balanced_sample, blocks, overlay
from src.explain.faithfulness import (
    auc,
    average_drop_increase,
    edge_maps,
    faithfulness,
    matched_mass,
    perturbation_curves,
    random_maps,
)
from src.explain.layer_maps import fuse, upsample

PATCH = (slice(20, 28), slice(4, 12))  # rows 20-27, columns 4-11


@keras.saving.register_keras_serializable(package="tests")
class PatchSplit(keras.layers.Layer):
    """Channel 0: grey level inside the patch; channel 1: grey level outside it."""

    def call(self, x):
        mask = np.zeros((1, 32, 32, 1), np.float32)
        mask[0, PATCH[0], PATCH[1], 0] = 1.0
        grey = ops.mean(x, axis=-1, keepdims=True) / 255.0
        return ops.concatenate([grey * mask, grey * (1.0 - mask)], axis=-1)


def patch_model() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    features = PatchSplit(name="stage1_block1_out")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(pooled)
    model = keras.Model(inputs, outputs)
    # Class 1's logit grows with the patch's brightness only; class 0 is a constant.
    model.get_layer("predictions").set_weights([np.array([[0.0, 200.0], [0.0, 0.0]], np.float32),
                                                np.array([0.0, -6.0], np.float32)])
    return model


@pytest.fixture(scope="module")
def bright_images():
    """Dark random backgrounds with a bright deciding patch: removing the patch flips the class."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 100, (6, 32, 32, 3)).astype(np.float32)
    images[:, PATCH[0], PATCH[1], :] = rng.uniform(200, 255, (6, 8, 8, 3))
    return images


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam"])
def test_cam_peak_falls_in_the_deciding_patch(bright_images, method):
    model = patch_model()
    assert model.predict(bright_images, verbose=0).argmax(axis=1).tolist() == [1] * 6
    explainer = CamExplainer(model, method)
    cams = explainer(bright_images, [1] * 6, batch_size=4)
    assert cams.shape == (6, 32, 32) and cams.min() >= 0 and cams.max() <= 1
    native = explainer.native(bright_images, [1] * 6, "stage1_block1_out", batch_size=4)
    assert native.shape == (6, 32, 32)  # this layer keeps the input's resolution
    for cam in cams:
        row, col = np.unravel_index(cam.argmax(), cam.shape)
        assert 20 <= row < 28 and 4 <= col < 12
        inside = cam[PATCH].mean()
        outside = (cam.sum() - cam[PATCH].sum()) / (cam.size - cam[PATCH].size)
        assert inside > 5 * outside


def test_deletion_beats_random_on_the_patch_model(bright_images):
    model = patch_model()
    cams = CamExplainer(model, "gradcam")(bright_images, [1] * 6)
    predict = lambda x: model.predict_on_batch(x)  # noqa: E731
    classes = np.ones(6, int)
    real = faithfulness(predict, bright_images, cams, classes, steps=16)
    rand = faithfulness(predict, bright_images, random_maps(cams.shape, 0), classes, steps=16)
    assert real["deletion_auc"] < rand["deletion_auc"] - 0.1
    assert real["insertion_auc"] > rand["insertion_auc"] + 0.1
    assert real["deletion_curve"][0] == pytest.approx(real["insertion_curve"][-1], abs=1e-6)  # both = the image


def test_perturbation_levels_remove_the_most_important_pixels_first():
    images = np.full((1, 4, 4, 3), 200.0, np.float32)
    images[0, 0, 0] = 0.0  # mean colour is no longer 200
    maps = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    seen = []

    def record(x):
        seen.append(x.copy())
        return np.tile([[0.5, 0.5]], (len(x), 1))

    curves = perturbation_curves(record, images, maps, np.array([0]), steps=4, mode="deletion")
    levels = seen[0]
    assert curves.shape == (1, 5)
    fill = images.mean(axis=(1, 2))[0]
    # Level 1 (a quarter removed) replaced exactly the 4 highest-ranked pixels: the bottom row.
    np.testing.assert_allclose(levels[1][3], np.tile(fill, (4, 1)))
    np.testing.assert_allclose(levels[1][:3], images[0][:3])
    with pytest.raises(ValueError, match="mode"):
        perturbation_curves(record, images, maps, np.array([0]), mode="sideways")


def test_auc_and_average_drop_by_hand():
    assert auc(np.array([[1.0, 0.0]]))[0] == pytest.approx(0.5)
    assert auc(np.array([[1.0, 1.0, 1.0]]))[0] == pytest.approx(1.0)
    probs = {1: np.array([[0.2, 0.8]]), 0: np.array([[0.6, 0.4]])}

    def predict(x):  # full image -> 0.8 for class 1; the map-multiplied (dark) image -> 0.4
        return np.concatenate([probs[int(img.mean() > 50)] for img in x])

    drop, increase = average_drop_increase(predict, np.full((1, 4, 4, 3), 100.0), np.full((1, 4, 4), 0.1),
                                           np.array([1]))
    assert drop == pytest.approx(50.0) and increase == 0.0


def test_balanced_sample_and_overlay():
    labels = np.repeat(np.arange(3), 5)
    idx = balanced_sample(labels, 2, seed=1)
    assert np.bincount(labels[idx]).tolist() == [2, 2, 2]
    assert np.array_equal(idx, balanced_sample(labels, 2, seed=1))
    blended = overlay(np.zeros((4, 4, 3), np.uint8), np.ones((4, 4)), alpha=1.0)
    assert blended.dtype == np.uint8 and blended[0, 0].tolist() == [127, 0, 0]  # jet at 1.0 is dark red


def test_random_maps_on_a_coarse_grid_are_smooth_like_a_cam():
    maps = random_maps((3, 32, 32), seed=0, grid=(2, 2))
    assert maps.shape == (3, 32, 32) and maps.min() >= 0 and maps.max() <= 1
    # Neighbouring pixels differ far less than independent noise would.
    assert np.abs(np.diff(maps, axis=2)).mean() < 0.05
    fine = random_maps((3, 32, 32), seed=0)
    assert np.abs(np.diff(fine, axis=2)).mean() > 0.2
    assert np.array_equal(maps, random_maps((3, 32, 32), seed=0, grid=(2, 2)))


def test_matched_mass_gives_a_baseline_the_heatmaps_mean_and_keeps_its_order():
    rng = np.random.default_rng(0)
    cam = np.zeros((3, 8, 8), np.float32)
    cam[:, 2:4, 2:4] = 1.0  # a peaked map: mean 4/64
    baseline = rng.random((3, 8, 8)).astype(np.float32)
    matched = matched_mass(baseline, cam)
    np.testing.assert_allclose(matched.mean(axis=(1, 2)), cam.mean(axis=(1, 2)), rtol=1e-5)
    assert (np.argsort(matched.reshape(3, -1), axis=1) == np.argsort(baseline.reshape(3, -1), axis=1)).all()


def test_edge_maps_peak_on_the_edges_of_a_square():
    image = np.zeros((1, 16, 16, 3), np.float32)
    image[0, 4:12, 4:12] = 255.0
    edges = edge_maps(image)[0]
    assert edges.max() == pytest.approx(1.0) and edges.min() == 0.0
    assert edges[8, 8] == 0.0 and edges[0, 0] == 0.0  # flat inside and outside
    assert edges[4, 8] > 0.5 and edges[8, 11] > 0.5   # on the square's border


def test_faithfulness_keeps_per_image_scores_and_uses_mass_maps_for_drop_only(bright_images):
    classes = np.zeros(len(bright_images), dtype=int)
    cams = np.zeros(bright_images.shape[:3], np.float32)
    cams[:, 8:16, 8:16] = 1.0

    def predict(x):
        bright = x[:, 8:16, 8:16].mean(axis=(1, 2, 3)) / 255.0
        return np.stack([bright, 1 - bright], axis=1)

    plain = faithfulness(predict, bright_images, cams, classes, steps=8)
    halved = faithfulness(predict, bright_images, cams, classes, steps=8, mass_maps=cams * 0.5)
    assert plain["per_image"]["deletion_auc"].shape == (len(bright_images),)
    assert plain["deletion_auc"] == pytest.approx(plain["per_image"]["deletion_auc"].mean())
    assert halved["deletion_auc"] == plain["deletion_auc"]  # the order of the map decides deletion
    assert halved["average_drop"] > plain["average_drop"]   # its mass decides Average Drop
    assert halved["road"] == plain["road"] and plain["per_image"]["road"].shape == (len(bright_images),)


def test_road_prefers_the_map_of_the_deciding_patch(bright_images):
    model = patch_model()
    predict = lambda x: model.predict_on_batch(x)  # noqa: E731
    classes = np.ones(len(bright_images), int)
    patch = np.zeros(bright_images.shape[:3], np.float32)
    patch[:, PATCH[0], PATCH[1]] = 1.0
    real = faithfulness(predict, bright_images, patch, classes, steps=4)
    wrong = faithfulness(predict, bright_images, 1.0 - patch, classes, steps=4)
    assert real["road_morf"] < wrong["road_morf"] and real["road_lerf"] > wrong["road_lerf"]
    assert real["road"] > wrong["road"] + 0.2


def test_upsample_fuse_and_blocks():
    coarse = np.array([[[0.0, 1.0], [1.0, 0.0]]], np.float32)
    up = upsample(coarse, (8, 8))
    assert up.shape == (1, 8, 8) and up.min() == 0.0 and up.max() == pytest.approx(1.0)
    assert up[0, 0, 7] > 0.9 and up[0, 0, 0] < 0.1
    fused = fuse([coarse, np.ones((1, 4, 4), np.float32)], (8, 8))
    np.testing.assert_allclose(fused, up, atol=1e-6)  # a flat map adds nothing after rescaling
    drawn = blocks(coarse[0], (8, 8))
    assert drawn.shape == (8, 8) and (drawn[:4, 4:] == 1.0).all() and (drawn[:4, :4] == 0.0).all()
