"""ROAD: Remove And Debias (Rong et al., 2022), a perturbation test that does not leak through the fill.

Deletion with a constant fill leaks: the *shape* of the filled region tells the model where
the important pixels were, so a heatmap can look faithful for the wrong reason. ROAD fills
each removed pixel by noisy linear imputation instead: the value that is the weighted mean
of its 8 neighbours (weight 1/6 for the 4 direct ones, 1/12 for the diagonals; known pixels
fixed, removed ones solved together as one sparse linear system), plus a little Gaussian
noise, so the fill carries no trace of the mask's outline.

For each fraction in ``FRACTIONS`` the pixels are ranked by the heatmap and
- MoRF (most relevant first) removes the top fraction: a faithful map makes the target
  probability fall (lower is better);
- LeRF (least relevant first) removes the bottom fraction: the probability should hold
  (higher is better).
``road`` = mean LeRF − mean MoRF over the fractions (higher is better), the combined score.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.linalg import spsolve

FRACTIONS = (0.2, 0.4, 0.6, 0.8)
NOISE_STD = 0.01 * 255  # ROAD's noise of 0.01 on [0, 1] images, for raw [0, 255] pixels
# (dy, dx, weight) of the 8 neighbours.
NEIGHBOURS = tuple((dy, dx, 1 / 6 if dy == 0 or dx == 0 else 1 / 12)
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def impute(images: np.ndarray, removed: np.ndarray, seed: int = 0) -> np.ndarray:
    """``images`` (N, H, W, C) with the ``removed`` (N, H, W) pixels replaced by noisy linear imputation."""
    images = np.asarray(images, np.float64)
    n, height, width, channels = images.shape
    unknown = np.flatnonzero(removed.reshape(-1))
    if unknown.size == 0:
        return images.astype(np.float32)
    index = np.full(removed.size, -1, np.int64)
    index[unknown] = np.arange(unknown.size)
    img, y, x = np.unravel_index(unknown, removed.shape)
    flat = images.reshape(-1, channels)
    rows, cols, values = [], [], []
    diagonal = np.zeros(unknown.size)
    rhs = np.zeros((unknown.size, channels))
    for dy, dx, weight in NEIGHBOURS:
        ny, nx = y + dy, x + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        me = np.flatnonzero(inside)
        neighbour = np.ravel_multi_index((img[me], ny[me], nx[me]), removed.shape)
        diagonal[me] += weight
        solved = index[neighbour] >= 0
        rows.append(me[solved])
        cols.append(index[neighbour[solved]])
        values.append(np.full(int(solved.sum()), -weight))
        known = me[~solved]
        rhs[known] += weight * flat[neighbour[~solved]]
    rows.append(np.arange(unknown.size))
    cols.append(np.arange(unknown.size))
    values.append(diagonal)
    system = csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                        shape=(unknown.size, unknown.size))
    solution = spsolve(system.tocsc(), rhs).reshape(unknown.size, channels)
    noise = np.random.default_rng(seed).normal(0.0, NOISE_STD, solution.shape)
    out = flat.copy()
    out[unknown] = np.clip(solution + noise, 0, 255)
    return out.reshape(images.shape).astype(np.float32)


def ranked_mask(maps: np.ndarray, fraction: float, most_relevant: bool) -> np.ndarray:
    """(N, H, W) bool: the ``fraction`` of pixels with the highest (or lowest) map values; ties by position."""
    n = maps.shape[0]
    scores = maps.reshape(n, -1)
    order = np.argsort(-scores if most_relevant else scores, axis=1, kind="stable")
    count = int(round(fraction * scores.shape[1]))
    mask = np.zeros_like(scores, dtype=bool)
    np.put_along_axis(mask, order[:, :count], True, axis=1)
    return mask.reshape(maps.shape)


def road_scores(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, maps: np.ndarray,
                classes: np.ndarray, seed: int = 0, batch_size: int = 512) -> dict[str, np.ndarray]:
    """Per image: ``road_morf`` and ``road_lerf`` (mean target probability over FRACTIONS) and ``road``."""
    idx = np.arange(len(images))
    results = {"road_morf": [], "road_lerf": []}
    for step, fraction in enumerate(FRACTIONS):
        for key, most in (("road_morf", True), ("road_lerf", False)):
            imputed = np.concatenate([
                impute(images[i:i + 64], ranked_mask(maps[i:i + 64], fraction, most), seed + 1000 * step + i)
                for i in range(0, len(images), 64)])
            probs = np.concatenate([predict(imputed[i:i + batch_size]) for i in range(0, len(imputed), batch_size)])
            results[key].append(probs[idx, classes])
    morf, lerf = np.mean(results["road_morf"], axis=0), np.mean(results["road_lerf"], axis=0)
    return {"road_morf": morf, "road_lerf": lerf, "road": lerf - morf}
