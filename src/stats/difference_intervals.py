"""Intervals for a paired difference between two variants over seeds and the shared test images.

Data: per training seed s and test image i, x[s, i] = first − second (0/1 correctness, so
−1, 0 or 1; or a per-image score), runs paired by seed. Two questions, two intervals:

- ``over_seeds``: the expected difference for a new training seed **on these test images**.
  Given the images, the per-seed differences d_s = mean_i x[s, i] are independent draws, and
  their spread already holds all the noise of this question, the per-image disagreement
  between the two seeds' models included: the Student-t interval of the d_s over seeds.
- ``over_seeds_and_images``: the expected difference for a new seed on **new test images**
  from the same distribution. Under the crossed random-effects model x[s, i] = mu + seed_s +
  image_i + residual_si, the grand mean's variance is sigma²_seed / S + sigma²_image / N +
  sigma²_residual / (S N). The first interval's squared standard error, var(d_s) / S, already
  estimates the first and the third; what is missing is the image term, estimated by the image
  variance of the seed-mean per-image difference c_i = mean_s x[s, i] less its share of the
  residual: (var(c_i) − MS_residual / S) / N. A bootstrap that resamples seeds and images
  independently adds var(d_s) / S and var(c_i) / N whole, so counts the residual (the
  per-image disagreement noise) at least twice and overstates the variance: the known bias of
  resampling both factors of a crossed design (McCullagh 2000; Owen 2007, "the pigeonhole
  bootstrap"). The image component is taken as zero when
  estimated below zero, and the t has Satterthwaite's degrees of freedom, at least the seeds' S − 1.

Both intervals were checked by simulation (tests/stats/test_difference_intervals.py): per-image
correctness drawn from image difficulty, a per-variant image effect and a per-run seed effect,
both cover their target near the nominal rate over seed- and image-dominated settings.
On degenerate data (one seed, no spread over seeds, one image) an interval is undefined and says why.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from src.core.errors import DataError, ParamsError
from src.stats.seeds import no_spread_reason

THESE_IMAGES = "over training seeds, on these test images (Student t of the per-seed differences)"
NEW_IMAGES = "over training seeds and test images (crossed random effects, image noise counted once)"


@dataclass(frozen=True)
class DifferenceInterval:
    """Mean paired difference first − second with its interval at ``level``; None with ``reason`` if undefined.

    ``method`` says what the interval generalises over; ``std_error`` and ``df`` are those of its t.
    """

    difference: float | None
    low: float | None
    high: float | None
    level: float
    seeds: int
    images: int
    std_error: float | None
    df: float | None
    method: str
    reason: str = ""


@dataclass(frozen=True)
class MeanSquares:
    """The two-way (seeds x images, one value per cell) ANOVA mean squares of the paired differences."""

    seeds: float
    images: float
    residual: float
    n_seeds: int
    n_images: int

    @classmethod
    def of(cls, matrix: np.ndarray) -> "MeanSquares":
        n_seeds, n_images = matrix.shape
        grand = matrix.mean()
        per_seed, per_image = matrix.mean(axis=1), matrix.mean(axis=0)
        residual = matrix - per_seed[:, None] - per_image[None, :] + grand
        return cls(seeds=n_images * float(np.sum((per_seed - grand) ** 2)) / (n_seeds - 1),
                   images=n_seeds * float(np.sum((per_image - grand) ** 2)) / (n_images - 1),
                   residual=float(np.sum(residual ** 2)) / ((n_seeds - 1) * (n_images - 1)),
                   n_seeds=n_seeds, n_images=n_images)

    def mean_variance(self) -> tuple[float, float]:
        """The grand mean's estimated variance and its Satterthwaite degrees of freedom (at least S − 1).

        S N · V = MS_seeds + max(MS_images − MS_residual, 0): MS_seeds / (S N) = var(d_s) / S is
        the seed mean's squared standard error, (MS_images − MS_residual) / (S N) the image
        component over N. Satterthwaite's degrees of freedom for this combination fall below the
        seeds' own when the image term is small and noisy (the difference of two mean squares);
        they are bounded by S − 1, which the seed term alone has.
        """
        seeds_df, images_df = self.n_seeds - 1, self.n_images - 1
        terms = [(self.seeds, seeds_df)]
        if self.images > self.residual:
            terms += [(self.images, images_df), (-self.residual, seeds_df * images_df)]
        total = sum(ms for ms, _ in terms)
        satterthwaite = total ** 2 / sum(ms ** 2 / df for ms, df in terms)
        return total / (self.n_seeds * self.n_images), max(satterthwaite, float(seeds_df))


def paired_matrix(first: dict[int, np.ndarray], second: dict[int, np.ndarray]) -> np.ndarray:
    """The seeds x images matrix of first − second on the training seeds both have (sorted)."""
    seeds = sorted(set(first) & set(second))
    shapes = {np.shape(first[s]) for s in seeds} | {np.shape(second[s]) for s in seeds}
    if len(shapes) > 1 or any(len(shape) != 1 for shape in shapes):
        raise DataError(f"paired per-image values: every run needs one value per test image, got shapes "
                        f"{sorted(shapes)}")
    if not seeds:
        return np.zeros((0, 0))
    return np.stack([np.asarray(first[s], np.float64) - np.asarray(second[s], np.float64) for s in seeds])


def _undefined_reason(matrix: np.ndarray, images_needed: int) -> str:
    """Why no interval is possible on this seeds x images matrix; "" when one is.

    Both intervals need spread over seeds (the seed term); the one over images needs two images.
    """
    n_seeds, n_images = matrix.shape
    if n_seeds and not n_images:
        return "no test images"
    reason = no_spread_reason(matrix.mean(axis=1) if n_seeds else np.zeros(0))
    if reason or n_images >= images_needed:
        return reason
    return "one test image: no image spread to measure"


def _interval(matrix: np.ndarray, level: float, images_needed: int, method: str,
              variance_and_df: Callable[[np.ndarray], tuple[float, float]]) -> DifferenceInterval:
    if not 0 < level < 1:
        raise ParamsError(f"interval level must be between 0 and 1, got {level}")
    n_seeds, n_images = matrix.shape
    difference = float(matrix.mean()) if matrix.size else None
    reason = _undefined_reason(matrix, images_needed)
    if reason:
        return DifferenceInterval(difference, None, None, level, n_seeds, n_images, None, None, method, reason)
    variance, df = variance_and_df(matrix)
    std_error = math.sqrt(variance)
    half = float(stats.t.ppf(0.5 + level / 2, df)) * std_error
    return DifferenceInterval(difference, difference - half, difference + half, level, n_seeds, n_images,
                              std_error, float(df), method)


def _seed_mean_variance(matrix: np.ndarray) -> tuple[float, float]:
    per_seed = matrix.mean(axis=1)
    return float(per_seed.var(ddof=1)) / len(per_seed), float(len(per_seed) - 1)


def over_seeds(first: dict[int, np.ndarray], second: dict[int, np.ndarray], level: float = 0.95) -> DifferenceInterval:
    """The expected first − second for a new training seed on these test images: Student t over the seeds' d_s.

    ``first`` and ``second`` map training seed -> per-image values (0/1 correctness or a
    score); runs are paired by the seeds both have. The same interval as ``seeds.t_interval``
    on the per-seed accuracy differences.
    """
    return _interval(paired_matrix(first, second), level, 1, THESE_IMAGES, _seed_mean_variance)


def over_seeds_and_images(first: dict[int, np.ndarray], second: dict[int, np.ndarray],
                          level: float = 0.95) -> DifferenceInterval:
    """The expected first − second for a new training seed on new test images, image noise counted once.

    Design: the over-seeds interval's variance var(d_s) / S already holds the per-image
    disagreement noise, so only the image component, the seed-mean per-image differences'
    variance less that noise ((MS_images − MS_residual) / (S N), zero if negative), is added,
    which is the crossed random-effects model's unbiased variance of the grand mean.
    """
    return _interval(paired_matrix(first, second), level, 2, NEW_IMAGES,
                     lambda matrix: MeanSquares.of(matrix).mean_variance())
