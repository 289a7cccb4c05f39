"""Read access to the evaluate stage's predictions, for gradcam and compare."""
from __future__ import annotations

import numpy as np

from pipeline.errors import DataError
from src.paths import PREDICTIONS_DIR


def load_predictions(variant: str) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, K), true labels (N,)) of ``variant`` on the test set."""
    path = PREDICTIONS_DIR / f"{variant}.npz"
    try:
        with np.load(path) as data:
            return data["probs"], data["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: cannot read predictions ({exc}); run `dvc repro evaluate@{variant}`") from None
