"""Images of any size for the model and heatmaps drawn back on them.

Images come as users have them: turned by their EXIF orientation, and with more than 8 bits
(16-bit grayscale PNG, 32-bit integer or float TIFF) stretched from their own range to 0-255,
where a plain ``convert("RGB")`` clips them to white or black; palette and alpha images are
converted as Pillow does (alpha dropped).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from src.core.errors import DataError
from src.explain.cam import overlay

MODEL_SIZE = (32, 32)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
HIGH_DEPTH_MODES = ("I", "F", "I;16", "I;16L", "I;16B", "I;16N")  # one channel, more than 8 bits


def to_rgb8(image: Image.Image) -> Image.Image:
    """``image`` as 8-bit RGB; a high-depth one scaled linearly from its darkest to its brightest pixel."""
    if image.mode not in HIGH_DEPTH_MODES:
        return image.convert("RGB")
    values = np.asarray(image, np.float64)
    finite = values[np.isfinite(values)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
    scaled = (np.nan_to_num(values, nan=low, posinf=high, neginf=low) - low) / (high - low) * 255 if high > low \
        else np.zeros_like(values)  # a flat image has no range to stretch: black, whatever its level
    return Image.fromarray(np.round(scaled).astype(np.uint8)).convert("RGB")


def load_image(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(original RGB uint8 array, 32x32 RGB uint8 array for the model); DataError naming ``path`` otherwise."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            rgb = to_rgb8(ImageOps.exif_transpose(img))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(f"{path}: not a readable image ({exc})") from None
    small = rgb.resize(MODEL_SIZE, Image.BICUBIC, reducing_gap=3.0)
    return np.asarray(rgb, np.uint8), np.asarray(small, np.uint8)


def overlay_on_original(original: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Upsample a model-resolution heatmap to ``original``'s size and blend it on."""
    height, width = original.shape[:2]
    big = Image.fromarray((np.clip(cam, 0, 1) * 255).astype(np.uint8)).resize((width, height), Image.BILINEAR)
    return overlay(original, np.asarray(big, np.float32) / 255.0, alpha)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted; DataError if it is not a directory."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a directory of images")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
