"""The prepared data set: how it is split, and reading it back.

``preprocess`` writes data/prepared/{train,val,test}.npz (x uint8 NHWC, y int64) and
stats.json (per-channel mean/std of the training split, classes, sizes, source);
training, evaluation and explanation read them through ``load_split`` / ``load_stats``.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from src.core.artefacts import ArraySpec, ListOf, damaged, read_json, read_npz
from src.core.errors import ParamsError
from src.data.readers import CLASSES, IMAGE_SHAPE
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


PREPARE = "dvc repro preprocess"
STATS_SCHEMA = {
    "mean": ListOf(float, IMAGE_SHAPE[-1]), "std": ListOf(float, IMAGE_SHAPE[-1]), "classes": ListOf(str),
    "sizes": {"train": int, "val": int, "test": int}, "source": {"kind": str, "format": str},
}
SPLIT_ARRAYS = {"x": ArraySpec(np.uint8, (None, *IMAGE_SHAPE)), "y": ArraySpec(np.integer, (None,))}


def load_split(prepared_dir: str | Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One prepared split (x uint8 NHWC, y labels), checked against its stats; DataError if missing or malformed."""
    stats = load_stats(prepared_dir)
    path = Path(prepared_dir) / f"{split}.npz"
    arrays = read_npz(path, "prepared split", PREPARE, SPLIT_ARRAYS)
    x, y = arrays["x"], arrays["y"]
    if len(x) != len(y) or len(y) != stats["sizes"][split]:
        raise damaged(path, f"holds {len(x)} images and {len(y)} labels, stats.json says {stats['sizes'][split]}",
                      PREPARE)
    if not 0 <= y.min() <= y.max() < len(stats["classes"]):
        raise damaged(path, f"has labels from {y.min()} to {y.max()}, expected 0 to {len(stats['classes']) - 1}",
                      PREPARE)
    return x, y.astype(np.int64, copy=False)  # any integer type holds the labels; the pipelines expect int64


def load_stats(prepared_dir: str | Path = PREPARED_DIR) -> dict:
    """Normalisation stats, classes, split sizes and data source; DataError if missing or malformed."""
    path = Path(prepared_dir) / "stats.json"
    stats = read_json(path, "normalisation stats file", PREPARE, STATS_SCHEMA)
    if stats["classes"] != list(CLASSES):
        raise damaged(path, f"lists {len(stats['classes'])} classes, expected the {len(CLASSES)} CIFAR-10 classes in "
                            "order", PREPARE)
    if not all(math.isfinite(s) and s > 0 for s in stats["std"]) or not all(map(math.isfinite, stats["mean"])):
        raise damaged(path, f"has mean {stats['mean']} and std {stats['std']}, expected finite values and a "
                            "positive std", PREPARE)
    if min(stats["sizes"].values()) < 1:
        raise damaged(path, f"has split sizes {stats['sizes']}, expected at least one image each", PREPARE)
    return stats
