"""Seed-level statistics: intervals, tests, Holm and the detectable difference, checked against known answers."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from src.models.variants import ordered_pairs
from src.report.seeds import holm, minimum_detectable_difference, paired_comparison, \
    seed_level_tests, sign_flip_p_value, smallest_permutation_p, t_interval, two_level_bootstrap, variant_summary


def test_differences_are_taken_against_original_whatever_the_order():
    assert ordered_pairs(["se", "original"], "original") == [("se", "original")]
    assert ordered_pairs(["original", "se", "cbam"], "original") == [
        ("se", "original"), ("cbam", "original"), ("cbam", "se")]
    assert ordered_pairs(["cbam", "se"], "original") == [("se", "cbam")]


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
    adjusted = holm([0.02, math.nan])
    assert adjusted[0] == pytest.approx(0.02) and math.isnan(adjusted[1])


def test_sign_flip_test_is_exact_for_few_seeds():
    assert sign_flip_p_value(np.array([0.1, 0.2, 0.3, 0.4, 0.5])) == pytest.approx(2 / 32)
    assert smallest_permutation_p(5) == pytest.approx(0.0625)
    assert sign_flip_p_value(np.array([0.1, -0.1, 0.1, -0.1])) == pytest.approx(1.0)
    assert sign_flip_p_value(np.zeros(4)) == 1.0


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
    assert math.isnan(minimum_detectable_difference(std, 1)) and minimum_detectable_difference(0.0, 5) == 0.0


def test_paired_comparison_keeps_the_direction_and_pairs_by_seed():
    worse = {0: 0.80, 1: 0.81, 2: 0.79, 7: 0.5}   # seed 7 has no partner: left out
    better = {0: 0.82, 1: 0.84, 2: 0.80}
    result = paired_comparison(worse, better)
    assert result["seeds"] == 3 and result["difference"] == pytest.approx(-0.02)
    assert result["t_test_p"] == pytest.approx(stats.ttest_rel([0.80, 0.81, 0.79], [0.82, 0.84, 0.80]).pvalue)
    half = stats.t.ppf(0.975, 2) * 0.01 / math.sqrt(3)  # differences -0.02, -0.03, -0.01
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((-0.02 - half, -0.02 + half))


def test_verdicts_say_no_evidence_unless_the_seeds_agree():
    noisy = {"original": {s: 0.86 + d for s, d in enumerate([0.004, -0.003, 0.001, -0.002, 0.0])},
             "se": {s: 0.861 + d for s, d in enumerate([-0.004, 0.003, 0.002, -0.001, -0.003])},
             "cbam": {s: 0.870 + d for s, d in enumerate([0.004, -0.003, 0.001, -0.002, 0.0005])}}
    rows = {(r["first"], r["second"]): r for r in seed_level_tests(noisy, "original")}
    assert set(rows) == {("se", "original"), ("cbam", "original"), ("cbam", "se")}
    assert "no evidence of a difference" in rows["se", "original"]["verdict"]
    assert rows["se", "original"]["verdict"].startswith("SE − Original = +0.")
    assert "evidence that CBAM is more accurate" in rows["cbam", "original"]["verdict"]
    # Holm: the adjusted p-value is never below the raw one, and the three are adjusted together.
    for row in rows.values():
        assert row["t_test_p_holm"] >= row["t_test_p"]
    one_seed = seed_level_tests({"original": {0: 0.8}, "se": {0: 0.9}}, "original")
    assert "fewer than two paired seeds" in one_seed[0]["verdict"]


def test_two_level_bootstrap_covers_the_mean_and_widens_with_seed_spread():
    rng = np.random.default_rng(1)
    steady = {s: rng.random(4000) < 0.86 for s in range(5)}
    low, high = two_level_bootstrap(steady)
    assert low < np.mean([v.mean() for v in steady.values()]) < high
    spread = {s: rng.random(4000) < p for s, p in enumerate([0.80, 0.83, 0.86, 0.89, 0.92])}
    wide_low, wide_high = two_level_bootstrap(spread)
    assert wide_high - wide_low > 2 * (high - low)
    # A variant against itself: the difference interval is zero-width around zero.
    assert two_level_bootstrap(steady, steady) == (0.0, 0.0)
