"""Stage gradcam: heatmaps of every variant, how faithful they are, and the attention itself.

For each method in ``gradcam.methods`` (Grad-CAM, Grad-CAM++) on the deepest residual block:
- picture grids on ``gradcam.per_class`` test images per class, heatmap of the true class:
  plots/gradcam/<method>_grid.png (rows = images with each variant's prediction and
  confidence; columns = input | Original | SE | CBAM) and one overlay PNG per image and
  variant under plots/gradcam/<method>/<variant>/;
- the user's own images (``gradcam.user_images``, any size), heatmap of the predicted class
  drawn on the original: plots/gradcam/user/<method>_grid.png;
- faithfulness on ``gradcam.faithfulness_per_class`` test images per class, heatmap of the
  predicted class: deletion/insertion AUC, Average Drop, Increase in Confidence, each also
  for random heatmaps -> metrics/cam/<variant>.json, and the mean deletion/insertion curves
  -> plots/cam_curves/<method>/<variant>.tsv.
The attention itself: CBAM's spatial masks per stage next to its Grad-CAM
(plots/attention/cbam_spatial.png) and SE's per-class channel excitations per stage
(plots/attention/se_excitation.png).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from pipeline.atomic import publish, staging_dir, write_json  # noqa: E402
from pipeline.errors import DataError, stage_main  # noqa: E402
from pipeline.params import load_params  # noqa: E402
from src.explain.attention_maps import (  # noqa: E402
    cbam_spatial_masks,
    class_specificity,
    se_excitations_by_class,
)
from src.explain.cam import CamExplainer, balanced_sample, overlay  # noqa: E402
from src.explain.faithfulness import faithfulness, random_maps  # noqa: E402
from src.explain.images import list_images, load_image, overlay_on_original  # noqa: E402
from src.explain.results import VARIANT_TITLES, load_predictions  # noqa: E402
from src.models.io import load_variant  # noqa: E402
from src.preprocess import PREPARED_DIR, load_split, load_stats  # noqa: E402

UPSCALE = 4


def draw_grid(images: list[np.ndarray], row_titles: list[str], cells: dict[str, list[np.ndarray]],
              cell_titles: dict[str, list[str]], title: str, path: Path) -> None:
    """Rows = images; columns = the input, then one overlay per key of ``cells``."""
    columns = list(cells)
    fig, axes = plt.subplots(len(images), len(columns) + 1, squeeze=False,
                             figsize=(2.0 * (len(columns) + 1), 2.1 * len(images) + 0.5))
    for row, image in enumerate(images):
        axes[row, 0].imshow(image)
        axes[row, 0].set_title(row_titles[row], fontsize=8)
        for col, key in enumerate(columns, start=1):
            axes[row, col].imshow(cells[key][row])
            axes[row, col].set_title(cell_titles[key][row], fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / (2.1 * len(images) + 0.5)))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def prediction_titles(variant: str, probs: np.ndarray, labels: np.ndarray | None, classes: list[str]) -> list[str]:
    titles = []
    for i, p in enumerate(probs):
        k = int(p.argmax())
        mark = "" if labels is None else (" ✓" if k == labels[i] else " ✗")
        titles.append(f"{VARIANT_TITLES.get(variant, variant)}: {classes[k]} {p[k]:.2f}{mark}")
    return titles


def test_grids(out: Path, models: dict, method: str, images, labels, probs, classes, batch_size) -> dict:
    """Grid and per-image overlays on the class-balanced test sample; returns the CAMs."""
    cams = {v: CamExplainer(m, method)(images, labels, batch_size) for v, m in models.items()}
    for variant, maps in cams.items():
        folder = out / "gradcam" / method / variant
        folder.mkdir(parents=True)
        for i, (image, cam, label) in enumerate(zip(images, maps, labels)):
            Image.fromarray(overlay(image, cam)).resize(
                (image.shape[1] * UPSCALE, image.shape[0] * UPSCALE), Image.NEAREST
            ).save(folder / f"{i:02d}_{classes[label]}.png")
    draw_grid(
        list(images), [f"true: {classes[k]}" for k in labels],
        {v: [overlay(img, cam) for img, cam in zip(images, cams[v])] for v in cams},
        {v: prediction_titles(v, probs[v], labels, classes) for v in cams},
        f"{method} of the true class — columns: input | " + " | ".join(VARIANT_TITLES.get(v, v) for v in cams),
        out / "gradcam" / f"{method}_grid.png",
    )
    return cams


def user_grid(out: Path, models: dict, method: str, folder: str, classes, batch_size) -> None:
    """Heatmaps of the predicted class on the user's own images, drawn at their original size."""
    paths = list_images(folder)
    if not paths:
        raise DataError(f"{folder}: gradcam.user_images has no .png/.jpg images")
    loaded = [load_image(p) for p in paths]
    small = np.stack([s for _, s in loaded]).astype(np.float32)
    cells, titles = {}, {}
    for variant, model in models.items():
        probs = model.predict(small, verbose=0)
        cams = CamExplainer(model, method)(small, probs.argmax(axis=1), batch_size)
        cells[variant] = [overlay_on_original(orig, cam) for (orig, _), cam in zip(loaded, cams)]
        titles[variant] = prediction_titles(variant, probs, None, classes)
    (out / "gradcam" / "user").mkdir(parents=True, exist_ok=True)
    draw_grid([orig for orig, _ in loaded], [p.name for p in paths], cells, titles,
              f"{method} of the predicted class on your images", out / "gradcam" / "user" / f"{method}_grid.png")


