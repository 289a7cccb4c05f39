"""The detectable difference's interval (chi-square interval of sigma): by hand, by simulation, on degenerate data."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from src.core.errors import ParamsError
from src.models.variants import BASELINE
from src.report.seeds import seed_level_tests
from src.stats.detectable import detectable_difference, std_interval
from src.stats.seeds import NO_DIFFERENCE, minimum_detectable_difference, paired_differences
from tests.stats.test_same_numbers import study_accuracies

DIFFERENCES = np.array([0.001, -0.002, 0.003, 0.0, 0.002])


def test_value_is_the_t_tests_detectable_difference_at_the_strictest_holm_level():
    result = detectable_difference(DIFFERENCES, comparisons=3)
    std = DIFFERENCES.std(ddof=1)
    assert result.value == pytest.approx(minimum_detectable_difference(std, 5, alpha=0.05 / 3), rel=1e-12)
    assert result.test_alpha == pytest.approx(0.05 / 3) and result.seeds == 5 and result.power == 0.8
    assert result.reason == ""


def test_interval_is_the_chi_square_interval_of_sigma_times_the_standardised_effect():
    result = detectable_difference(DIFFERENCES, comparisons=3)
    std = DIFFERENCES.std(ddof=1)
    # df = 4: chi2 quantiles 11.1433 (97.5%) and 0.48442 (2.5%); sigma in [0.599, 2.873] x s.
    low_sigma, high_sigma = std * math.sqrt(4 / 11.143287), std * math.sqrt(4 / 0.484419)
    assert std_interval(std, 5) == pytest.approx((low_sigma, high_sigma), rel=1e-5)
    k = result.value / std
    assert (result.low, result.high) == pytest.approx((k * low_sigma, k * high_sigma), rel=1e-5)
    assert result.low < result.value < result.high and result.level == 0.95
    narrower = detectable_difference(DIFFERENCES, comparisons=3, level=0.5)
    assert result.low < narrower.low < narrower.value < narrower.high < result.high


def test_the_sigma_interval_covers_the_true_sigma_at_its_level():
    """Normal paired differences from five seeds: the interval (hence k · sigma, the true detectable
    difference) is covered about 95% of the time."""
    rng = np.random.default_rng(0)
    sigma, covered, studies = 0.002, 0, 3000
    for sample in rng.normal(0.0, sigma, (studies, 5)):
        low, high = std_interval(float(sample.std(ddof=1)), 5)
        covered += low <= sigma <= high
    assert covered / studies == pytest.approx(0.95, abs=0.015)


def test_the_committed_studys_detectable_differences_are_the_reports():
    accuracies = study_accuracies()
    for row in seed_level_tests(accuracies, BASELINE):
        result = detectable_difference(paired_differences(accuracies[row["first"]], accuracies[row["second"]]),
                                       comparisons=3)
        assert result.value == pytest.approx(row["minimum_detectable_difference"], rel=1e-9)
        # Five seeds: the detectable difference itself is uncertain by a factor of about 0.6 to 2.9.
        assert result.high / result.value == pytest.approx(math.sqrt(4 / stats.chi2.ppf(0.025, 4)), rel=1e-9)


@pytest.mark.parametrize("differences, reason", [
    (np.array([0.003]), "one seed: no spread to measure"),
    (np.array([]), "no seeds"),
    (np.array([0.001, 0.001, 0.001]), "the same on every seed: zero spread"),
    (np.zeros(4), NO_DIFFERENCE),
])
def test_degenerate_differences_give_no_detectable_difference_and_say_why(differences, reason):
    result = detectable_difference(differences)
    assert (result.value, result.low, result.high) == (None, None, None) and result.reason == reason


def test_bad_parameters_are_refused():
    with pytest.raises(ParamsError, match="comparisons"):
        detectable_difference(DIFFERENCES, comparisons=0)
    with pytest.raises(ParamsError, match="level"):
        detectable_difference(DIFFERENCES, level=1.0)
