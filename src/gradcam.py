"""Stage gradcam: heatmaps of every variant on a fixed, class-balanced set of test images.

For each method in ``gradcam.methods`` (Grad-CAM, Grad-CAM++), targeting each
image's true class on the deepest residual block:
- plots/gradcam/<method>/<variant>/NN_<class>.png   overlay per image (upscaled for viewing)
- plots/gradcam/<method>_grid.png                     rows = images (true class, each variant's
  prediction and confidence), columns = input | Original | SE | CBAM
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from pipeline.atomic import atomic_path  # noqa: E402
from pipeline.errors import DataError, stage_main  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from src.explain.cam import CamExplainer, balanced_sample, overlay  # noqa: E402
from src.models.io import load_variant  # noqa: E402
from src.preprocess import PREPARED_DIR, load_split, load_stats  # noqa: E402

OUT_DIR = Path("plots/gradcam")
TITLES = {"original": "Original", "se": "SE", "cbam": "CBAM"}
UPSCALE = 4


def load_predictions(variant: str) -> np.ndarray:
    path = Path("data/predictions") / f"{variant}.npz"
    try:
        with np.load(path) as data:
            return data["probs"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: cannot read predictions ({exc}); run `dvc repro evaluate`") from None


def draw_grid(images, labels, cams: dict, probs: dict, classes: list[str], method: str, path: Path) -> None:
    """One row per image: the input, then each variant's overlay titled with its prediction."""
    variants = list(cams)
    fig, axes = plt.subplots(len(images), len(variants) + 1, figsize=(2.0 * (len(variants) + 1), 2.1 * len(images)),
                             squeeze=False)
    for row, (image, label) in enumerate(zip(images, labels)):
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(f"true: {classes[label]}", fontsize=8)
        for col, variant in enumerate(variants, start=1):
            pred = int(probs[variant][row].argmax())
            ok = "✓" if pred == label else "✗"
            axes[row, col].imshow(overlay(image, cams[variant][row]))
            axes[row, col].set_title(f"{TITLES.get(variant, variant)}: {classes[pred]} "
                                     f"{probs[variant][row][pred]:.2f} {ok}", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{method} on the true class (columns: input | {' | '.join(TITLES.get(v, v) for v in variants)})",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default=PREPARED_DIR)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    cam_params, variants = params["gradcam"], params["train"]["variants"]
    x_test, y_test = load_split(args.prepared, "test")
    classes = load_stats(args.prepared)["classes"]

    picked = balanced_sample(y_test, cam_params["per_class"], params["seed"])
    images, labels = x_test[picked], y_test[picked]
    probs = {v: load_predictions(v)[picked] for v in variants}
    models = {v: load_variant(v) for v in variants}

    with atomic_path(OUT_DIR, is_dir=True) as out:
        for method in cam_params["methods"]:
            cams = {}
            for variant, model in models.items():
                cams[variant] = CamExplainer(model, method)(images, labels, cam_params["batch_size"])
                folder = out / method / variant
                folder.mkdir(parents=True)
                for i, (image, cam, label) in enumerate(zip(images, cams[variant], labels)):
                    big = Image.fromarray(overlay(image, cam)).resize(
                        (image.shape[1] * UPSCALE, image.shape[0] * UPSCALE), Image.NEAREST)
                    big.save(folder / f"{i:02d}_{classes[label]}.png")
            draw_grid(images, labels, cams, probs, classes, method, out / f"{method}_grid.png")
            print(f"gradcam: {method} maps for {len(images)} images x {len(variants)} variants")


if __name__ == "__main__":
    main()
