"""Figures of the gradcam stage: heatmap grids, per-image overlays, and the attention's own maps.

- ``test_grids``: rows = test images, columns = the input and each variant's CAM of the
  true class (plus one overlay PNG per image and variant);
- ``user_grid``: the predicted class's CAM on the user's own images, at their size;
- ``cbam_figure``: CBAM's Grad-CAM next to its spatial-attention masks, one per stage;
- ``se_figure``: SE's mean channel excitation per class at every stage.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from pipeline.errors import DataError  # noqa: E402
from src.explain.attention_maps import cbam_spatial_masks, class_specificity, se_excitations_by_class  # noqa: E402
from src.explain.cam import CamExplainer, overlay  # noqa: E402
from src.explain.images import list_images, load_image, overlay_on_original  # noqa: E402
from src.models.variants import title  # noqa: E402

UPSCALE = 4


def draw_grid(images: list[np.ndarray], row_titles: list[str], cells: dict[str, list[np.ndarray]],
              cell_titles: dict[str, list[str]], title: str, path: Path) -> None:
    """Rows = images; columns = the input, then one overlay per key of ``cells``."""
    columns = list(cells)
    # The constrained layout keeps the figure title clear of the first row's titles.
    fig, axes = plt.subplots(len(images), len(columns) + 1, squeeze=False, layout="constrained",
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
    fig.savefig(path, dpi=110)
    plt.close(fig)


def prediction_titles(variant: str, probs: np.ndarray, labels: np.ndarray | None, classes: list[str]) -> list[str]:
    titles = []
    for i, p in enumerate(probs):
        k = int(p.argmax())
        mark = "" if labels is None else (" ✓" if k == labels[i] else " ✗")
        titles.append(f"{title(variant)}: {classes[k]} {p[k]:.2f}{mark}")
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
        f"{method} of the true class — columns: input | " + " | ".join(title(v) for v in cams),
        out / "gradcam" / f"{method}_grid.png",
    )
    return cams


def user_grid(out: Path, models: dict, method: str, folder: str, classes, batch_size) -> None:
    """Heatmaps of the predicted class on the user's own images, drawn at their original size."""
    try:
        paths = list_images(folder)
    except DataError as exc:
        raise DataError(f"gradcam.user_images: {exc}") from None
    if not paths:
        raise DataError(f"gradcam.user_images = {folder!r}: the folder has no .png/.jpg images")
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
