"""What compare reads of each run besides its predictions and heatmaps: training and test metrics, training curves.

Each reader checks the fields the report uses, so a damaged file stops compare with one line naming it
and the stage that rebuilds it (src/core/artefacts.py), before anything is written.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from src.core.artefacts import Each, Maybe, damaged, read_json, unreadable
from src.data.readers import CLASSES
from src.paths import Run

TRAIN_METRICS_SCHEMA = {
    "params": int, "mflops_per_image": float, "epochs": int, "best_val_accuracy": float, "train_img_per_s": float,
    "precision": str, "resumed_from_epoch": Maybe(int), "environment": Maybe({"cpu": Maybe(str)}),
}
TEST_METRICS_SCHEMA = {"accuracy": float, "loss": float, "per_class_accuracy": Each(float),
                       "inference_img_per_s": Maybe(float)}


def read_train_metrics(run: Run) -> dict:
    """metrics/train of ``run`` (src/training/fit.py writes it)."""
    return read_json(run.train_metrics, "training metrics file", f"dvc repro train@{run.name}", TRAIN_METRICS_SCHEMA)


def read_test_metrics(run: Run) -> dict:
    """metrics/test of ``run`` (the evaluate stage writes it), with one accuracy per class."""
    rebuild = f"dvc repro evaluate@{run.name}"
    metrics = read_json(run.test_metrics, "test metrics file", rebuild, TEST_METRICS_SCHEMA)
    if len(metrics["per_class_accuracy"]) != len(CLASSES):
        raise damaged(run.test_metrics, f"per_class_accuracy has {len(metrics['per_class_accuracy'])} classes, "
                                        f"expected {len(CLASSES)}", rebuild)
    return metrics


def read_curve(run: Run, split: str, metric: str) -> pd.DataFrame:
    """One dvclive training curve of a run: columns ``step`` (whole numbers) and the metric, one row per epoch."""
    path, rebuild = run.curve(split, metric), f"dvc repro train@{run.name}"
    try:
        curve = pd.read_csv(path, sep="\t")
    except Exception as exc:  # pandas raises OSError, ValueError, UnicodeDecodeError, its own parser errors
        raise unreadable(path, exc, "training curve", rebuild) from None
    if not {"step", metric} <= set(curve.columns) or curve.empty:
        raise damaged(path, f"has columns {list(curve.columns)[:4]} and {len(curve)} rows, expected columns step and "
                            f"{metric} and a row per epoch", rebuild)
    curve = curve[["step", metric]]
    values = curve.apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any() or not np.all(np.isfinite(values[metric])) or (values["step"] % 1).any():
        raise damaged(path, f"has a row that is not a whole step number and a finite {metric}", rebuild)
    if split == "time" and not (values[metric] > 0).all():  # the report divides by an epoch's seconds
        raise damaged(path, f"has an epoch of {values[metric].min()} s; every epoch takes more than 0 s", rebuild)
    return values.astype({"step": np.int64})
