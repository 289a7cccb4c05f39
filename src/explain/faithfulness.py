"""How faithful is a heatmap? The faithfulness metrics, one ``Metric`` entry each in ``METRICS``.

- Deletion (Petsiuk et al., 2018, RISE): remove pixels most-important-first (replace them with
  the image's mean colour) and follow the target-class probability; a faithful map makes it
  fall fast, so **lower AUC is better**.
- Insertion: start from the all-removed image and put pixels back most-important-first;
  **higher AUC is better**.
- Average Drop and Increase in Confidence (Chattopadhay et al., 2018, Grad-CAM++): feed the
  image multiplied by its map; AD = mean relative drop of the target probability (lower is
  better), IC = share of images whose probability rises (higher is better).
- ROAD (src/explain/road.py): most- and least-relevant-first removal with noisy linear
  imputation, which does not leak the mask's outline through the fill; LeRF − MoRF, higher is better.

An entry says how the metric is computed per image from a ``MapProbe`` (which computes each
perturbation a metric reads once per map), which way is better, how the report labels, formats
and describes it, and whether it reads only the order of the map's pixels or also its values
(its mass). The heatmap study scores, compares and ranks every compared entry
(src/explain/heatmap_study.py); the report tables and counts them (src/report/tables.py).

Each is also computed for two baselines a faithful heatmap must beat, on the same images:
a random heatmap drawn at the CAM's own resolution, and the image's Sobel edges (where a
model-free saliency would look). A metric that uses the mass multiplies the image by the map,
so for it a baseline is first rescaled to the CAM's mass (``matched_mass``). A heatmap beats a
baseline on a metric when the bootstrap 95% interval of the paired difference over images
excludes zero on the better side (``paired_difference``, src/explain/significance.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.ndimage import sobel, zoom

from src.explain.road import FRACTIONS, road_scores

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


def target_probability(predict: Predict, images: np.ndarray, classes: np.ndarray,
                       batch_size: int = 512) -> np.ndarray:
    """Per image, the probability of its class in ``classes``, shape (N,)."""
    probs = np.concatenate([predict(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    return probs[np.arange(len(images)), classes]


def relative_drop(full: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """Per image, how much of the target probability ``full`` is lost on the masked image, in %."""
    drop = np.maximum(full - masked, 0) / np.maximum(full, 1e-12)
    return 100 * drop


def rose(full: np.ndarray, masked: np.ndarray) -> np.ndarray:
    """Per image, 100 where the masked image's target probability is above the full image's, else 0."""
    return 100 * (masked > full).astype(np.float64)


def drop_and_increase(
    predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, batch_size: int = 512,
) -> tuple[np.ndarray, np.ndarray]:
    """Per image: the relative drop (%) of the target probability on ``images * maps``, and 100 if it rose."""
    images = np.asarray(images, np.float32)
    full = target_probability(predict, images, classes, batch_size)
    masked = target_probability(predict, images * maps[..., None], classes, batch_size)
    return relative_drop(full, masked), rose(full, masked)


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


@dataclass
class MapProbe:
    """One heatmap's perturbations of the images, each computed when a metric first reads it.

    ``maps`` rank the pixels (deletion, insertion, ROAD); ``mass_maps`` (by default ``maps``)
    multiply the image (Average Drop, Increase in Confidence).
    """

    predict: Predict
    images: np.ndarray
    maps: np.ndarray
    classes: np.ndarray
    steps: int = 16
    seed: int = 0
    mass_maps: np.ndarray | None = None

    @cached_property
    def deletion_curves(self) -> np.ndarray:
        """(N, steps + 1): the target probability as pixels are removed most-important-first."""
        return perturbation_curves(self.predict, self.images, self.maps, self.classes, self.steps, "deletion")

    @cached_property
    def insertion_curves(self) -> np.ndarray:
        """(N, steps + 1): the target probability as pixels are put back most-important-first."""
        return perturbation_curves(self.predict, self.images, self.maps, self.classes, self.steps, "insertion")

    @cached_property
    def road(self) -> dict[str, np.ndarray]:
        """Per image ``road_morf``, ``road_lerf`` and ``road`` (src/explain/road.py)."""
        return road_scores(self.predict, self.images, self.maps, self.classes, self.seed)

    @cached_property
    def target_probabilities(self) -> tuple[np.ndarray, np.ndarray]:
        """Per image, the target probability on the image and on the image multiplied by its mass map."""
        images = np.asarray(self.images, np.float32)
        mass = self.maps if self.mass_maps is None else self.mass_maps
        return (target_probability(self.predict, images, self.classes),
                target_probability(self.predict, images * mass[..., None], self.classes))


@dataclass(frozen=True)
class Metric:
    """One faithfulness score of a heatmap: how it is computed per image, which way is better, how it is shown."""

    name: str                 # its field in metrics/cam and data/cam, and after "cam_" in metrics/compare
    title: str                # its name in the report's prose
    label: str                # its column in the report's tables, with the better direction
    lower_is_better: bool
    number_format: str        # of its values and differences in the report
    per_image: Callable[[MapProbe], np.ndarray]
    # True: it multiplies the image by the map, so a baseline is rescaled to the map's mass first;
    # False: it reads only the map's order of pixels, so a baseline's score serves every map of its grid.
    uses_mass: bool = False
    description: str = ""     # its clause in the report's "Metrics:" sentence; "" where a neighbour's covers it
    # False: recorded with the scores but neither compared with the baselines nor ranked on its own
    # (ROAD's two halves, whose difference ROAD is).
    compared: bool = True


METRICS: dict[str, Metric] = {metric.name: metric for metric in (
    Metric("deletion_auc", title="deletion AUC", label="deletion AUC ↓", lower_is_better=True,
           number_format="{:.3f}", per_image=lambda probe: auc(probe.deletion_curves),
           description="deletion/insertion AUC of the target probability as pixels are removed/inserted "
                       "most-important-first (mean-colour fill)"),
    Metric("insertion_auc", title="insertion AUC", label="insertion AUC ↑", lower_is_better=False,
           number_format="{:.3f}", per_image=lambda probe: auc(probe.insertion_curves)),
    Metric("average_drop", title="Average Drop", label="Average Drop % ↓", lower_is_better=True,
           number_format="{:.1f}", per_image=lambda probe: relative_drop(*probe.target_probabilities),
           uses_mass=True, description="Average Drop and Increase in Confidence on the image multiplied by its map"),
    Metric("increase_in_confidence", title="Increase in Confidence", label="Increase in Conf. % ↑",
           lower_is_better=False, number_format="{:.1f}", per_image=lambda probe: rose(*probe.target_probabilities),
           uses_mass=True),
    Metric("road_morf", title="ROAD MoRF", label="ROAD MoRF ↓", lower_is_better=True, number_format="{:.3f}",
           per_image=lambda probe: probe.road["road_morf"], compared=False),
    Metric("road_lerf", title="ROAD LeRF", label="ROAD LeRF ↑", lower_is_better=False, number_format="{:.3f}",
           per_image=lambda probe: probe.road["road_lerf"], compared=False),
    Metric("road", title="ROAD", label="ROAD ↑", lower_is_better=False, number_format="{:.3f}",
           per_image=lambda probe: probe.road["road"],
           description=f"ROAD = LeRF − MoRF with noisy linear imputation ({100 * FRACTIONS[0]:.0f}-"
                       f"{100 * FRACTIONS[-1]:.0f}% removed), a fill that does not leak the mask's outline"),
)}


def compared_metrics() -> list[Metric]:
    """The metrics the study compares with the baselines and ranks, in the report's order."""
    return [metric for metric in METRICS.values() if metric.compared]


