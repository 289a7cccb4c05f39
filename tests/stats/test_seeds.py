"""Statistics over seeds: intervals, tests, Holm and the detectable difference, by hand and on degenerate data."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from src.stats.pvalue import PValue, holm
from src.stats.seeds import NO_DIFFERENCE, minimum_detectable_difference, no_spread_reason, paired_comparison, \
    paired_t_test, sign_flip_test, smallest_permutation_p, t_interval, variant_summary


def test_variant_summary_by_hand():
    summary = variant_summary(np.array([0.85, 0.86, 0.87]))
    assert summary["mean"] == pytest.approx(0.86) and summary["std"] == pytest.approx(0.01)
    half = stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)  # 4.303 * 0.00577
    assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((0.86 - half, 0.86 + half))
    assert summary["min"] == 0.85 and summary["max"] == 0.87 and summary["seeds"] == 3
    one = variant_summary(np.array([0.9]))
    assert math.isnan(one["std"]) and math.isnan(one["ci_low"]) and one["mean"] == 0.9
    assert all(math.isnan(v) for v in t_interval(np.array([0.5])))


def test_holm_by_hand():
    # Sorted 0.01, 0.03, 0.04 -> 3 x 0.01, 2 x 0.03, max(0.06, 1 x 0.04); back in the given order.
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    # An undefined p-value stays undefined and leaves the family: 0.02 is adjusted as a family of one.
    adjusted = holm([0.02, None])
    assert adjusted[0] == pytest.approx(0.02) and adjusted[1] is None
    assert holm([None, None]) == [None, None] and holm([]) == []


def test_sign_flip_test_is_exact_for_few_seeds():
    assert sign_flip_test(np.array([0.1, 0.2, 0.3, 0.4, 0.5])).value == pytest.approx(2 / 32)
    assert smallest_permutation_p(5) == pytest.approx(0.0625)
    assert sign_flip_test(np.array([0.1, -0.1, 0.1, -0.1])).value == pytest.approx(1.0)


def test_minimum_detectable_difference_has_the_stated_power():
    """Simulated paired t-tests at the returned difference reject about 80% of the time."""
    std, n, alpha = 0.003, 5, 0.05 / 3
    effect = minimum_detectable_difference(std, n, alpha=alpha)
    rng = np.random.default_rng(0)
    samples = rng.normal(effect, std, (40000, n))
    t = samples.mean(axis=1) / (samples.std(axis=1, ddof=1) / math.sqrt(n))
    power = np.mean(np.abs(t) > stats.t.ppf(1 - alpha / 2, n - 1))
    assert power == pytest.approx(0.80, abs=0.01)
    # More seeds detect smaller differences; two seeds still give a (large) finite answer.
    assert minimum_detectable_difference(std, 10) < minimum_detectable_difference(std, 5)
    assert math.isfinite(minimum_detectable_difference(std, 2, alpha=alpha))


def test_paired_comparison_keeps_the_direction_and_pairs_by_seed():
    worse = {0: 0.80, 1: 0.81, 2: 0.79, 7: 0.5}   # seed 7 has no partner: left out
    better = {0: 0.82, 1: 0.84, 2: 0.80}
    result = paired_comparison(worse, better)
    assert result["seeds"] == 3 and result["difference"] == pytest.approx(-0.02) and result["spread"] == ""
    assert result["t_test"].value == pytest.approx(stats.ttest_rel([0.80, 0.81, 0.79], [0.82, 0.84, 0.80]).pvalue)
    half = stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)  # differences -0.02, -0.03, -0.01
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((-0.02 - half, -0.02 + half))


# Degenerate data: each statistic says what it can, and nothing it cannot.

def test_zero_spread_gives_no_t_test_p_but_an_exact_sign_flip_p():
    # Every seed 0.1 pt better; float subtraction leaves ~1e-16 of noise a t-test would read as spread.
    first = {s: 0.8601 + s / 1000 for s in range(5)}
    second = {s: first[s] - 0.001 for s in range(5)}
    result = paired_comparison(first, second)
    assert result["spread"] == "the same on every seed: zero spread"
    assert result["t_test"] == PValue(None, "paired t-test", "the same on every seed: zero spread")
    assert result["permutation"].value == pytest.approx(smallest_permutation_p(5))
    assert math.isnan(result["ci_low"]) and math.isnan(result["ci_high"])
    assert math.isnan(minimum_detectable_difference(result["std"], 5))


def test_a_single_seed_has_no_test_and_no_interval():
    result = paired_comparison({0: 0.80}, {0: 0.90})
    assert result["seeds"] == 1 and result["difference"] == pytest.approx(-0.1) and math.isnan(result["std"])
    for test in (result["t_test"], result["permutation"]):
        assert test.value is None and test.reason == "one seed: no spread to measure"
    assert math.isnan(result["ci_low"]) and math.isnan(minimum_detectable_difference(math.nan, 1))
    assert sign_flip_test(np.array([])).reason == "no seeds"


def test_identical_accuracies_on_every_seed_are_no_difference_not_evidence():
    same = {s: 0.86 + s / 100 for s in range(4)}
    result = paired_comparison(same, dict(same))
    assert result["spread"] == NO_DIFFERENCE and result["difference"] == 0.0
    assert result["t_test"].value is None and result["t_test"].text() == NO_DIFFERENCE
    # Every sign flip gives the same zero mean: the exact permutation p is 1, no evidence.
    assert result["permutation"] == PValue(1.0, "exact sign-flip permutation test")
    assert math.isnan(minimum_detectable_difference(0.0, 4))


def test_a_variant_with_the_same_accuracy_on_every_seed_has_no_t_interval():
    summary = variant_summary(np.array([0.86, 0.86, 0.86]))
    assert summary["std"] == 0.0 and math.isnan(summary["ci_low"]) and math.isnan(summary["ci_high"])
    assert no_spread_reason(np.array([0.86, 0.86])) == "the same on every seed: zero spread"
    assert no_spread_reason(np.array([0.86, 0.87])) == ""


def test_the_t_test_and_its_p_text_on_ordinary_data():
    p = paired_t_test(np.array([0.80, 0.81, 0.79]), np.array([0.82, 0.84, 0.80]))
    assert p.value == pytest.approx(stats.ttest_rel([0.80, 0.81, 0.79], [0.82, 0.84, 0.80]).pvalue)
    assert p.text() == f"{p.value:.3g}" and p.reason == ""
