"""Stage evaluate: every trained variant on the held-out test set.

Writes, per variant:
- metrics/test/<variant>.json      loss, accuracy, per-class accuracy, inference img/s
  (test-time augmentation: with ``evaluate.tta_flip`` the prediction averages each
  image and its mirror image; ``evaluate.tta_shift: s`` adds every such view moved
  s pixels up-left and down-right, the translations training saw)
- plots/confusion/<variant>.csv    one row per test image (actual, predicted) for DVC's confusion template
- plots/per_class/<variant>.csv    accuracy per class, for DVC's bar plot
- data/predictions/<variant>.npz   class probabilities and labels, read by gradcam and compare
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from pipeline.atomic import atomic_path, write_json
from pipeline.errors import stage_main
from pipeline.params import load_params
from src.data.loader import make_dataset
from src.explain.results import PREDICTIONS_DIR
from src.models.io import load_variant
from src.preprocess import PREPARED_DIR, load_split, load_stats


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1.0))))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """counts[i, j] = images of class i predicted as j."""
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predicted), 1)
    return counts


def test_metrics(probs: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict:
    predicted = probs.argmax(axis=1)
    counts = confusion_matrix(labels, predicted, len(classes))
    per_class = np.diag(counts) / np.maximum(counts.sum(axis=1), 1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "loss": cross_entropy(probs, labels),
        "per_class_accuracy": {cls: round(float(acc), 4) for cls, acc in zip(classes, per_class)},
        "images": int(len(labels)),
    }


def translate(images: tf.Tensor, dy: int, dx: int) -> tf.Tensor:
    """Move a batch (N, H, W, C) by (dy, dx) pixels, filling with zeros like the training crops' padding."""
    pad = max(abs(dy), abs(dx))
    if pad == 0:
        return images
    height, width = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    return padded[:, pad - dy: pad - dy + height, pad - dx: pad - dx + width, :]


def tta_views(flip: bool, shift: int) -> list:
    """The test-time views as batch -> batch functions; the first is the image itself."""
    views = [lambda images: images]
    if flip:
        views.append(lambda images: images[:, :, ::-1, :])
    if shift:
        views += [lambda images, view=view, d=d: translate(view(images), d, d)
                  for view in list(views) for d in (shift, -shift)]
    return views


def predict(model, x: np.ndarray, batch_size: int, views: list | None = None) -> tuple[np.ndarray, float]:
    """Class probabilities averaged over the test-time ``views`` (default: the image only), and inference img/s.

    img/s counts each original image once (a warm-up batch is excluded), so it
    falls with the number of views: it is the cost of the prediction as reported.
    """
    ds = make_dataset(x, np.zeros(len(x), dtype=np.int64), batch_size).map(lambda images, _: images)
    model.predict(ds.take(1), verbose=0)
    views = views or tta_views(flip=False, shift=0)
    start = time.perf_counter()
    probs = sum(model.predict(ds.map(view), verbose=0) for view in views) / len(views)
    return probs.astype(np.float32), len(x) / (time.perf_counter() - start)


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default=PREPARED_DIR)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    x_test, y_test = load_split(args.prepared, "test")
    classes = load_stats(args.prepared)["classes"]

    evaluate = params["evaluate"]
    views = tta_views(evaluate["tta_flip"], evaluate["tta_shift"])
    for variant in params["train"]["variants"]:
        probs, img_per_s = predict(load_variant(variant), x_test, evaluate["batch_size"], views)
        metrics = {"variant": variant, **test_metrics(probs, y_test, classes), "test_time_views": len(views),
                   "inference_img_per_s": round(img_per_s, 1)}
        predicted = probs.argmax(axis=1)
        with atomic_path(PREDICTIONS_DIR / f"{variant}.npz") as tmp:
            np.savez(tmp, probs=probs, labels=y_test)
        confusion = pd.DataFrame({"actual": np.asarray(classes)[y_test], "predicted": np.asarray(classes)[predicted]})
        with atomic_path(Path("plots/confusion") / f"{variant}.csv") as tmp:
            confusion.to_csv(tmp, index=False)
        per_class = pd.DataFrame({"class": classes, "accuracy": list(metrics["per_class_accuracy"].values())})
        with atomic_path(Path("plots/per_class") / f"{variant}.csv") as tmp:
            per_class.to_csv(tmp, index=False)
        write_json(Path("metrics/test") / f"{variant}.json", metrics)
        print(f"evaluate: {variant} test accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}")


if __name__ == "__main__":
    main()
