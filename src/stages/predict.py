"""Classify your own images with a trained variant and draw its Grad-CAM on each.

    python -m src.stages.predict photo.jpg other.png --variant cbam [--seed 0] [--regime short] [--method gradcam++] [--out predictions/]

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

from src.core.atomic import atomic_path
from src.core.errors import DataError, stage_main
from src.config.params import DEFAULT_PARAMS_FILE, VARIANTS, known_regime, load_params, training_seed
from src.data.readers import CLASSES
from src.explain.fast_cam import cam_explainer
from src.explain.images import load_image, overlay_on_original
from src.explain.methods import CAM_METHODS
from src.models.io import load_run_model
from src.paths import MODEL_DIR, Run


def top_count(text: str) -> int:
    """--top: how many classes to print, 1 to the number of classes."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= len(CLASSES):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {len(CLASSES)}")
    return value


def output_path(out: Path, image: Path, variant: str, method: str) -> Path:
    """Where the overlay of ``image`` goes: <out>/<name>_<variant>_<method>.png."""
    return out / f"{image.stem}_{variant}_{method.replace('+', 'pp')}.png"


def _clashes(targets: dict[str, Path]) -> list[str]:
    by_target: dict[Path, list[str]] = {}
    for name, target in targets.items():
        by_target.setdefault(target, []).append(name)
    return [f"{' and '.join(names)} -> {target}" for target, names in by_target.items() if len(names) > 1]


@stage_main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", help="image files (png, jpg, ...), any size")
    parser.add_argument("--variant", default="cbam", choices=VARIANTS)
    parser.add_argument("--method", default="gradcam", choices=list(CAM_METHODS))
    parser.add_argument("--seed", type=training_seed, default=0, help="the model's training seed (default 0)")
    parser.add_argument("--regime", help="the model's training regime (default: the first of params.yaml's study.regimes)")
    parser.add_argument("--params", default=DEFAULT_PARAMS_FILE, help="where --regime's default is read")
    parser.add_argument("--models", default=str(MODEL_DIR), help="folder with <regime>/<variant>/seed<seed>.keras")
    parser.add_argument("--out", default="predictions", help="folder for the heatmap overlays")
    parser.add_argument("--top", type=top_count, default=3, help=f"classes to print, 1 to {len(CLASSES)}")
    args = parser.parse_args(argv)
    out = Path(args.out)
    names = list(dict.fromkeys(args.images))  # the same file named twice is predicted once
    targets = {name: output_path(out, Path(name), args.variant, args.method) for name in names}
    clashes = _clashes(targets)
    if clashes:
        raise DataError("these inputs would write the same overlay, so one would overwrite the other: "
                        + "; ".join(clashes) + " (rename one, or predict them in separate runs with --out)")

    loaded, failed = [], []
    for name in targets:
        try:
            loaded.append((name, *load_image(name)))
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append(name)
    if not loaded:
        raise DataError("no readable image among: " + ", ".join(args.images))

    if Path(args.params).is_file():  # the study's regimes: the default, and a check of --regime
        regime = known_regime(load_params(args.params), args.regime, args.params)
    elif args.regime is None:
        raise DataError(f"--regime: no {args.params} here to take the first regime from; name the model's regime "
                        "(its folder under --models)")
    else:
        regime = args.regime
    model = load_run_model(Run(args.variant, args.seed, regime), args.models)
    small = np.stack([item[2] for item in loaded]).astype(np.float32)
    probs = model.predict(small, verbose=0)
    top_class = probs.argmax(axis=1)
    cams = cam_explainer(model, args.method)(small, top_class)

    out.mkdir(parents=True, exist_ok=True)
    for (name, original, _), p, cam in zip(loaded, probs, cams):
        ranked = np.argsort(-p)[: args.top]
        target = targets[name]
        with atomic_path(target) as tmp:
            Image.fromarray(overlay_on_original(original, cam)).save(tmp, format="PNG")
        guesses = ", ".join(f"{CLASSES[k]} {p[k]:.3f}" for k in ranked)
        print(f"{name}: {guesses}  -> {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
