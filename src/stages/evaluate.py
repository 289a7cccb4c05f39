"""Stage evaluate@<regime>-<variant>-<seed>: one trained run on the held-out test set.

    python -m src.stages.evaluate --regime short --variant se --seed 0

Writes, for the run (<run> = <regime>/<variant>/seed<seed>):
- metrics/test/<run>.json  loss, accuracy, per-class accuracy, inference img/s
  (with the test-time views of ``evaluate.tta_flip`` / ``evaluate.tta_shift``, src/evaluation.py)
- data/predictions/<run>.npz  class probabilities and labels, read by gradcam and
  compare (which pools the runs of a variant into its confusion matrix and per-class accuracy)
"""
from __future__ import annotations

from src.core.atomic import naming, publish_all, save_npz, staging_dir, write_json
from src.core.errors import stage_main
from src.config.params import known_regime, load_params, run_stage_arguments
from src.data.prepared import load_split, load_stats
from src.evaluation import predict, test_metrics, tta_views
from src.models.io import load_run_model
from src.paths import PREDICTIONS_DIR, PREPARED_DIR, Run


@stage_main
def main(argv: list[str] | None = None) -> None:
    args = run_stage_arguments(__doc__, str(PREPARED_DIR), argv)
    params = load_params(args.params)
    run = Run(args.variant, args.seed, known_regime(params, args.regime, args.params))
    x_test, y_test = load_split(args.prepared, "test")
    classes = load_stats(args.prepared)["classes"]

    evaluate = params["evaluate"]
    views = tta_views(evaluate["tta_flip"], evaluate["tta_shift"])
    probs, img_per_s = predict(load_run_model(run), x_test, evaluate["batch_size"], views)
    metrics = {"regime": run.regime, "variant": run.variant, "training_seed": run.seed, **test_metrics(probs, y_test, classes),
               "test_time_views": len(views), "inference_img_per_s": round(img_per_s, 1)}
    # Both outputs are written in full before either is replaced, so a failure leaves the old pair intact.
    with staging_dir(PREDICTIONS_DIR.parent) as out:
        with naming(run.predictions, out / "predictions.npz"):
            save_npz(out / "predictions.npz", probs=probs, labels=y_test)
        write_json(out / "metrics.json", metrics)
        publish_all([(out / "predictions.npz", run.predictions), (out / "metrics.json", run.test_metrics)])
    print(f"evaluate: {run.name} test accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}")


if __name__ == "__main__":
    main()
