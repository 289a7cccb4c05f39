"""Saving and loading trained variants: reference layers only, missing/damaged files, the float32 view."""
from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest

from src.core.errors import DataError
from src.models.io import float32_model, load_run_model, save_model, to_reference
from src.paths import Run
from src.models.resnet import build_resnet
from tests.conftest import ROOT


FAST_MODULES = "[m for m in sys.modules if m.startswith('src.models.fast')]"


# Each case loads the model in a fresh Python (seconds of TensorFlow import): CBAM, which has every fast layer,
# stays in the quick tier.
@pytest.mark.parametrize("attention", [pytest.param(None, marks=pytest.mark.slow), pytest.param("se", marks=pytest.mark.slow),
                                       "cbam"])
def test_a_fast_model_saves_as_reference_layers_and_loads_without_the_fast_modules(tmp_path, attention):
    # The cpu profile's shape uses every fast layer: pointwise and patch-gradient convs, fused BN, fused attention.
    model = build_resnet(blocks=(1, 1, 1, 1), strides=(2, 2, 2, 2), width=4, attention=attention,
                         implementation="fast")
    save_model(model, tmp_path / "m.keras")
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", model.predict(x, verbose=0))
    # Original needs Keras alone; SE/CBAM need the attention layers' module, never src.models.fast.
    setup = "" if attention is None else "import src.models.attention; "
    code = (f"import sys, keras, numpy as np; {setup}"
            f"m = keras.models.load_model({str(tmp_path / 'm.keras')!r}); "
            f"got = m.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0); "
            f"np.testing.assert_allclose(got, np.load({str(tmp_path / 'expected.npy')!r}), rtol=1e-5, atol=1e-6); "
            f"print(sorted({{type(l).__name__ for l in m.layers}}), {FAST_MODULES})")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("[]"), result.stdout  # no fast module was imported
    for fast_name in ("Fused", "Pointwise", "PatchGrad", "Fast"):
        assert fast_name not in result.stdout


def test_to_reference_keeps_weights_and_function():
    model = build_resnet(blocks=(1, 1), strides=(2, 2), width=4, attention="cbam", implementation="fast")
    reference = to_reference(model)
    assert all(type(layer).__module__.startswith(("keras", "src.models.attention")) for layer in reference.layers)
    for got, want in zip(reference.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)
    x = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(reference(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_missing_and_damaged_models(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no params.yaml: the error names the run's stage
    with pytest.raises(DataError, match=r"se/seed3.keras: no trained model; run `dvc repro train@smoke-se-3`"):
        load_run_model(Run("se", 3, "smoke"), tmp_path)
    Run("se", 3, "smoke").model(tmp_path).parent.mkdir(parents=True)
    Run("se", 3, "smoke").model(tmp_path).write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot load model"):
        load_run_model(Run("se", 3, "smoke"), tmp_path)


def test_load_run_model_in_float32(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_resnet(blocks=(1,), width=4, strides=(2,), attention="cbam")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    run = Run("cbam", 0, "smoke")
    run.model(tmp_path).parent.mkdir(parents=True)
    model.save(run.model(tmp_path))
    assert "mixed_bfloat16" in {layer.dtype_policy.name for layer in load_run_model(run, tmp_path).layers}
    loaded = load_run_model(run, tmp_path, float32=True)
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    images = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=0.02)


def test_float32_model_of_a_bfloat16_trained_model():
    # Fixed weights: with random ones the bfloat16 forward pass strays past the tolerance now and then.
    keras.utils.set_random_seed(0)
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


def test_the_same_model_saved_twice_has_the_same_bytes(tmp_path):
    import json
    import time
    import zipfile

    model = build_resnet(blocks=(1, 1), strides=(1, 2), width=4, attention="se")
    save_model(model, tmp_path / "a.keras")
    time.sleep(1.1)  # zip times and Keras' date_saved have a resolution of a second (two, for zip)
    save_model(model, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.keras") as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert json.loads(archive.read("metadata.json"))["date_saved"] == "1980-01-01@00:00:00"
