"""Test-set evaluation: predictions averaged over test-time views, and the metrics of a prediction.

With ``tta_views(flip, shift)`` a prediction averages each image with its mirror image
(``flip``) and every such view moved ``shift`` pixels up-left and down-right, the
translations training saw.
"""
from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from src.data.loader import make_dataset


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
