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
from pathlib import Path

from src.core.atomic import atomic_path, save_npz, write_json
from src.core.errors import stage_main
from src.config.params import load_params
from src.data.prepared import channel_stats, class_subset, stratified_split
from src.data.readers import CLASSES, read_any
from src.data.sources import load_record
from src.paths import PREPARED_DIR, RAW_DIR


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", default=str(RAW_DIR))
    parser.add_argument("--out", default=str(PREPARED_DIR))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    data_params, seed = params["data"], params["seed"]

    record = load_record(args.raw)
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
            save_npz(tmp / f"{name}.npz", x=x, y=y)
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