def order_scores(predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, steps: int = 16,
                 seed: int = 0) -> dict[str, object]:
    """The scores that use only the order of ``maps`` (deletion, insertion, ROAD, ...) and the mean curves.

    Returns ``per_image`` {metric: (N,)} and the mean ``deletion_curve`` / ``insertion_curve``.
    """
    probe = MapProbe(predict, images, maps, classes, steps, seed)
    per_image = {metric.name: metric.per_image(probe) for metric in METRICS.values() if not metric.uses_mass}
    return {"per_image": per_image, "deletion_curve": probe.deletion_curves.mean(axis=0).tolist(),
            "insertion_curve": probe.insertion_curves.mean(axis=0).tolist()}


def faithfulness(
    predict: Predict, images: np.ndarray, maps: np.ndarray, classes: np.ndarray, steps: int = 16,
    mass_maps: np.ndarray | None = None, order: dict | None = None, seed: int = 0,
) -> dict[str, object]:
    """Every metric's mean, its values per image (``per_image``) and the mean deletion/insertion curves.

    The metrics that use only the order of ``maps`` come from ``order`` when given (``order_scores``
    of the same maps, computed once for a baseline shared by many maps); those that use the mass
    multiply the image by ``mass_maps`` when given (a baseline rescaled to the mass of the map it is
    compared with, see ``matched_mass``).
    """
    order = order or order_scores(predict, images, maps, classes, steps, seed)
    probe = MapProbe(predict, images, maps, classes, steps, seed, mass_maps)
    per_image = {**order["per_image"],
                 **{metric.name: metric.per_image(probe) for metric in METRICS.values() if metric.uses_mass}}
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
