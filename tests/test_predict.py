"""predict CLI: top-3 per image, an overlay at the original size, and a clean error for a bad file."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from src.models.io import save_model
from src.models.resnet import build_variant
from tests.conftest import ROOT, tiny_params

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def test_predict_images_and_corrupt_file(tmp_path):
    models = tmp_path / "models"
    (models / "smoke" / "cbam").mkdir(parents=True)
    save_model(build_variant("cbam", tiny_params()["model"]), models / "smoke" / "cbam" / "seed1.keras")
    big = tmp_path / "big photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 140, 3), dtype=np.uint8)).save(big)
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(small)
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"

    proc = subprocess.run([sys.executable, "-m", "src.stages.predict", str(big), str(corrupt), str(small),
                           "--variant", "cbam", "--seed", "1", "--regime", "smoke", "--models", str(models),
                           "--out", str(out)],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 1
    assert f"error: {corrupt}: not a readable image" in proc.stderr and "Traceback" not in proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith(str(big))
    probs = [float(part.split()[-1]) for part in lines[0].split(":", 1)[1].split("->")[0].split(",")]
    assert len(probs) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    overlay = Image.open(out / "big photo_cbam_gradcam.png")
    assert overlay.size == (140, 90)
    assert (out / "small_cbam_gradcam.png").is_file()


@pytest.mark.slow  # two fresh Pythons importing TensorFlow
def test_predict_all_bad_or_missing_model(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "src.stages.predict", str(tmp_path / "missing.png"),
                           "--models", str(tmp_path)], cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 2 and "missing.png: no such file" in proc.stderr
    img = tmp_path / "ok.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    proc = subprocess.run([sys.executable, "-m", "src.stages.predict", str(img), "--models", str(tmp_path)],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 2 and "--regime: no params.yaml here to take the first regime from" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "src.stages.predict", str(img), "--models", str(tmp_path),
                           "--regime", "short"], cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 2 and "short/cbam/seed0.keras: no trained model" in proc.stderr


def test_two_inputs_that_would_write_one_overlay_are_refused_before_any_work(tmp_path):
    for folder, suffix in (("x", "png"), ("y", "jpg")):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / folder / f"a.{suffix}")
    proc = subprocess.run([sys.executable, "-m", "src.stages.predict", "x/a.png", "y/a.jpg", "--models", str(tmp_path),
                           "--out", "out"], cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "x/a.png and y/a.jpg -> out/a_cbam_gradcam.png" in proc.stderr
    assert not (tmp_path / "out").exists()


# A fresh Python importing TensorFlow per case: one bound stays in the quick tier.
@pytest.mark.parametrize("top", ["0", *(pytest.param(top, marks=pytest.mark.slow) for top in ("-2", "11", "three"))])
def test_top_must_be_a_class_count(tmp_path, top):
    proc = subprocess.run([sys.executable, "-m", "src.stages.predict", "a.png", "--top", top], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "--top" in proc.stderr and "from 1 to 10" in proc.stderr


def test_prediction_overlays_are_not_committed():
    assert "/predictions/" in (ROOT / ".gitignore").read_text().split()
