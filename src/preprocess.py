"""Stage preprocess: decode data/raw/ into arrays with a held-out validation split.

- validation: ``data.val_fraction`` of every class's training images, seeded, so the
  test set is never used for a training decision;
- subsets: ``data.train_per_class`` / ``data.test_per_class`` (0 = all); the
  validation split shrinks in proportion so it stays val_fraction of the data used;
- normalisation: per-channel mean/std of the training split only.

Writes data/prepared/{train,val,test}.npz (x uint8 NHWC, y int64) and stats.json.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from pipeline.atomic import atomic_path, write_json
from pipeline.errors import DataError, ParamsError, stage_main
from pipeline.params import load_params
from src.data.readers import CLASSES, read_any

PREPARED_DIR = "data/prepared"


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


def load_stats(prepared_dir: str | Path) -> dict:
    path = Path(prepared_dir) / "stats.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read normalisation stats ({exc}); run `dvc repro preprocess`") from None


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", default="data/raw")
    parser.add_argument("--out", default=PREPARED_DIR)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    data_params, seed = params["data"], params["seed"]

    record_path = Path(args.raw) / "source.json"
    if not record_path.is_file():
        raise DataError(f"{record_path}: missing; run `dvc repro download` first")
    record = json.loads(record_path.read_text())
    arrays = read_any(Path(args.raw) / record["file"])

    x_full, y_full = arrays["train"]
    train_idx, val_idx = stratified_split(y_full, data_params["val_fraction"], data_params["train_per_class"], seed)
    test_idx = class_subset(arrays["test"][1], data_params["test_per_class"], seed)
    splits = {
        "train": (x_full[train_idx], y_full[train_idx]),
        "val": (x_full[val_idx], y_full[val_idx]),
        "test": (arrays["test"][0][test_idx], arrays["test"][1][test_idx]),
    }
    with atomic_path(args.out, is_dir=True) as tmp:
        for name, (x, y) in splits.items():
            np.savez(tmp / f"{name}.npz", x=x, y=y)
        write_json(tmp / "stats.json", {
            **channel_stats(splits["train"][0]),
            "classes": list(CLASSES),
            "sizes": {name: int(len(y)) for name, (_, y) in splits.items()},
            "source": {k: record.get(k) for k in ("kind", "location", "format", "sha256")},
        })
    sizes = ", ".join(f"{name} {len(y):,}" for name, (_, y) in splits.items())
    print(f"preprocess: {sizes} -> {args.out}")


if __name__ == "__main__":
    main()
