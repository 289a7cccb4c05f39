"""Reading the attention out of trained models: CBAM masks per stage, SE excitations per class."""
from __future__ import annotations

import numpy as np
import pytest

from src.explain.attention_maps import cbam_spatial_masks, class_specificity, se_excitations_by_class
from src.models.resnet import build_resnet


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 255, (6, 32, 32, 3)).astype(np.float32)


def test_cbam_masks_one_per_stage_at_input_size(images):
    model = build_resnet(blocks=[2, 1], strides=[1, 2], width=4, attention="cbam")
    masks = cbam_spatial_masks(model, images)
    assert list(masks) == ["stage1_block2_cbam", "stage2_block1_cbam"]
    for mask in masks.values():
        assert mask.shape == (6, 32, 32) and (mask >= 0).all() and (mask <= 1).all()
    with pytest.raises(ValueError, match="no CBAM"):
        cbam_spatial_masks(build_resnet(blocks=[1], strides=[1], width=4), images)


def test_se_excitations_per_class(images):
    model = build_resnet(blocks=[1, 1], strides=[1, 2], width=4, attention="se")
    labels = np.array([0, 0, 1, 1, 2, 2])
    table = se_excitations_by_class(model, images, labels, num_classes=3)
    assert [v.shape for v in table.values()] == [(3, 16), (3, 32)]
    assert class_specificity(np.ones((3, 5))) == 0.0
    assert class_specificity(np.array([[0.0, 0.0], [1.0, 1.0]])) == pytest.approx(0.5)
