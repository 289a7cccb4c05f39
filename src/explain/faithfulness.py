"""How faithful is a heatmap? Deletion/insertion AUC and Average Drop / Increase in Confidence.

- Deletion (Petsiuk et al., 2018, RISE): remove pixels most-important-first (replace them with
  the image's mean colour) and follow the target-class probability; a faithful map makes it
  fall fast, so **lower AUC is better**.
- Insertion: start from the all-removed image and put pixels back most-important-first;
  **higher AUC is better**.
- Average Drop and Increase in Confidence (Chattopadhay et al., 2018, Grad-CAM++): feed the
  image multiplied by its map; AD = mean relative drop of the target probability (lower is
  better), IC = share of images whose probability rises (higher is better).
- ROAD (src/explain/road.py): most- and least-relevant-first removal with noisy linear
  imputation, which does not leak the mask's shape through the fill; LeRF − MoRF, higher is better.

Each is also computed for two baselines a faithful heatmap must beat, on the same images:
a random heatmap drawn at the CAM's own resolution, and the image's Sobel edges (where a
model-free saliency would look). AD and IC multiply the image by the map, so for them a
baseline is first rescaled to the CAM's mass (``matched_mass``). A heatmap beats a
baseline on a metric when the bootstrap 95% interval of the paired difference over images
excludes zero on the better side (``paired_difference``, ``beats``).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import sobel, zoom

from src.explain.road import road_scores

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


def drop_and_increase(
    predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """Per image: the relative drop (%) of the target probability on ``images * maps``, and 100 if it rose."""
    images = np.asarray(images, np.float32)
    idx = np.arange(len(images))

    def target(x: np.ndarray) -> np.ndarray:
        probs = np.concatenate([predict(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        return probs[idx, classes]

    full = target(images)
    masked = target(images * maps[..., None])
    drop = np.maximum(full - masked, 0) / np.maximum(full, 1e-12)
    return 100 * drop, 100 * (masked > full).astype(np.float64)


def average_drop_increase(
    predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, batch_size: int = 512,
) -> tuple[float, float]:
    """(Average Drop %, Increase in Confidence %) of the explanation maps ``images * maps``."""
    drop, increase = drop_and_increase(predict, images, maps, classes, batch_size)
    return float(drop.mean()), float(increase.mean())


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


def order_scores(predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, steps: int = 16,
                 seed: int = 0) -> dict[str, object]:
    """The scores that use only the order of ``maps``: deletion and insertion (AUC and mean curve) and ROAD.

    Returns ``per_image`` {metric: (N,)} and the mean ``deletion_curve`` / ``insertion_curve``.
    """
    deletion = perturbation_curves(predict, images, maps, classes, steps, "deletion")
    insertion = perturbation_curves(predict, images, maps, classes, steps, "insertion")
    per_image = {"deletion_auc": auc(deletion), "insertion_auc": auc(insertion),
                 **road_scores(predict, images, maps, classes, seed)}
    return {"per_image": per_image, "deletion_curve": deletion.mean(axis=0).tolist(),
            "insertion_curve": insertion.mean(axis=0).tolist()}


def faithfulness(
    predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, steps: int = 16,
    mass_maps: np.ndarray | None = None, order: dict | None = None, seed: int = 0,
) -> dict[str, object]:
    """Every score (means), their values per image (``per_image``) and the mean deletion/insertion curves.

    Deletion, insertion and ROAD use only the order of ``maps`` (pass ``order`` from
    ``order_scores`` to reuse them); Average Drop and Increase in Confidence multiply the
    image by a map, so they use ``mass_maps`` when given (a baseline rescaled to the mass
    of the map it is compared with, see ``matched_mass``).
    """
    order = order or order_scores(predict, images, maps, classes, steps, seed)
    drop, increase = drop_and_increase(predict, images, maps if mass_maps is None else mass_maps, classes)
    per_image = {**order["per_image"], "average_drop": drop, "increase_in_confidence": increase}
    return {
        **{name: float(values.mean()) for name, values in per_image.items()},
        "per_image": per_image,
        "deletion_curve": order["deletion_curve"],
        "insertion_curve": order["insertion_curve"],
    }


# The baselines every heatmap is compared with.
BASELINES = ("random", "edge")


def matched_mass(baseline: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """``baseline`` rescaled per image to the mean of ``maps`` (then clipped to [0, 1]).

    Average Drop and Increase in Confidence feed ``image * map``, so a map's total mass
    alone moves them: a uniform random map keeps half of every pixel where a CAM keeps its
    peak. Matching the mass leaves only *where* the mass sits to be compared.
    """
    scale = maps.mean(axis=(1, 2), keepdims=True) / np.maximum(baseline.mean(axis=(1, 2), keepdims=True), 1e-12)
    return np.clip(baseline * scale, 0.0, 1.0).astype(np.float32)


def edge_maps(images: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude of each grey image, scaled to [0, 1]: where the edges are, no model needed."""
    grey = np.asarray(images, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    magnitude = np.hypot(sobel(grey, axis=1), sobel(grey, axis=2))
    peak = magnitude.max(axis=(1, 2), keepdims=True)
    return (magnitude / np.maximum(peak, 1e-12)).astype(np.float32)
