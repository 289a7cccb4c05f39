"""Stage heatmap_study@<regime>-<variant>: which heatmap of a variant to trust, chosen on validation images.

    python -m src.stages.heatmap_study --regime short --variant cbam

On the model of training seed ``gradcam.study_seed`` in the regime and ``gradcam.selection_per_class``
validation images per class (never the test images the runs are compared on), each explained
for the class the run predicts (as the evaluate stage predicts, with its test-time views):
- every (layer, method) of ``gradcam.layers`` x ``gradcam.methods`` (stage outputs and their
  fusion, src/explain/map_layers.py; the methods of src/explain/methods.py) scored on every
  faithfulness metric of src/explain/faithfulness.py against a random baseline at the map's
  native resolution and an edge (Sobel) baseline, with bootstrap 95% CIs of the paired
  differences, and its speed;
- the cascading randomisation sanity check on ``gradcam.sanity_per_class`` of those images per class;
- the variant's map, chosen by the stated rule (src/explain/heatmap_study.py).
Writes metrics/cam/<regime>/<variant>/study.json, which every heatmaps@<regime>-<variant>-<seed> run reads.
"""
from __future__ import annotations

from src.core.atomic import write_json
from src.core.errors import stage_main
from src.config.params import known_regime, load_params, run_stage_arguments
from src.data.prepared import load_split
from src.evaluation import predict, tta_views
from src.explain.cam import first_per_class, selection_images
from src.explain.faithfulness import compared_metrics
from src.explain.heatmap_study import choose, measure, randomization, study_summary
from src.models.io import load_run_model
from src.paths import PREPARED_DIR, Run, cam_study


@stage_main
def main(argv: list[str] | None = None) -> None:
    args = run_stage_arguments(__doc__, str(PREPARED_DIR), argv, with_seed=False)
    params = load_params(args.params)
    cam, seed, training_seed = params["gradcam"], params["seed"], params["gradcam"]["study_seed"]
    run = Run(args.variant, training_seed, known_regime(params, args.regime, args.params))
    x_val, y_val = load_split(args.prepared, "val")
    idx = selection_images(y_val, cam["selection_per_class"], seed)
    images, labels = x_val[idx], y_val[idx]
    # Each image is explained for the class the run predicts as the evaluate stage predicts (its precision,
    # its test-time views), as every heatmaps@ run does on the test images.
    evaluate = params["evaluate"]
    probs, _ = predict(load_run_model(run), images, evaluate["batch_size"],
                       tta_views(evaluate["tta_flip"], evaluate["tta_shift"]))
    model = load_run_model(run, float32=True)

    implementation = params["model"]["implementation"]
    results = measure(model, cam["methods"], cam["layers"], images, probs, cam["faithfulness_steps"],
                      cam["batch_size"], seed, implementation)
    sanity = first_per_class(labels, cam["sanity_per_class"])
    randomization(model, results, sanity, images, probs.argmax(axis=1), cam["batch_size"], seed, implementation)
    chosen = choose(results)
    write_json(cam_study(run.regime, run.variant), study_summary(args.variant, training_seed, results, chosen, len(idx),
                                                      len(sanity)))
    print(f"heatmap_study: {run.regime} {run.variant} (seed {training_seed}, {len(idx)} validation images) chose {chosen.key} "
          f"({chosen.resolution[0]}x{chosen.resolution[1]}, beats random on {chosen.wins()}/{len(compared_metrics())})")


if __name__ == "__main__":
    main()
