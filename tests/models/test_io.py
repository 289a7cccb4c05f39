"""Loading trained variants: missing/damaged files, and the float32 view of a bfloat16-trained model."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from pipeline.errors import DataError
from src.models.io import float32_model, load_variant, model_path
from src.models.resnet import build_resnet


def test_missing_and_damaged_models(tmp_path):
    with pytest.raises(DataError, match="no trained model; run `dvc repro train_se`"):
        load_variant("se", tmp_path)
    model_path("se", tmp_path).write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot load model"):
        load_variant("se", tmp_path)


def test_load_variant_in_float32(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_resnet(blocks=(1,), width=4, strides=(2,), attention="cbam")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.save(model_path("cbam", tmp_path))
    assert "mixed_bfloat16" in {layer.dtype_policy.name for layer in load_variant("cbam", tmp_path).layers}
    loaded = load_variant("cbam", tmp_path, float32=True)
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=0.02)


def test_float32_model_of_a_bfloat16_trained_model():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_resnet(blocks=(1,), width=4, strides=(2,))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    converted = float32_model(model)
    assert {layer.dtype_policy.name for layer in converted.layers} == {"float32"}
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(converted.predict(images, verbose=0), model.predict(images, verbose=0), atol=0.02)
    assert converted.predict(images, verbose=0).dtype == np.float32
    assert float32_model(converted) is converted
