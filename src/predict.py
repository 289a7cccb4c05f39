"""Classify your own images with a trained variant and draw its Grad-CAM on each.

    python -m src.predict photo.jpg other.png --variant cbam [--method gradcam++] [--out predictions/]

Images of any size are resized to 32x32 for the model; the heatmap (for the top
class) is drawn on the original image and saved as <out>/<name>_<variant>_<method>.png.
A file that cannot be read is reported by name and skipped; the exit code is 1
if any file failed, 0 otherwise.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.errors import DataError, stage_main
from pipeline.params import CAM_METHODS, VARIANTS
from src.data.readers import CLASSES
from src.explain.cam import CamExplainer
from src.explain.images import load_image, overlay_on_original
from src.models.io import MODEL_DIR, load_variant


@stage_main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", help="image files (png, jpg, ...), any size")
    parser.add_argument("--variant", default="cbam", choices=VARIANTS)
    parser.add_argument("--method", default="gradcam", choices=CAM_METHODS)
    parser.add_argument("--models", default=str(MODEL_DIR), help="folder with <variant>.keras")
    parser.add_argument("--out", default="predictions", help="folder for the heatmap overlays")
    parser.add_argument("--top", type=int, default=3)
    args = parser.parse_args(argv)

    loaded, failed = [], []
    for name in args.images:
        try:
            loaded.append((Path(name), *load_image(name)))
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append(name)
    if not loaded:
        raise DataError("no readable image among: " + ", ".join(args.images))

    model = load_variant(args.variant, args.models)
    small = np.stack([item[2] for item in loaded]).astype(np.float32)
    probs = model.predict(small, verbose=0)
    top_class = probs.argmax(axis=1)
    cams = CamExplainer(model, args.method)(small, top_class)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for (path, original, _), p, cam in zip(loaded, probs, cams):
        ranked = np.argsort(-p)[: args.top]
        target = out / f"{path.stem}_{args.variant}_{args.method.replace('+', 'pp')}.png"
        Image.fromarray(overlay_on_original(original, cam)).save(target)
        guesses = ", ".join(f"{CLASSES[k]} {p[k]:.3f}" for k in ranked)
        print(f"{path}: {guesses}  -> {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
