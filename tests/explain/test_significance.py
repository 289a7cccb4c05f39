"""McNemar and bootstrap against hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from src.explain.significance import beats, better_side, bootstrap_accuracy_ci, describe_p, mcnemar, paired_difference


def paired(only_a: int, only_b: int, both: int = 50, neither: int = 10):
    a = np.array([1] * only_a + [0] * only_b + [1] * both + [0] * neither, bool)
    b = np.array([0] * only_a + [1] * only_b + [1] * both + [0] * neither, bool)
    return a, b


def test_exact_case_by_hand():
    # b=3, c=10: p = 2 * P(X <= 3), X ~ Bin(13, 1/2) = 2 * (1 + 13 + 78 + 286) / 2^13
    result = mcnemar(*paired(3, 10))
    assert result["method"] == "exact" and (result["only_a"], result["only_b"]) == (3, 10)
    assert result["p_value"] == pytest.approx(2 * 378 / 8192, rel=1e-12)


def test_chi_square_case_by_hand():
    # b=10, c=30: chi2 = (|10-30| - 1)^2 / 40 = 9.025; with 1 dof, p = erfc(sqrt(chi2 / 2))
    result = mcnemar(*paired(10, 30))
    assert result["method"] == "chi2-cc" and result["statistic"] == pytest.approx(9.025)
    assert result["p_value"] == pytest.approx(math.erfc(math.sqrt(9.025 / 2)), rel=1e-9)


def test_no_disagreement_and_symmetry():
    assert mcnemar(*paired(0, 0))["p_value"] == 1.0
    assert mcnemar(*paired(4, 9))["p_value"] == pytest.approx(mcnemar(*paired(9, 4))["p_value"])
    with pytest.raises(ValueError, match="shape"):
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


def test_describe_p():
    assert describe_p(0.01) == "significant" and describe_p(0.2) == "not significant" and describe_p(float("nan")) == "n/a"


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


def test_better_side_follows_each_metrics_direction():
    above, below, across = {"ci_low": 0.1, "ci_high": 0.2}, {"ci_low": -0.2, "ci_high": -0.1}, {"ci_low": -1, "ci_high": 1}
    assert better_side(above, "insertion_auc") == "first" and better_side(below, "insertion_auc") == "second"
    assert better_side(above, "average_drop") == "second"  # a higher drop is worse: the first map loses
    assert better_side(below, "deletion_auc") == "first" and better_side(across, "road") == "neither"