def cbam_figure(model, images, labels, cam, classes, path: Path) -> None:
    masks = cbam_spatial_masks(model, images)
    cells = {"Grad-CAM": [overlay(img, c) for img, c in zip(images, cam)]}
    titles = {"Grad-CAM": ["CBAM Grad-CAM"] * len(images)}
    for name, stage_masks in masks.items():
        stage = name.split("_")[0]
        cells[stage] = [overlay(img, m) for img, m in zip(images, stage_masks)]
        titles[stage] = [f"{stage} spatial mask"] * len(images)
    draw_grid(list(images), [f"true: {classes[k]}" for k in labels], cells, titles,
              "CBAM: Grad-CAM next to its own spatial-attention masks (one per stage, upsampled)", path)


def se_figure(model, images, labels, classes, path: Path) -> dict[str, float]:
    per_stage = se_excitations_by_class(model, images, labels, len(classes))
    fig, axes = plt.subplots(1, len(per_stage), figsize=(4.2 * len(per_stage), 3.6), squeeze=False)
    specificity = {}
    for ax, (name, table) in zip(axes[0], per_stage.items()):
        stage = name.split("_")[0]
        specificity[stage] = class_specificity(table)
        shown = table[:, :64]  # the first 64 channels keep the picture readable at every width
        im = ax.imshow(shown, aspect="auto", cmap="viridis", vmin=0, vmax=1)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set_xlabel(f"channel (first {shown.shape[1]} of {table.shape[1]})")
        ax.set_title(f"{stage}: class-specificity {specificity[stage]:.3f}", fontsize=9)
    fig.colorbar(im, ax=axes[0].tolist(), label="mean excitation")
    fig.suptitle("SE: mean channel excitation per class at each stage's last block")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return specificity


