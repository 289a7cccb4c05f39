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
  for a random and an edge (Sobel) baseline, with the bootstrap 95% CI of the paired
  difference heatmap − baseline -> metrics/cam/<variant>.json, and the mean
  deletion/insertion curves -> plots/cam_curves/<method>/<variant>.tsv.
The attention itself: CBAM's spatial masks per stage next to its Grad-CAM
(plots/attention/cbam_spatial.png) and SE's per-class channel excitations per stage
(plots/attention/se_excitation.png).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.atomic import publish, staging_dir, write_json
from pipeline.errors import stage_main
from pipeline.params import load_params
from src.data.prepared import load_split, load_stats
from src.explain.cam import balanced_sample
from src.explain.faithfulness import faithfulness_scores
from src.explain.figures import cbam_figure, se_figure, test_grids, user_grid
from src.explain.results import load_predictions
from src.models.io import load_variant
from src.paths import CAM_METRICS_DIR, PREPARED_DIR


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default=str(PREPARED_DIR))
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
                real, baselines, rate = faithfulness_scores(
                    model, method, x_test[faith_idx], all_probs[variant][faith_idx],
                    cam["faithfulness_steps"], cam["batch_size"], seed)
                scores[variant][method] = {**summary(real), "img_per_s": round(rate, 1),
                                           "baselines": {name: summary(b) for name, b in baselines.items()}}
                curves = pd.DataFrame({
                    "fraction": np.linspace(0, 1, cam["faithfulness_steps"] + 1),
                    "deletion": real["deletion_curve"], "insertion": real["insertion_curve"],
                    **{f"{name}_{kind}": b[f"{kind}_curve"] for name, b in baselines.items()
                       for kind in ("deletion", "insertion")},
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
        publish(out / "cam", CAM_METRICS_DIR)
    for variant, result in scores.items():
        for method in cam["methods"]:
            r, rnd = result[method], result[method]["baselines"]["random"]
            print(f"gradcam: {variant} {method}: deletion {r['deletion_auc']:.3f} insertion {r['insertion_auc']:.3f} "
                  f"(random {rnd['deletion_auc']:.3f} / {rnd['insertion_auc']:.3f})")


def summary(scores: dict) -> dict:
    """The scores that go into metrics/cam: without the per-image values and the curves."""
    return {k: v for k, v in scores.items() if k != "per_image" and not k.endswith("_curve")}


if __name__ == "__main__":
    main()
