"""Paired-difference intervals over seeds and images: by hand, against statsmodels' ANOVA, by simulation, degenerate.

The simulation draws per-image correctness of two variants from a known model: image i has a
difficulty z_i and a variant-specific effect w_i (the first variant's logit is z_i + beta/2 + w_i/2,
the second's z_i − beta/2 − w_i/2), and each run (variant, seed) a seed effect e on the logit;
every image of every run is then right with probability expit(logit + e). The expected difference
over the image population and seeds is exact by Gauss-Hermite quadrature (the logit is normal);
the expected difference for a new seed on the drawn images is too, image by image.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy import stats
from scipy.special import expit
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

from src.core.errors import DataError, ParamsError
from src.stats.difference_intervals import NEW_IMAGES, THESE_IMAGES, MeanSquares, over_seeds, over_seeds_and_images, \
    paired_matrix
from src.stats.seeds import NO_DIFFERENCE, t_interval

NODES, WEIGHTS = hermegauss(60)
WEIGHTS = WEIGHTS / WEIGHTS.sum()


def logistic_normal_mean(mean: np.ndarray, sd: float) -> np.ndarray:
    """E[expit(mean + sd · Z)] for standard normal Z."""
    return (expit(np.asarray(mean, np.float64)[..., None] + sd * NODES) * WEIGHTS).sum(axis=-1)


def simulated_study(rng, seeds, images, seed_sd, image_sd, difficulty=(2.0, 1.5), beta=0.1):
    z = rng.normal(*difficulty, images)
    w = rng.normal(0.0, image_sd, images)
    first_logit, second_logit = z + beta / 2 + w / 2, z - beta / 2 - w / 2
    first = rng.random((seeds, images)) < expit(first_logit + rng.normal(0, seed_sd, (seeds, 1)))
    second = rng.random((seeds, images)) < expit(second_logit + rng.normal(0, seed_sd, (seeds, 1)))
    on_these_images = float(np.mean(logistic_normal_mean(first_logit, seed_sd)
                                    - logistic_normal_mean(second_logit, seed_sd)))
    return dict(enumerate(first)), dict(enumerate(second)), on_these_images


def population_difference(seed_sd, image_sd, difficulty=(2.0, 1.5), beta=0.1) -> float:
    sd = np.sqrt(difficulty[1] ** 2 + image_sd ** 2 / 4 + seed_sd ** 2)
    mean = difficulty[0]
    return float(logistic_normal_mean(mean + beta / 2, sd) - logistic_normal_mean(mean - beta / 2, sd))


def coverage(seeds, images, seed_sd, image_sd, studies=400):
    """Share of simulated studies whose intervals cover their targets: over seeds (these images), over
    seeds and images (population), and the over-seeds interval taken, wrongly, for the population."""
    rng = np.random.default_rng(0)
    population = population_difference(seed_sd, image_sd)
    hits = np.zeros(3)
    for _ in range(studies):
        first, second, on_these_images = simulated_study(rng, seeds, images, seed_sd, image_sd)
        these, new = over_seeds(first, second), over_seeds_and_images(first, second)
        hits += [these.reason == "" and these.low <= on_these_images <= these.high,
                 new.reason == "" and new.low <= population <= new.high,
                 these.reason == "" and these.low <= population <= these.high]
    return hits / studies


@pytest.mark.parametrize("seed_sd, image_sd", [
    (0.0, 0.5),   # like the study: the seeds' spread is per-image disagreement alone
    (0.1, 0.5),   # a seed effect about as large as that disagreement
    (0.5, 1.0),   # seed effects dominate
    (0.05, 2.0),  # images dominate: the variants differ image by image
])
def test_both_intervals_cover_their_targets_near_the_nominal_95_percent(seed_sd, image_sd):
    these, new, _ = coverage(5, 400, seed_sd, image_sd)
    assert 0.91 <= these <= 0.99 and 0.91 <= new <= 0.99, (these, new)


def test_the_over_seeds_interval_does_not_generalise_over_images_where_images_matter():
    # When the variants' difference varies from image to image, an interval over seeds alone
    # misses the population difference far more often than 5%; the one over seeds and images does not.
    _, new, these_for_population = coverage(5, 400, 0.05, 3.0)
    assert these_for_population < 0.88 and new >= 0.91


def test_over_seeds_is_the_t_interval_of_the_per_seed_differences():
    rng = np.random.default_rng(3)
    first = {s: rng.random(300) < 0.86 for s in range(4)}
    second = {s: rng.random(300) < 0.85 for s in range(4)}
    second[9] = rng.random(300) < 0.85  # no partner: left out
    per_seed = np.array([first[s].mean() - second[s].mean() for s in range(4)])
    result = over_seeds(first, second, level=0.9)
    assert (result.low, result.high) == pytest.approx(t_interval(per_seed, 0.9), rel=1e-12)
    assert result.difference == pytest.approx(per_seed.mean()) and result.df == 3 and result.seeds == 4
    assert result.std_error == pytest.approx(per_seed.std(ddof=1) / 2) and result.method == THESE_IMAGES


def test_mean_squares_are_statsmodels_two_way_anova_ones():
    rng = np.random.default_rng(1)
    matrix = rng.integers(-1, 2, (4, 7)).astype(float)
    frame = pd.DataFrame([(s, i, matrix[s, i]) for s in range(4) for i in range(7)], columns=["seed", "image", "x"])
    table = anova_lm(ols("x ~ C(seed) + C(image)", frame).fit())
    squares = MeanSquares.of(matrix)
    assert squares.seeds == pytest.approx(table.loc["C(seed)", "mean_sq"])
    assert squares.images == pytest.approx(table.loc["C(image)", "mean_sq"])
    assert squares.residual == pytest.approx(table.loc["Residual", "mean_sq"])


def test_over_seeds_and_images_by_hand():
    rng = np.random.default_rng(2)
    first = {s: (rng.random(50) < 0.8).astype(float) for s in range(3)}
    second = {s: (rng.random(50) < 0.7).astype(float) for s in range(3)}
    matrix = paired_matrix(first, second)
    per_seed, per_image = matrix.mean(axis=1), matrix.mean(axis=0)
    residual = MeanSquares.of(matrix).residual
    # The seed mean's variance, plus the image variance of the seed-mean per-image differences less
    # the residual's share (the per-image disagreement, already in the seeds' spread).
    image_component = per_image.var(ddof=1) / 50 - residual / (3 * 50)
    assert image_component > 0
    variance = per_seed.var(ddof=1) / 3 + image_component
    ms_seeds, ms_images = 50 * per_seed.var(ddof=1), 3 * per_image.var(ddof=1)
    df = (ms_seeds + ms_images - residual) ** 2 / (ms_seeds ** 2 / 2 + ms_images ** 2 / 49 + residual ** 2 / 98)
    half = stats.t.ppf(0.975, max(df, 2)) * np.sqrt(variance)
    result = over_seeds_and_images(first, second)
    assert result.std_error == pytest.approx(np.sqrt(variance)) and result.df == pytest.approx(max(df, 2))
    assert (result.low, result.high) == pytest.approx((matrix.mean() - half, matrix.mean() + half))
    assert result.method == NEW_IMAGES and (result.seeds, result.images) == (3, 50)


def test_an_image_component_estimated_below_zero_leaves_the_over_seeds_interval():
    # Per-image differences that vary less between images than the seed x image residual does.
    matrix = np.array([[1, 0, 0, -1, -1, -1], [-1, -1, -1, 1, 0, 1], [0, 0, 1, 1, 0, 0]], float)
    first, second = dict(enumerate(matrix)), {s: np.zeros(6) for s in range(3)}
    squares = MeanSquares.of(matrix)
    assert squares.images < squares.residual
    result, these = over_seeds_and_images(first, second), over_seeds(first, second)
    assert (result.low, result.high, result.df) == pytest.approx((these.low, these.high, 2))


@pytest.mark.parametrize("first, second, reason", [
    ({0: np.array([1, 0, 1])}, {0: np.array([0, 0, 1])}, "one seed: no spread to measure"),
    ({}, {}, "no seeds"),
    ({0: np.array([1, 0, 1]), 1: np.array([1, 0, 1])}, {0: np.array([1, 0, 1]), 1: np.array([1, 0, 1])},
     NO_DIFFERENCE),
    ({0: np.array([1, 0, 1]), 1: np.array([0, 1, 1])}, {0: np.array([0, 0, 1]), 1: np.array([0, 0, 1])},
     "the same on every seed: zero spread"),
    ({0: np.array([]), 1: np.array([])}, {0: np.array([]), 1: np.array([])}, "no test images"),
])
def test_degenerate_data_give_no_interval_and_say_why(first, second, reason):
    for result in (over_seeds(first, second), over_seeds_and_images(first, second)):
        assert (result.low, result.high, result.std_error) == (None, None, None) and result.reason == reason


def test_one_image_gives_an_interval_on_it_but_none_beyond_it():
    first, second = {0: np.array([1]), 1: np.array([0]), 2: np.array([1])}, {s: np.array([0]) for s in range(3)}
    assert over_seeds(first, second).reason == ""
    assert over_seeds_and_images(first, second).reason == "one test image: no image spread to measure"


def test_bad_input_is_refused():
    with pytest.raises(DataError, match="one value per test image"):
        over_seeds({0: np.zeros(3), 1: np.zeros(3)}, {0: np.zeros(3), 1: np.zeros(4)})
    with pytest.raises(ParamsError, match="level"):
        over_seeds_and_images({0: np.zeros(3)}, {0: np.zeros(3)}, level=95)
