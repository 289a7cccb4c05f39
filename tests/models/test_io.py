"""Loading trained variants: every custom layer, missing/damaged files, the float32 view of a bfloat16 model."""
from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest

from pipeline.errors import DataError
from src.models.io import float32_model, load_variant, model_path
from src.models.patchgrad import PatchGradConv2D
from src.models.pointwise import PointwiseConv2D
from src.models.resnet import build_resnet
from tests.conftest import ROOT


@pytest.mark.parametrize("layer", [PointwiseConv2D(4, 1, strides=2, name="custom"),
                                   PatchGradConv2D(4, 3, strides=2, padding="same", name="custom")],
                         ids=["pointwise", "patchgrad"])
def test_custom_convs_save_and_load_as_themselves(tmp_path, layer):
    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("custom")) is type(layer)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_a_fresh_process_loads_every_layer_of_the_study_through_io_alone(tmp_path):
    # The cpu profile's shape uses every custom layer (pointwise and patch-gradient
    # convs, fused batch norm, CBAM). Loading must need no import but src.models.io.
    model = build_resnet(blocks=(1, 1, 1, 1), strides=(2, 2, 2, 2), width=4, attention="cbam")
    assert {PointwiseConv2D, PatchGradConv2D} <= {type(layer) for layer in model.layers}
    model.save(model_path("cbam", tmp_path))
    code = (f"from src.models.io import load_variant; "
            f"print(load_variant('cbam', {str(tmp_path)!r}).count_params())")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) == model.count_params()


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
