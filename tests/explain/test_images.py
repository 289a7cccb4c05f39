"""Images as users have them: high-depth images stretched by their range, EXIF orientation applied, palette and
alpha as Pillow converts them; and predict's hint for a model that no stage trains."""
from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from src.explain.images import load_image
from tests.conftest import run_stage, tiny_params, with_study

GRADIENT = np.tile(np.arange(40), (30, 1))  # 30 rows, 40 columns, increasing to the right


@pytest.mark.parametrize("mode, values, fmt", [
    ("I;16", 20000 + 500 * GRADIENT, "PNG"),  # a 16-bit grayscale PNG, far above 255 everywhere
    ("I", 10**6 + 10**4 * GRADIENT, "TIFF"),  # 32-bit integer TIFF
    ("F", GRADIENT / 400.0, "TIFF"),  # float TIFF in [0, 0.1]: below 1 everywhere
])
def test_high_depth_images_are_stretched_by_their_range(tmp_path, mode, values, fmt):
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    path = tmp_path / f"deep.{fmt.lower()}"
    Image.fromarray(values.astype(dtype)).save(path, format=fmt)
    assert Image.open(path).mode == mode
    original, small = load_image(path)
    assert original.shape == (30, 40, 3) and small.shape == (32, 32, 3)
    row = original[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255 and np.all(np.diff(row) > 0)  # the whole range, in order
    assert np.array_equal(original[..., 0], original[..., 2])  # gray


def test_a_flat_or_nan_high_depth_image_still_loads(tmp_path):
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(flat)
    assert load_image(flat)[0].max() == 0
    holes = tmp_path / "holes.tiff"
    values = GRADIENT.astype(np.float32)
    values[0, :5] = np.nan
    Image.fromarray(values).save(holes)
    original = load_image(holes)[0]
    assert original.max() == 255 and original[0, 0, 0] == 0


def test_exif_orientation_is_applied(tmp_path):
    image = np.zeros((10, 20, 3), np.uint8)  # 10 rows, 20 columns, the left column red
    image[:, 0] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.jpg"
    Image.fromarray(image).save(path, exif=exif, quality=100)
    original, _ = load_image(path)
    assert original.shape == (20, 10, 3)
    # Turned clockwise, the red left column is the top row (JPEG blurs red a little).
    assert original[0, :, 0].min() > 120 and original[-1, :, 0].max() < 30


@pytest.mark.parametrize("mode", ["P", "RGBA", "LA", "L"])
def test_palette_and_alpha_images_convert_as_before(tmp_path, mode):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 16, 3), dtype=np.uint8))
    image = rgb.convert(mode)
    path = tmp_path / "odd.png"
    image.save(path)
    original, _ = load_image(path)
    np.testing.assert_array_equal(original, np.asarray(Image.open(path).convert("RGB")))


def test_predict_names_a_stage_that_exists_or_how_to_add_the_seed(tmp_path, monkeypatch):
    from src.stages import predict

    monkeypatch.chdir(tmp_path)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save("ok.png")
    params = with_study(tiny_params(), variants=["original", "se"], seeds=[0, 1])
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    code, stderr = run_stage(predict.main, ["ok.png", "--variant", "se", "--seed", "7"])
    assert code == 2 and "Traceback" not in stderr
    assert "models/smoke/se/seed7.keras: no trained model (seed 7 is not in study.seeds.smoke of params.yaml); run " \
           "`python -m src.config.study --seeds smoke=0,1,7 && dvc repro`" in stderr
    assert "train@smoke-se-7" not in stderr
    code, stderr = run_stage(predict.main, ["ok.png", "--variant", "cbam", "--seed", "1"])
    assert "(variant cbam is not in study.variants of params.yaml); run `python -m src.config.study --variants " \
           "original se cbam && dvc repro`" in stderr
    code, stderr = run_stage(predict.main, ["ok.png", "--variant", "se", "--seed", "1", "--regime", "long"])
    assert code == 2 and "params.yaml: regime 'long' is not in study.regimes (smoke)" in stderr
    code, stderr = run_stage(predict.main, ["ok.png", "--variant", "se", "--seed", "1"])
    assert "models/smoke/se/seed1.keras: no trained model; run `dvc repro train@smoke-se-1`" in stderr
