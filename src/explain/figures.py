"""Figures of the gradcam stage: the chosen heatmaps at native resolution, the sanity check, the attention's maps.

- ``native_grid``: rows = test images, columns = the input, each variant's heatmap drawn as
  blocks at its layer's resolution, and CBAM's spatial mask at that stage;
- ``user_grid``: each variant's heatmap on the user's own images, at their size;
- ``randomization_figure``: the cascading randomisation curves of every (layer, method);
- ``se_figure``: SE's mean channel excitation per class at every stage.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from src.core.errors import DataError  # noqa: E402
from src.explain.attention_maps import class_specificity, se_excitations_by_class  # noqa: E402
from src.explain.cam import blocks, overlay, stage_layer  # noqa: E402
from src.explain.fast_cam import cam_explainer  # noqa: E402
from src.explain.images import list_images, load_image, overlay_on_original  # noqa: E402
from src.explain.layer_maps import native_map, upsample  # noqa: E402
from src.explain.map_layers import resolution_stage, stages_for  # noqa: E402
from src.models.variants import title  # noqa: E402

def draw_grid(images: list[np.ndarray], row_titles: list[str], cells: dict[str, list[np.ndarray]],
              cell_titles: dict[str, list[str]], title: str, path: Path) -> None:
    """Rows = images; columns = the input, then one overlay per key of ``cells``."""
    columns = list(cells)
    # The constrained layout keeps the figure title clear of the first row's titles.
    fig, axes = plt.subplots(len(images), len(columns) + 1, squeeze=False, layout="constrained",
                             figsize=(2.3 * (len(columns) + 1), 2.3 * len(images) + 0.5))
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


def map_stage(key: str, layers: list[str]) -> str:
    """The stage whose resolution the map ``key`` ("stage2/gradcam", "fused/layercam") has."""
    return resolution_stage(key.split("/")[0], layers)


def variant_natives(model, key: str, layers: list[str], images, classes, batch_size: int) -> np.ndarray:
    """The map ``key`` of ``images`` at its native resolution (a fused map: at its finest stage's)."""
    layer, method = key.split("/")
    explainer = cam_explainer(model, method)
    natives = {stage: explainer.native(images, classes, stage_layer(model, stage), batch_size)
               for stage in stages_for(layer, layers)}
    return native_map(layer, natives)


def native_grid(out: Path, keys: dict, natives: dict, images, labels, probs, classes, cbam_masks: dict | None) -> None:
    """Each variant's map at its native resolution (drawn as blocks, no smoothing) next to the input,
    and CBAM's own spatial mask at the stage of CBAM's map."""
    size = images.shape[1:3]
    cells = {v: [overlay(img, blocks(native, size)) for img, native in zip(images, natives[v])] for v in keys}
    titles = {v: [f"{t}\n{keys[v].replace('/', ' ')}, {natives[v].shape[1]}×{natives[v].shape[2]}"
                  for t in prediction_titles(v, probs[v], labels, classes)] for v in keys}
    if cbam_masks:
        for stage, masks in cbam_masks.items():
            cells[f"cbam {stage}"] = [overlay(img, blocks(m, size)) for img, m in zip(images, masks)]
            titles[f"cbam {stage}"] = [f"CBAM's own spatial mask\n{stage}, {m.shape[0]}×{m.shape[1]}" for m in masks]
    draw_grid(list(images), [f"true: {classes[k]}" for k in labels], cells, titles,
              "Each variant's chosen heatmap at its native resolution (class: the prediction)",
              out / "heatmaps.png")


def user_grid(out: Path, models: dict, keys: dict, layers: list[str], folder: str, classes, batch_size) -> None:
    """Each variant's chosen heatmap of the predicted class on the user's own images, drawn at their original size."""
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
        native = variant_natives(model, keys[variant], layers, small, probs.argmax(axis=1), batch_size)
        cams = upsample(native, small.shape[1:3])
        cells[variant] = [overlay_on_original(orig, cam) for (orig, _), cam in zip(loaded, cams)]
        titles[variant] = prediction_titles(variant, probs, None, classes)
    (out / "user").mkdir(parents=True, exist_ok=True)
    draw_grid([orig for orig, _ in loaded], [p.name for p in paths], cells, titles,
              "Each variant's chosen heatmap of the predicted class on your images", out / "user" / "heatmaps.png")


def randomization_figure(summaries: dict, path: Path) -> None:
    """Spearman correlation with the trained model's map after each cascading randomisation step, per variant."""
    fig, axes = plt.subplots(1, len(summaries), figsize=(5.2 * len(summaries), 4), squeeze=False,
                             layout="constrained")
    for ax, (variant, summary) in zip(axes[0], summaries.items()):
        for key, scores in summary["maps"].items():
            sanity = scores["sanity"]
            steps = list(sanity["spearman"])
            ax.plot(range(len(steps)), list(sanity["spearman"].values()), marker="o", markersize=3,
                    linestyle="--" if sanity["flagged"] else "-", label=key)
        ax.axhline(summary["sanity_threshold"], color="black", linewidth=0.8)
        ax.set_xticks(range(len(steps)), steps, rotation=30, fontsize=7)
        ax.set_ylim(-0.2, 1.05)
        ax.set_title(f"{title(variant)} (seed {summary['training_seed']}): randomised from the top", fontsize=9)
        ax.set_ylabel("Spearman with the trained model's map")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, ncol=2)
    fig.suptitle("Cascading randomisation (dashed: still correlated once the top block is randomised)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
