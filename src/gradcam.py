"""Stage gradcam: which heatmap to trust, per variant, and how the variants' chosen heatmaps compare.

It explains each variant's model of the first training seed (``train.seeds[0]``), always
for the predicted class, on ``gradcam.faithfulness_per_class`` test images per class:
- every (layer, method) of ``gradcam.layers`` x ``gradcam.methods`` (stage outputs and
  their fusion; Grad-CAM, Grad-CAM++, LayerCAM, Score-CAM) scored on deletion and insertion
  AUC, Average Drop, Increase in Confidence and ROAD, each against a random baseline at the
  map's native resolution and an edge (Sobel) baseline, with bootstrap 95% CIs of the paired
  differences; and its speed;
- the cascading randomisation sanity check on ``gradcam.sanity_per_class`` images per class;
- the chosen map by the stated rule (src/explain/heatmap_study.py), and the paired
  differences of the chosen maps between variants (Bonferroni-adjusted intervals).
Writes metrics/cam/<variant>.json (the whole table and the choice), metrics/cam/variants.json
(the cross-variant differences), plots/cam_curves/<variant>.tsv (the chosen map's
deletion/insertion curves with its baselines'), plots/gradcam/heatmaps.png (the chosen maps at
native resolution, with CBAM's spatial mask at that stage), plots/gradcam/randomization.png,
plots/gradcam/user/heatmaps.png for ``gradcam.user_images``, and SE's per-class excitations
(plots/attention/se_excitation.png).
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.atomic import publish, staging_dir, write_json
from pipeline.errors import stage_main
from pipeline.params import load_params
from src.data.prepared import load_split, load_stats
from src.explain.attention_maps import cbam_spatial_masks
from src.explain.cam import balanced_sample
from src.explain.figures import native_grid, randomization_figure, se_figure, user_grid
from src.explain.heatmap_study import CHOICE_RULE, SANITY_THRESHOLD, MapResult, between_variants, choose, \
    measure, randomization
from src.explain.results import load_predictions
from src.models.io import load_variant
from src.models.variants import BASELINE, ordered_pairs
from src.paths import CAM_METRICS_DIR, PREPARED_DIR, Run


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
    runs = {v: Run(v, params["train"]["seeds"][0]) for v in variants}
    probs = {v: load_predictions(run)[0] for v, run in runs.items()}
    models = {v: load_variant(run.variant, run.seed, float32=True) for v, run in runs.items()}

    faith_idx = balanced_sample(y_test, cam["faithfulness_per_class"], seed + 1)
    images = x_test[faith_idx]
    # The sanity images and the grid images are the first of each class among the measured ones.
    sanity = _first_per_class(y_test[faith_idx], cam["sanity_per_class"])
    grid = _first_per_class(y_test[faith_idx], cam["per_class"])
    results, chosen = {}, {}
    for variant, model in models.items():
        results[variant] = measure(model, cam["methods"], cam["layers"], images, probs[variant][faith_idx],
                                   cam["faithfulness_steps"], cam["batch_size"], seed)
        randomization(model, results[variant], sanity, images, probs[variant][faith_idx].argmax(axis=1),
                      cam["batch_size"], seed)
        chosen[variant] = choose(results[variant])
        _progress(variant, chosen[variant])
    pairs = ordered_pairs(variants, BASELINE)
    comparisons = len(pairs) * 5
    across = [{"first": a, "second": b, "metrics": between_variants(chosen[a], chosen[b], seed, comparisons)}
              for a, b in pairs]

    with staging_dir("plots") as out:
        for name in ("gradcam", "cam_curves", "attention", "cam"):
            (out / name).mkdir()
        for variant, result in chosen.items():
            _curves(result).to_csv(out / "cam_curves" / f"{variant}.tsv", sep="\t", index=False)
            write_json(out / "cam" / f"{variant}.json", {
                "variant": variant, "training_seed": runs[variant].seed, "images": int(len(faith_idx)),
                "sanity_images": int(len(sanity)), "sanity_threshold": SANITY_THRESHOLD, "rule": CHOICE_RULE.format(threshold=SANITY_THRESHOLD),
                "chosen": result.key, "maps": {r.key: r.summary() for r in results[variant]}})
        write_json(out / "cam" / "variants.json", {"comparisons": comparisons, "pairs": across})
        masks = None
        if "cbam" in chosen:
            stage = chosen["cbam"].stage
            masks = {stage: next(m for name, m in cbam_spatial_masks(models["cbam"], images[grid], native=True).items()
                                 if name.startswith(f"{stage}_"))}
        native_grid(out / "gradcam", {v: _subset(r, grid) for v, r in chosen.items()}, images[grid],
                    y_test[faith_idx][grid], {v: p[faith_idx][grid] for v, p in probs.items()}, classes, masks)
        randomization_figure(results, out / "gradcam" / "randomization.png")
        if cam["user_images"]:
            user_grid(out / "gradcam", models, chosen, cam["layers"], cam["user_images"], classes, cam["batch_size"])
        if "se" in models:
            specificity = se_figure(models["se"], images, y_test[faith_idx], classes,
                                    out / "attention" / "se_excitation.png")
            write_json(out / "cam" / "se_class_specificity.json", specificity)
        # Everything was built in the staging directory: a crash above leaves no output half-written.
        for name in ("gradcam", "cam_curves", "attention"):
            publish(out / name, Path("plots") / name)
        publish(out / "cam", CAM_METRICS_DIR)


def _first_per_class(labels: np.ndarray, per_class: int) -> np.ndarray:
    return np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in np.unique(labels)])


def _subset(result: MapResult, idx: np.ndarray) -> MapResult:
    """The chosen result restricted to the grid images (only its native maps are drawn)."""
    return replace(result, native=result.native[idx], maps=result.maps[idx])


def _curves(result: MapResult) -> pd.DataFrame:
    steps = len(result.scores["deletion_curve"]) - 1
    return pd.DataFrame({
        "fraction": np.linspace(0, 1, steps + 1),
        "deletion": result.scores["deletion_curve"], "insertion": result.scores["insertion_curve"],
        **{f"{name}_{kind}": b[f"{kind}_curve"] for name, b in result.baselines.items()
           for kind in ("deletion", "insertion")},
    })


def _progress(variant: str, result: MapResult) -> None:
    r = result.scores
    print(f"gradcam: {variant} chose {result.key} ({result.resolution[0]}x{result.resolution[1]}, beats random on "
          f"{result.wins()}/5): deletion {r['deletion_auc']:.3f} insertion {r['insertion_auc']:.3f} "
          f"ROAD {r['road']:.3f}, {result.img_per_s:.0f} img/s")


if __name__ == "__main__":
    main()
