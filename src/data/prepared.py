"""The prepared data set: how it is split, and reading it back.

``preprocess`` writes data/prepared/{train,val,test}.npz (x uint8 NHWC, y int64) and
stats.json (per-channel mean/std of the training split, classes, sizes, source);
training, evaluation and explanation read them through ``load_split`` / ``load_stats``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.errors import DataError, ParamsError
from src.data.readers import CLASSES
from src.paths import PREPARED_DIR


def stratified_split(
    y: np.ndarray, val_fraction: float, train_per_class: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): per class, a seeded shuffle, the first share held out for validation."""
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in range(len(CLASSES)):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_val = max(1, round(len(idx) * val_fraction))
        available = len(idx) - n_val
        if train_per_class > available:
            raise ParamsError(
                f"data.train_per_class = {train_per_class} is invalid; class {CLASSES[label]!r} has only "
                f"{available} training images after the validation hold-out"
            )
        n_train = train_per_class or available
        if train_per_class:
            n_val = max(1, round(n_train * val_fraction / (1 - val_fraction)))
        val_idx.append(idx[:n_val])
        train_idx.append(idx[n_val:n_val + n_train])
    # Sorted so the stored order does not depend on class interleaving; training shuffles anyway.
    return np.sort(np.concatenate(train_idx)), np.sort(np.concatenate(val_idx))


def class_subset(y: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Seeded, class-balanced subset of indices (all of them when per_class is 0)."""
    if per_class == 0:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    picked = []
    for label in range(len(CLASSES)):
        idx = np.flatnonzero(y == label)
        if per_class > len(idx):
            raise ParamsError(f"data.test_per_class = {per_class} is invalid; class {CLASSES[label]!r} "
                              f"has only {len(idx)} test images")
        picked.append(rng.choice(idx, per_class, replace=False))
    return np.sort(np.concatenate(picked))


def channel_stats(x: np.ndarray) -> dict[str, list[float]]:
    """Per-channel mean and std of uint8 images, on the [0, 1] scale."""
    scaled = x.reshape(-1, x.shape[-1]).astype(np.float64) / 255.0
    return {"mean": scaled.mean(axis=0).round(6).tolist(), "std": scaled.std(axis=0).round(6).tolist()}


def load_split(prepared_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one prepared split; DataError if it is missing or malformed."""
    path = Path(prepared_dir) / f"{split}.npz"
    try:
        with np.load(path) as data:
            x, y = data["x"], data["y"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: cannot read prepared split ({exc}); run `dvc repro preprocess`") from None
    return x, y


def load_stats(prepared_dir: str | Path = PREPARED_DIR) -> dict:
    """Normalisation stats, classes, split sizes and data source; DataError if missing."""
    path = Path(prepared_dir) / "stats.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read normalisation stats ({exc}); run `dvc repro preprocess`") from None
