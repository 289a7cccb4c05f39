"""Stage gradcam: the heatmap figures, drawn with each variant's chosen map on its study's model.

In each regime, a variant's map is the (layer, method) its heatmap_study@<regime>-<variant> chose on
validation images, on the model of training seed ``gradcam.study_seed`` (src/explain/cam_results.py).
On ``gradcam.per_class`` of the measured test images per class, each explained for the model's
predicted class, per regime:
- plots/gradcam/<regime>/heatmaps.png       each variant's map at its native resolution (drawn as
                                            blocks, no smoothing) next to the input, and CBAM's own
                                            spatial mask at the same stage;
- plots/gradcam/<regime>/randomization.png  the studies' cascading randomisation curves of every
                                            (layer, method);
- plots/gradcam/<regime>/user/heatmaps.png  the same maps on ``gradcam.user_images`` (any size), if set;
- plots/attention/<regime>/se_excitation.png  SE's mean channel excitation per class at every stage.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from src.core.atomic import publish_all, staging_dir
from src.core.errors import stage_main
from src.config.params import load_params
from src.data.prepared import load_split, load_stats
from src.explain.attention_maps import cbam_spatial_masks
from src.explain.cam import faithfulness_images, first_per_class
from src.explain.cam_results import load_variant_runs
from src.explain.figures import map_stage, native_grid, randomization_figure, se_figure, user_grid, variant_natives
from src.explain.results import load_predictions
from src.models.io import load_run_model
from src.paths import PREPARED_DIR, Run


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default=str(PREPARED_DIR))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    cam = params["gradcam"]
    x_test, y_test = load_split(args.prepared, "test")
    classes = load_stats(args.prepared)["classes"]
    measured = faithfulness_images(y_test, cam["faithfulness_per_class"], params["seed"])
    grid = measured[first_per_class(y_test[measured], cam["per_class"])]

    with staging_dir("plots") as out:
        for regime in params["study"]["regimes"]:
            keys = draw_regime(params, regime, (x_test, y_test), measured, grid, classes, out / "gradcam" / regime,
                               out / "attention" / regime)
            for variant, key in keys.items():
                print(f"gradcam: {regime} {variant}: {key} (its study's choice, on the model of training seed "
                      f"{cam['study_seed']})")
        # Everything was built in the staging directory: a crash above leaves no output half-written.
        publish_all([(out / name, Path("plots") / name) for name in ("gradcam", "attention")])


def draw_regime(params: dict, regime: str, test: tuple[np.ndarray, np.ndarray], measured: np.ndarray,
                grid: np.ndarray, classes: list[str], gradcam_dir: Path, attention_dir: Path) -> dict[str, str]:
    """One regime's figures into ``gradcam_dir`` and ``attention_dir``, on the test images ``grid`` (and SE's on
    the ``measured`` ones); returns each variant's chosen map."""
    (x_test, y_test), images, labels = test, test[0][grid], test[1][grid]
    cam, variants, seeds = params["gradcam"], params["study"]["variants"], params["study"]["seeds"][regime]
    # Every run's summary is read too: a figure is drawn only for a study whose runs all follow it.
    studies = {v: load_variant_runs(regime, v, seeds, arrays=False)[0] for v in variants}
    keys = {v: studies[v]["chosen"] for v in variants}
    runs = {v: Run(v, cam["study_seed"], regime) for v in variants}
    models = {v: load_run_model(run, float32=True) for v, run in runs.items()}
    probs = {v: load_predictions(run, y_test)[0][grid] for v, run in runs.items()}
    natives = {v: variant_natives(models[v], keys[v], cam["layers"], images, probs[v].argmax(axis=1),
                                  cam["batch_size"]) for v in variants}
    gradcam_dir.mkdir(parents=True)
    attention_dir.mkdir(parents=True)
    masks = None
    if "cbam" in models:
        stage = map_stage(keys["cbam"], cam["layers"])
        masks = {stage: next(m for name, m in cbam_spatial_masks(models["cbam"], images, native=True).items()
                             if name.startswith(f"{stage}_"))}
    native_grid(gradcam_dir, keys, natives, images, labels, probs, classes, masks)
    randomization_figure(studies, gradcam_dir / "randomization.png")
    if cam["user_images"]:
        user_grid(gradcam_dir, models, keys, cam["layers"], cam["user_images"], classes, cam["batch_size"])
    if "se" in models:  # one forward pass: every measured test image
        se_figure(models["se"], x_test[measured], y_test[measured], classes, attention_dir / "se_excitation.png")
    return keys

if __name__ == "__main__":
    main()