def faithfulness_scores(model, method, images, probs, steps, batch_size, seed) -> tuple[dict, dict, float]:
    """(scores of the real CAM, scores of random maps, CAM img/s) with the predicted class as target."""
    predicted = probs.argmax(axis=1)
    explainer = CamExplainer(model, method)
    explainer(images[:batch_size], predicted[:batch_size], batch_size)  # warm-up: tracing is not throughput
    start = time.perf_counter()
    maps = explainer(images, predicted, batch_size)
    cam_rate = len(images) / (time.perf_counter() - start)

    def predict(x):
        return model.predict_on_batch(x)

    real = faithfulness(predict, images, maps, predicted, steps)
    grid = tuple(model.get_layer(explainer.layer).output.shape[1:3])
    baseline = faithfulness(predict, images, random_maps(maps.shape, seed, grid), predicted, steps)
    return real, baseline, cam_rate


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default=PREPARED_DIR)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    cam, variants, seed = params["gradcam"], params["train"]["variants"], params["seed"]
    x_test, y_test = load_split(args.prepared, "test")
    classes = load_stats(args.prepared)["classes"]
    all_probs = {v: load_predictions(v)[0] for v in variants}
    models = {v: load_variant(v, float32=True) for v in variants}

    grid_idx = balanced_sample(y_test, cam["per_class"], seed)
    faith_idx = balanced_sample(y_test, cam["faithfulness_per_class"], seed + 1)
    images, labels = x_test[grid_idx], y_test[grid_idx]
    scores: dict[str, dict] = {v: {} for v in variants}
    progress = tqdm(total=len(cam["methods"]) * len(variants), desc="gradcam", disable=not sys.stderr.isatty())

    with staging_dir("plots") as out:
        (out / "attention").mkdir()
        for method in cam["methods"]:
            grid_cams = test_grids(out, models, method, images, labels, {v: p[grid_idx] for v, p in all_probs.items()},
                                   classes, cam["batch_size"])
            if cam["user_images"]:
                user_grid(out, models, method, cam["user_images"], classes, cam["batch_size"])
            for variant, model in models.items():
                real, baseline, rate = faithfulness_scores(
                    model, method, x_test[faith_idx], all_probs[variant][faith_idx],
                    cam["faithfulness_steps"], cam["batch_size"], seed)
                scores[variant][method] = {k: v for k, v in real.items() if not k.endswith("_curve")}
                scores[variant][method]["img_per_s"] = round(rate, 1)
                scores[variant]["random"] = {k: v for k, v in baseline.items() if not k.endswith("_curve")}
                curves = pd.DataFrame({
                    "fraction": np.linspace(0, 1, cam["faithfulness_steps"] + 1),
                    "deletion": real["deletion_curve"], "insertion": real["insertion_curve"],
                    "random_deletion": baseline["deletion_curve"], "random_insertion": baseline["insertion_curve"],
                })
                (out / "cam_curves" / method).mkdir(parents=True, exist_ok=True)
                curves.to_csv(out / "cam_curves" / method / f"{variant}.tsv", sep="\t", index=False)
                progress.update()
            if method == "gradcam" and "cbam" in models:
                cbam_figure(models["cbam"], images, labels, grid_cams["cbam"], classes,
                            out / "attention" / "cbam_spatial.png")
        if "se" in models:
            scores["se"]["class_specificity"] = se_figure(
                models["se"], x_test[faith_idx], y_test[faith_idx], classes, out / "attention" / "se_excitation.png")
        progress.close()
        (out / "cam").mkdir()
        for variant, result in scores.items():
            write_json(out / "cam" / f"{variant}.json", {"variant": variant, "images": int(len(faith_idx)), **result})
        # Everything was built in the staging directory: a crash above leaves no output half-written.
        for name in ("gradcam", "cam_curves", "attention"):
            publish(out / name, Path("plots") / name)
        publish(out / "cam", "metrics/cam")
    for variant, result in scores.items():
        parts = [f"{m}: deletion {r['deletion_auc']:.3f} insertion {r['insertion_auc']:.3f}"
                 for m, r in result.items() if m in cam["methods"]]
        rnd = result["random"]
        print(f"gradcam: {variant} " + "; ".join(parts) +
              f"; random: deletion {rnd['deletion_auc']:.3f} insertion {rnd['insertion_auc']:.3f}")


if __name__ == "__main__":
    main()
