"""Stage evaluate@<variant>: one trained variant on the held-out test set.

Writes, for the variant:
- metrics/test/<variant>.json      loss, accuracy, per-class accuracy, inference img/s
  (with the test-time views of ``evaluate.tta_flip`` / ``evaluate.tta_shift``, src/evaluation.py)
- plots/confusion/<variant>.csv    one row per test image (actual, predicted) for DVC's confusion template
- plots/per_class/<variant>.csv    accuracy per class, for DVC's bar plot
- data/predictions/<variant>.npz   class probabilities and labels, read by gradcam and compare
"""
from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from pipeline.atomic import publish, staging_dir, write_json
from pipeline.errors import stage_main
from pipeline.params import VARIANTS, load_params
from src.data.prepared import load_split, load_stats
from src.evaluation import predict, test_metrics, tta_views
from src.models.io import load_variant
from src.paths import CONFUSION_DIR, PER_CLASS_DIR, PREDICTIONS_DIR, PREPARED_DIR, TEST_METRICS_DIR


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default=str(PREPARED_DIR))
    args = parser.parse_args(argv)
    params, variant = load_params(args.params), args.variant
    x_test, y_test = load_split(args.prepared, "test")
    classes = load_stats(args.prepared)["classes"]

    evaluate = params["evaluate"]
    views = tta_views(evaluate["tta_flip"], evaluate["tta_shift"])
    probs, img_per_s = predict(load_variant(variant), x_test, evaluate["batch_size"], views)
    metrics = {"variant": variant, **test_metrics(probs, y_test, classes), "test_time_views": len(views),
               "inference_img_per_s": round(img_per_s, 1)}
    predicted = probs.argmax(axis=1)
    confusion = pd.DataFrame({"actual": np.asarray(classes)[y_test], "predicted": np.asarray(classes)[predicted]})
    per_class = pd.DataFrame({"class": classes, "accuracy": list(metrics["per_class_accuracy"].values())})
    # Every output is written in full before any is replaced, so a failure leaves the old set intact.
    with staging_dir(PREDICTIONS_DIR.parent) as out:
        np.savez(out / "predictions.npz", probs=probs, labels=y_test)
        confusion.to_csv(out / "confusion.csv", index=False)
        per_class.to_csv(out / "per_class.csv", index=False)
        write_json(out / "metrics.json", metrics)
        publish(out / "predictions.npz", PREDICTIONS_DIR / f"{variant}.npz")
        publish(out / "confusion.csv", CONFUSION_DIR / f"{variant}.csv")
        publish(out / "per_class.csv", PER_CLASS_DIR / f"{variant}.csv")
        publish(out / "metrics.json", TEST_METRICS_DIR / f"{variant}.json")
    print(f"evaluate: {variant} test accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}")


if __name__ == "__main__":
    main()
