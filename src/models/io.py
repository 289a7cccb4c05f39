"""Load saved variant models; importing this registers the custom layers and schedule."""
from __future__ import annotations

from pathlib import Path

import keras

from pipeline.errors import DataError
from src.models import attention, batchnorm, schedules  # noqa: F401  (registers serializable classes)

MODEL_DIR = Path("models")


def model_path(variant: str, model_dir: str | Path = MODEL_DIR) -> Path:
    return Path(model_dir) / f"{variant}.keras"


def load_variant(variant: str, model_dir: str | Path = MODEL_DIR) -> keras.Model:
    """The trained model of ``variant``, ready for inference; DataError if missing or unreadable."""
    path = model_path(variant, model_dir)
    if not path.is_file():
        raise DataError(f"{path}: no trained model; run `dvc repro train_{variant}`")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a damaged zip/config
        raise DataError(f"{path}: cannot load model ({type(exc).__name__}: {exc})") from None
