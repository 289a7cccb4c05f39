"""Stage heatmaps@<regime>-<variant>-<seed>: the variant's chosen heatmap, scored on one trained run.

    python -m src.stages.heatmaps --regime short --variant cbam --seed 0

The map is the one heatmap_study@<regime>-<variant> chose on validation images
(metrics/cam/<regime>/<variant>/study.json). On ``gradcam.faithfulness_per_class`` test images per class
(the same images for every run), each explained for the run's predicted class, it is scored
on every faithfulness metric of src/explain/faithfulness.py against the random and edge
baselines, with bootstrap 95% CIs of the paired differences. Writes (<run> = <regime>/<variant>/seed<seed>)
- metrics/cam/<run>.json  the map's scores, baselines and differences
- data/cam/<run>.npz      its per-image scores and mean deletion/insertion curves
  (and its baselines'), read by compare for the cross-variant comparison over seeds and images
"""
from __future__ import annotations

from src.core.atomic import naming, publish_all, save_npz, staging_dir, write_json
from src.core.errors import stage_main
from src.config.params import known_regime, load_params, run_stage_arguments
from src.data.prepared import load_split
from src.explain.cam import faithfulness_images
from src.explain.cam_results import load_study, run_arrays
from src.explain.faithfulness import compared_metrics
from src.explain.heatmap_study import measure_map, run_summary
from src.explain.results import load_predictions
from src.models.io import load_run_model
from src.paths import PREPARED_DIR, Run


@stage_main
def main(argv: list[str] | None = None) -> None:
    args = run_stage_arguments(__doc__, str(PREPARED_DIR), argv)
    params = load_params(args.params)
    run = Run(args.variant, args.seed, known_regime(params, args.regime, args.params))
    cam, seed = params["gradcam"], params["seed"]
    key = load_study(run.regime, run.variant)["chosen"]
    x_test, y_test = load_split(args.prepared, "test")
    idx = faithfulness_images(y_test, cam["faithfulness_per_class"], seed)
    probs = load_predictions(run, y_test)[0][idx]
    model = load_run_model(run, float32=True)

    result = measure_map(model, key, cam["layers"], x_test[idx], probs, cam["faithfulness_steps"], cam["batch_size"],
                         seed, params["model"]["implementation"])
    # Both outputs are written in full before either is replaced.
    with staging_dir("metrics") as out:
        with naming(run.cam_scores, out / "scores.npz"):
            save_npz(out / "scores.npz", **run_arrays([result]))
        write_json(out / "summary.json", run_summary(run.variant, run.seed, result, len(idx)))
        publish_all([(out / "scores.npz", run.cam_scores), (out / "summary.json", run.cam_metrics)])
    r = result.scores
    print(f"heatmaps: {run.name}: {result.key} beats random on {result.wins()}/{len(compared_metrics())}: "
          f"deletion {r['deletion_auc']:.3f} insertion {r['insertion_auc']:.3f} ROAD {r['road']:.3f}, "
          f"{result.img_per_s:.0f} img/s")


if __name__ == "__main__":
    main()
