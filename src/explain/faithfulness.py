"""How faithful is a heatmap? Deletion/insertion AUC and Average Drop / Increase in Confidence.

- Deletion (Petsiuk et al., 2018, RISE): remove pixels most-important-first (replace them with
  the image's mean colour) and follow the target-class probability; a faithful map makes it
  fall fast, so **lower AUC is better**.
- Insertion: start from the all-removed image and put pixels back most-important-first;
  **higher AUC is better**.
- Average Drop and Increase in Confidence (Chattopadhay et al., 2018, Grad-CAM++): feed the
  image multiplied by its map; AD = mean relative drop of the target probability (lower is
  better), IC = share of images whose probability rises (higher is better).

Each is also computed for a random heatmap of the CAM's own resolution, the baseline a
real CAM must beat.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from scipy.ndimage import zoom

from src.explain.cam import CamExplainer

Predict = Callable[[np.ndarray], np.ndarray]  # images (N, H, W, 3) raw pixels -> probabilities (N, K)


def _fill_value(images: np.ndarray) -> np.ndarray:
    """Per-image mean colour: 'removed' pixels carry no edge or texture but keep the image's tone."""
    return images.mean(axis=(1, 2), keepdims=True)


def perturbation_curves(
    predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, steps: int = 16,
    mode: str = "deletion", batch_size: int = 512,
) -> np.ndarray:
    """Target-class probability after each of ``steps`` + 1 perturbation levels, shape (N, steps + 1).

    Level k has ``k / steps`` of the pixels removed (deletion) or inserted (insertion),
    most important first according to ``maps`` (ties broken by position, deterministically).
    """
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    images = np.asarray(images, np.float32)
    n, h, w, _ = images.shape
    order = np.argsort(-maps.reshape(n, -1), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(h * w)[None, :].repeat(n, axis=0), axis=1)
    rank = rank.reshape(n, h, w, 1)
    fill = np.broadcast_to(_fill_value(images), images.shape)
    levels = np.round(np.linspace(0, h * w, steps + 1)).astype(int)

    batch = []
    for count in levels:
        top = rank < count  # the `count` most important pixels
        if mode == "deletion":
            batch.append(np.where(top, fill, images))
        else:
            batch.append(np.where(top, images, fill))
    stacked = np.concatenate(batch)  # level-major: (levels * N, H, W, 3)
    probs = np.concatenate([predict(stacked[i:i + batch_size]) for i in range(0, len(stacked), batch_size)])
    target = probs[np.arange(len(stacked)), np.tile(classes, len(levels))]
    return target.reshape(len(levels), n).T


def auc(curves: np.ndarray) -> np.ndarray:
    """Area under each curve on a [0, 1] x-axis (trapezoid rule), shape (N,)."""
    steps = curves.shape[1] - 1
    return (curves[:, :-1] + curves[:, 1:]).sum(axis=1) / (2 * steps)


def average_drop_increase(
    predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, batch_size: int = 512,
) -> tuple[float, float]:
    """(Average Drop %, Increase in Confidence %) of the explanation maps ``images * maps``."""
    images = np.asarray(images, np.float32)
    idx = np.arange(len(images))

    def target(x: np.ndarray) -> np.ndarray:
        probs = np.concatenate([predict(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        return probs[idx, classes]

    full = target(images)
    masked = target(images * maps[..., None])
    drop = np.maximum(full - masked, 0) / np.maximum(full, 1e-12)
    return float(100 * drop.mean()), float(100 * (masked > full).mean())


def random_maps(shape: tuple[int, ...], seed: int, grid: tuple[int, int] | None = None) -> np.ndarray:
    """Random heatmaps in [0, 1] of ``shape`` (N, H, W): the chance baseline.

    With ``grid`` (the explained layer's resolution) the random values are drawn on that
    grid and upsampled bilinearly, exactly as a CAM is. The baseline then has a CAM's
    spatial smoothness: per-pixel noise would scatter deletions over the whole image, which
    destroys any image faster than removing one region and makes every CAM look worse
    than chance on deletion.
    """
    rng = np.random.default_rng(seed)
    n, height, width = shape
    if grid is None or tuple(grid) == (height, width):
        return rng.random(shape).astype(np.float32)
    coarse = rng.random((n, *grid))
    maps = zoom(coarse, (1, height / grid[0], width / grid[1]), order=1)
    lo = maps.min(axis=(1, 2), keepdims=True)
    hi = maps.max(axis=(1, 2), keepdims=True)
    return ((maps - lo) / np.maximum(hi - lo, 1e-12)).astype(np.float32)


def faithfulness(
    predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, steps: int = 16,
) -> dict[str, object]:
    """All four scores plus the mean deletion/insertion curves."""
    deletion = perturbation_curves(predict, images, maps, classes, steps, "deletion")
    insertion = perturbation_curves(predict, images, maps, classes, steps, "insertion")
    drop, increase = average_drop_increase(predict, images, maps, classes)
    return {
        "deletion_auc": float(auc(deletion).mean()),
        "insertion_auc": float(auc(insertion).mean()),
        "average_drop": drop,
        "increase_in_confidence": increase,
        "deletion_curve": deletion.mean(axis=0).tolist(),
        "insertion_curve": insertion.mean(axis=0).tolist(),
    }


def faithfulness_scores(model, method: str, images: np.ndarray, probs: np.ndarray, steps: int, batch_size: int,
                        seed: int) -> tuple[dict, dict, float]:
    """(scores of the real CAM, scores of random maps, CAM img/s) with the predicted class as target."""
    predicted = probs.argmax(axis=1)
    explainer = CamExplainer(model, method)
    explainer(images[:batch_size], predicted[:batch_size], batch_size)  # warm-up: tracing is not throughput
    start = time.perf_counter()
    maps = explainer(images, predicted, batch_size)
    cam_rate = len(images) / (time.perf_counter() - start)

    def predict(x):
        return model.predict_on_batch(x)

    real = faithfulness(predict, images, maps, predicted, steps)
    grid = tuple(model.get_layer(explainer.layer).output.shape[1:3])
    baseline = faithfulness(predict, images, random_maps(maps.shape, seed, grid), predicted, steps)
    return real, baseline, cam_rate
