"""Read access to the evaluate stage's predictions, for gradcam and compare."""
from __future__ import annotations

import numpy as np

from pipeline.errors import DataError
from src.paths import Run


def load_predictions(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities (N, K), true labels (N,)) of ``run`` on the test set."""
    try:
        with np.load(run.predictions) as data:
            return data["probs"], data["labels"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{run.predictions}: cannot read predictions ({exc}); "
                        f"run `dvc repro evaluate@{run.name}`") from None
