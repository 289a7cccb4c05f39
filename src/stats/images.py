"""Statistics over the test images, which every run shares: bootstrap intervals, and McNemar's test as a dict.

One value per image and run (0/1 correctness, or a heatmap's faithfulness score). The
percentile bootstraps are scipy's; McNemar's test is ``src.stats.mcnemar``'s, returned here in
the dict the report reads. The two-level bootstrap (seeds, then images, the same drawn images
for every drawn run) is written here, as no library has it; for a paired difference it counts
the per-image disagreement noise twice (once in the seeds' spread, once in the images'), which
``src.stats.difference_intervals`` does not.

Degenerate data: when every value is the same (every image right, or wrong, in every run; two
models that agree on every image) a resample can only repeat it, so the accuracy intervals are
nan rather than a zero-width interval that would claim certainty, and McNemar's test without a
discordant image has no p-value.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats

from src.stats.mcnemar import CHI_SQUARE, EXACT, EXACT_BELOW, mcnemar_test  # noqa: F401 (the report reads them here)

BOOTSTRAP_RESAMPLES = 4000
NO_IMAGE_SPREAD = "the same on every image of every run: no spread to resample"


def constant_reason(values: np.ndarray) -> str:
    """Why a bootstrap over these per-image values is undefined ("" when it is not): they are all equal."""
    values = np.asarray(values, np.float64)
    if values.size and np.ptp(values) == 0:
        if values.flat[0] in (0, 1):
            return f"every image {'right' if values.flat[0] else 'wrong'}: no spread to resample"
        return "the same value on every image: no spread to resample"
    return ""


def bootstrap_accuracy_ci(correct: np.ndarray, n_resamples: int = 2000, level: float = 0.95,
                          seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of a 0/1 vector; (nan, nan) when every value is the same."""
    correct = np.asarray(correct, dtype=np.float64)
    if constant_reason(correct):
        return math.nan, math.nan
    # Batches of 200 keep memory flat for 10k-image test sets (and draw the resamples in the same order).
    result = stats.bootstrap((correct,), np.mean, n_resamples=n_resamples, batch=200, confidence_level=level,
                             method="percentile", random_state=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_difference(heatmap: np.ndarray, baseline: np.ndarray, seed: int, resamples: int = 2000,
                      level: float = 0.95) -> dict:
    """Mean of ``heatmap - baseline`` over the same images, with its percentile bootstrap interval at ``level``."""
    differences = np.asarray(heatmap, np.float64) - np.asarray(baseline, np.float64)
    if np.ptp(differences) == 0:  # every image the same: the interval is the value itself
        value = float(differences.mean())
        return {"difference": value, "ci_low": value, "ci_high": value}
    result = stats.bootstrap((differences,), np.mean, n_resamples=resamples, confidence_level=level,
                             method="percentile", random_state=np.random.default_rng(seed))
    return {"difference": float(differences.mean()), "ci_low": float(result.confidence_interval.low),
            "ci_high": float(result.confidence_interval.high)}


def two_level_bootstrap(correct: dict[int, np.ndarray], other: dict[int, np.ndarray] | None = None,
                        seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval at ``level`` of a mean accuracy (or of a mean paired difference when ``other`` is given).

    Each resample draws the seeds with replacement and, independently, the test images
    with replacement; every drawn run is scored on the same drawn images, as in the study.
    ``correct`` maps training seed -> per-image values (0/1 correctness, or a heatmap score).
    (nan, nan) when every value of every run is the same (``NO_IMAGE_SPREAD``): no resample could differ.
    """
    seeds = sorted(correct if other is None else set(correct) & set(other))
    matrix = np.stack([correct[s].astype(np.float64) for s in seeds])
    if other is not None:
        matrix = matrix - np.stack([other[s].astype(np.float64) for s in seeds])
    if np.ptp(matrix) == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    n_seeds, n_images = matrix.shape
    estimates = np.empty(resamples)
    for start in range(0, resamples, 250):  # chunks keep the image weights at 250 x N
        count = min(250, resamples - start)
        weights = rng.multinomial(n_images, np.full(n_images, 1 / n_images), size=count) / n_images
        per_seed = matrix @ weights.T  # (seeds, count): each run on each resampled test set
        drawn = rng.integers(0, n_seeds, (count, n_seeds))
        estimates[start:start + count] = np.take_along_axis(per_seed.T, drawn, axis=1).mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(estimates, tail)), float(np.quantile(estimates, 1 - tail))


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray, exact_below: int = EXACT_BELOW) -> dict:
    """McNemar's test (``src.stats.mcnemar``) as the report's McNemar table reads it: a dict.

    only_a = images only A gets right, only_b = images only B gets right; ``p`` says which test
    was computed; the statistic is nan with no discordant image.
    """
    result = mcnemar_test(correct_a, correct_b, exact_below)
    return {"only_a": result.only_first, "only_b": result.only_second,
            "statistic": math.nan if result.statistic is None else result.statistic, "p": result.p}
