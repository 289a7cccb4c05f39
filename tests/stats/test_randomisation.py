"""The randomisation check against seed-to-seed agreement: Wilcoxon by hand and against scipy, Holm, degenerate."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from src.core.errors import DataError
from src.stats.pvalue import holm
from src.stats.randomisation import WILCOXON_EXACT, WILCOXON_NORMAL, randomisation_check, randomisation_checks


def correlations(rng, images, randomised_mean, trained_mean=0.6):
    return (np.clip(rng.normal(randomised_mean, 0.15, images), -1, 1),
            np.clip(rng.normal(trained_mean, 0.15, images), -1, 1))


def test_every_image_lower_gives_the_exact_smallest_p():
    randomised, trained = np.array([0.1, 0.2, 0.15, 0.3, 0.05]), np.array([0.6, 0.5, 0.7, 0.65, 0.45])
    result = randomisation_check(randomised, trained)
    # All five differences negative and distinct (0.5, 0.3, 0.55, 0.35, 0.4): the rank sum of the
    # positive ones is 0, P = 1 / 2^5.
    assert result.p.value == pytest.approx(1 / 32) and result.p.method == WILCOXON_EXACT
    assert result.passes and result.images == 5 and result.dropped == 0
    assert result.difference == pytest.approx(np.mean(randomised - trained))
    assert result.low <= result.difference <= result.high < 0


def test_p_is_scipys_one_sided_wilcoxon_and_a_map_that_ignores_the_weights_fails():
    rng = np.random.default_rng(0)
    randomised, trained = correlations(rng, 50, 0.3)
    result = randomisation_check(randomised, trained)
    assert result.p.value == pytest.approx(stats.wilcoxon(randomised - trained, alternative="less").pvalue)
    assert result.passes
    # A map as correlated with the randomised model's as with another trained seed's: no pass.
    same_randomised, same_trained = correlations(rng, 50, 0.6)
    assert not randomisation_check(same_randomised, same_trained).passes


def test_over_50_images_or_with_ties_the_normal_approximation_is_used_and_named():
    rng = np.random.default_rng(1)
    randomised, trained = correlations(rng, 80, 0.5)
    result = randomisation_check(randomised, trained)
    assert result.p.method == WILCOXON_NORMAL
    assert result.p.value == pytest.approx(stats.wilcoxon(randomised - trained, alternative="less",
                                                          method="asymptotic").pvalue)
    # −0.2 on every image, up to floating-point rounding: one tied value, no interval to resample.
    tied = randomisation_check(np.array([0.1, 0.2, 0.3]), np.array([0.3, 0.4, 0.5]))
    assert tied.p.method == WILCOXON_NORMAL and tied.low == tied.high == tied.difference == pytest.approx(-0.2)


def test_images_without_a_correlation_are_dropped_and_counted():
    randomised = np.array([0.1, np.nan, 0.15, 0.3, 0.05, 0.2])
    trained = np.array([0.6, 0.5, 0.7, np.nan, 0.45, 0.55])
    result = randomisation_check(randomised, trained)
    assert (result.images, result.dropped) == (4, 2) and result.p.value == pytest.approx(1 / 16)


def test_holm_over_the_maps_checked_together():
    rng = np.random.default_rng(2)
    maps = {"stage2/LayerCAM": correlations(rng, 50, 0.2), "fused/LayerCAM": correlations(rng, 50, 0.52),
            "stage3/GradCAM": correlations(rng, 50, 0.6)}
    checks = randomisation_checks(maps)
    alone = [randomisation_check(*pair).p.value for pair in maps.values()]
    assert [c.p_holm for c in checks.values()] == pytest.approx(holm(alone))
    assert [c.passes for c in checks.values()] == [p < 0.05 for p in holm(alone)]
    assert checks["stage2/LayerCAM"].passes and not checks["stage3/GradCAM"].passes


@pytest.mark.parametrize("randomised, trained, reason", [
    (np.array([0.4, 0.5, 0.3]), np.array([0.4, 0.5, 0.3]),
     "the two correlations are equal on every image: nothing to rank"),
    (np.array([np.nan, 0.5]), np.array([0.4, np.nan]), "no image with both correlations"),
    (np.array([]), np.array([]), "no image with both correlations"),
])
def test_degenerate_correlations_give_no_test_and_no_pass(randomised, trained, reason):
    result = randomisation_check(randomised, trained)
    assert result.p.value is None and result.reason == reason and not result.passes
    assert (result.low, result.high) == (None, None)
    assert randomisation_checks({"m": (randomised, trained)})["m"].p_holm is None


def test_mismatched_images_are_refused():
    with pytest.raises(DataError, match="one correlation per image"):
        randomisation_check(np.zeros(3), np.zeros(4))
