"""Where every stage reads and writes, relative to the project root (the paths dvc.yaml declares)."""
from __future__ import annotations

from pathlib import Path

RAW_DIR = Path("data/raw")
PREPARED_DIR = Path("data/prepared")
PREDICTIONS_DIR = Path("data/predictions")
MODEL_DIR = Path("models")
CHECKPOINT_DIR = Path("checkpoints")
TRAIN_METRICS_DIR = Path("metrics/train")
TEST_METRICS_DIR = Path("metrics/test")
CAM_METRICS_DIR = Path("metrics/cam")
COMPARE_METRICS_DIR = Path("metrics/compare")
REPORT = Path("metrics/comparison.md")
TRAIN_PLOTS_DIR = Path("plots/train")
CONFUSION_DIR = Path("plots/confusion")
PER_CLASS_DIR = Path("plots/per_class")


def train_curve(variant: str, split: str, metric: str) -> Path:
    """The dvclive TSV of one training curve: split is "train", "eval" or "time"."""
    return TRAIN_PLOTS_DIR / variant / "plots" / "metrics" / split / f"{metric}.tsv"
