"""Read access to the evaluate stage's predictions, for heatmaps, gradcam and compare."""
from __future__ import annotations

import numpy as np

from src.core.artefacts import ArraySpec, damaged, read_npz
from src.data.readers import CLASSES
from src.paths import Run

PREDICTION_ARRAYS = {"probs": ArraySpec(np.floating, (None, len(CLASSES))), "labels": ArraySpec(np.integer, (None,))}


def load_predictions(run: Run, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, K), true labels (N,)) of ``run`` on the test set; DataError if missing or malformed.

    With ``labels`` (the test set's, or another run's), the predictions must be of those images.
    """
    rebuild = f"dvc repro evaluate@{run.name}"
    arrays = read_npz(run.predictions, "predictions file", rebuild, PREDICTION_ARRAYS)
    probs, found = arrays["probs"], arrays["labels"]
    if len(probs) != len(found) or not len(found):
        raise damaged(run.predictions, f"holds {len(probs)} predictions and {len(found)} labels", rebuild)
    if not 0 <= found.min() <= found.max() < len(CLASSES) or probs.min() < 0 or probs.max() > 1.001:
        raise damaged(run.predictions, f"has labels from {found.min()} to {found.max()} or probabilities outside "
                                       f"[0, 1], expected {len(CLASSES)} classes", rebuild)
    if labels is not None and not np.array_equal(found, labels):
        raise damaged(run.predictions, f"holds predictions of {len(found)} images that are not the "
                                       f"{len(labels)} expected test images", rebuild)
    return probs, found.astype(np.int64, copy=False)
