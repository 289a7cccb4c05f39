"""Statistics over test images: McNemar and the bootstraps against hand-computed cases and on degenerate data."""
from __future__ import annotations

import math

import numpy as np
import pytest

from src.core.errors import DataError
from src.explain.significance import beats
from src.stats.images import CHI_SQUARE, EXACT, bootstrap_accuracy_ci, constant_reason, mcnemar, paired_difference, \
    two_level_bootstrap


def paired(only_a: int, only_b: int, both: int = 50, neither: int = 10):
    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * neither, bool)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * neither, bool)
    return a, b


def test_exact_case_by_hand():
    # b=3, c=10: p = 2 * P(X <= 3), X ~ Bin(13, 1/2) = 2 * (1 + 13 + 78 + 286) / 2^13
    result = mcnemar(*paired(3, 10))
    assert result["p"].method == EXACT and (result["only_a"], result["only_b"]) == (3, 10)
    assert result["p"].value == pytest.approx(2 * 378 / 8192, rel=1e-12)


def test_chi_square_case_by_hand():
    # b=10, c=30: chi2 = (|10-30| - 1)^2 / 40 = 9.025; with 1 dof, p = erfc(sqrt(chi2 / 2))
    result = mcnemar(*paired(10, 30))
    assert result["p"].method == CHI_SQUARE and result["statistic"] == pytest.approx(9.025)
    assert result["p"].value == pytest.approx(math.erfc(math.sqrt(9.025 / 2)), rel=1e-9)


def test_symmetry_and_shape_check():
    assert mcnemar(*paired(4, 9))["p"].value == pytest.approx(mcnemar(*paired(9, 4))["p"].value)
    with pytest.raises(DataError, match="shape"):
        mcnemar(np.ones(3, bool), np.ones(4, bool))


def test_bootstrap_interval_brackets_the_mean_and_narrows():
    rng = np.random.default_rng(0)
    small = rng.random(200) < 0.8
    large = rng.random(20000) < 0.8
    lo_s, hi_s = bootstrap_accuracy_ci(small, seed=1)
    lo_l, hi_l = bootstrap_accuracy_ci(large, seed=1)
    assert lo_s < small.mean() < hi_s and lo_l < large.mean() < hi_l
    assert (hi_l - lo_l) < (hi_s - lo_s) / 5
    assert bootstrap_accuracy_ci(small, seed=1) == (lo_s, hi_s)


def test_paired_difference_interval_covers_a_known_shift_and_excludes_zero():
    rng = np.random.default_rng(0)
    baseline = rng.normal(0.5, 0.1, 400)
    heatmap = baseline - 0.05 + rng.normal(0, 0.02, 400)  # lower by 0.05 on every image, plus noise
    result = paired_difference(heatmap, baseline, seed=1)
    assert result["ci_low"] < -0.05 < result["ci_high"] < 0
    assert result["difference"] == pytest.approx(-0.05, abs=0.005)
    assert beats(result, "deletion_auc") and not beats(result, "insertion_auc")


def test_no_difference_is_no_evidence_either_way():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=300), rng.normal(size=300)
    result = paired_difference(a, b, seed=3)
    assert result["ci_low"] < 0 < result["ci_high"]
    assert not beats(result, "deletion_auc") and not beats(result, "insertion_auc")
    same = paired_difference(np.ones(5), np.zeros(5), seed=0)
    assert same == {"difference": 1.0, "ci_low": 1.0, "ci_high": 1.0} and beats(same, "increase_in_confidence")


def test_two_level_bootstrap_covers_the_mean_and_widens_with_seed_spread():
    rng = np.random.default_rng(1)
    steady = {s: rng.random(4000) < 0.86 for s in range(5)}
    low, high = two_level_bootstrap(steady)
    assert low < np.mean([v.mean() for v in steady.values()]) < high
    spread = {s: rng.random(4000) < p for s, p in enumerate([0.80, 0.83, 0.86, 0.89, 0.92])}
    wide_low, wide_high = two_level_bootstrap(spread)
    assert wide_high - wide_low > 2 * (high - low)


# Degenerate data: no zero-width interval that would claim certainty, no p-value without a discordant image.

@pytest.mark.parametrize("right", [True, False])
def test_every_image_right_or_wrong_has_no_bootstrap_interval(right):
    correct = np.full(300, right)
    assert all(math.isnan(v) for v in bootstrap_accuracy_ci(correct))
    assert constant_reason(correct) == f"every image {'right' if right else 'wrong'}: no spread to resample"
    assert all(math.isnan(v) for v in two_level_bootstrap({0: correct, 1: correct}))
    assert constant_reason(np.array([1, 0, 1])) == ""


def test_identical_models_have_no_difference_interval_and_no_mcnemar_p():
    rng = np.random.default_rng(1)
    steady = {s: rng.random(400) < 0.86 for s in range(3)}
    assert all(math.isnan(v) for v in two_level_bootstrap(steady, steady))
    result = mcnemar(steady[0], steady[0])
    assert (result["only_a"], result["only_b"]) == (0, 0) and result["p"].value is None
    assert result["p"].reason == "the two models agree on every image: no discordant image to test"


@pytest.mark.parametrize("right", [True, False])
def test_two_models_right_or_wrong_on_every_image_have_no_mcnemar_p(right):
    result = mcnemar(np.full(50, right), np.full(50, right))
    assert result["p"].value is None
    side = "right" if right else "wrong"
    assert result["p"].text() == f"both models {side} on every image: no discordant image to test"


def test_one_model_right_and_the_other_wrong_everywhere_is_strong_evidence():
    result = mcnemar(np.ones(100, bool), np.zeros(100, bool))
    assert result["p"].method == CHI_SQUARE and result["p"].value < 1e-20
