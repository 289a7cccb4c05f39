"""Shared read access to the evaluate stage's predictions, and the variants' display names."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.errors import DataError

PREDICTIONS_DIR = Path("data/predictions")
VARIANT_TITLES = {"original": "Original", "se": "SE", "cbam": "CBAM"}


def load_predictions(variant: str) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, K), true labels (N,)) of ``variant`` on the test set."""
    path = PREDICTIONS_DIR / f"{variant}.npz"
    try:
        with np.load(path) as data:
            return data["probs"], data["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: cannot read predictions ({exc}); run `dvc repro evaluate`") from None
