"""Stage heatmaps@<variant>-<seed>: which heatmap of one trained run to trust, measured.

    python -m src.stages.heatmaps --variant cbam --seed 0

On ``gradcam.faithfulness_per_class`` test images per class (the same images for every run),
each explained for the run's predicted class:
- every (layer, method) of ``gradcam.layers`` x ``gradcam.methods`` (stage outputs and their
  fusion, src/explain/map_layers.py; the methods of src/explain/methods.py) scored on every
  faithfulness metric of src/explain/faithfulness.py (deletion and insertion AUC, Average Drop,
  Increase in Confidence, ROAD), each against a random baseline at the map's native resolution
  and an edge (Sobel) baseline, with bootstrap 95% CIs of the paired differences, and its speed
  (``model.implementation: fast`` computes the maps of all stages in one compiled pass,
  src/explain/fast_cam.py);
- the cascading randomisation sanity check on ``gradcam.sanity_per_class`` images per class;
- the run's chosen map by the stated rule (src/explain/heatmap_study.py).
Writes
- metrics/cam/<variant>/seed<seed>.json  the whole layer x method table, the check, the choice
- data/cam/<variant>/seed<seed>.npz      per map: the per-image scores and the mean
  deletion/insertion curves (with its baselines'), read by compare for the cross-variant
  comparison over seeds and images
"""
from __future__ import annotations

from src.core.atomic import naming, publish_all, save_npz, staging_dir, write_json
from src.core.errors import stage_main
from src.config.params import load_params, run_stage_arguments
from src.data.prepared import load_split
from src.explain.cam import faithfulness_images, first_per_class
from src.explain.cam_results import run_arrays
from src.explain.faithfulness import compared_metrics
from src.explain.heatmap_study import choose, measure, randomization, study_summary
from src.explain.results import load_predictions
from src.models.io import load_variant
from src.paths import PREPARED_DIR, Run


@stage_main
def main(argv: list[str] | None = None) -> None:
    args = run_stage_arguments(__doc__, str(PREPARED_DIR), argv)
    params, run = load_params(args.params), Run(args.variant, args.seed)
    cam, seed = params["gradcam"], params["seed"]
    x_test, y_test = load_split(args.prepared, "test")
    idx = faithfulness_images(y_test, cam["faithfulness_per_class"], seed)
    images, labels = x_test[idx], y_test[idx]
    probs = load_predictions(run, y_test)[0][idx]
    model = load_variant(run.variant, run.seed, float32=True)

    implementation = params["model"]["implementation"]
    results = measure(model, cam["methods"], cam["layers"], images, probs, cam["faithfulness_steps"],
                      cam["batch_size"], seed, implementation)
    sanity = first_per_class(labels, cam["sanity_per_class"])
    randomization(model, results, sanity, images, probs.argmax(axis=1), cam["batch_size"], seed, implementation)
    chosen = choose(results)
    summary = study_summary(run.variant, run.seed, results, chosen, len(idx), len(sanity))
    # Both outputs are written in full before either is replaced.
    with staging_dir("metrics") as out:
        with naming(run.cam_scores, out / "scores.npz"):
            save_npz(out / "scores.npz", **run_arrays(results))
        write_json(out / "summary.json", summary)
        publish_all([(out / "scores.npz", run.cam_scores), (out / "summary.json", run.cam_metrics)])
    r, metrics = chosen.scores, len(compared_metrics())
    print(f"heatmaps: {run.name} chose {chosen.key} ({chosen.resolution[0]}x{chosen.resolution[1]}, beats random on "
          f"{chosen.wins()}/{metrics}): deletion {r['deletion_auc']:.3f} insertion {r['insertion_auc']:.3f} "
          f"ROAD {r['road']:.3f}, {chosen.img_per_s:.0f} img/s")


if __name__ == "__main__":
    main()
