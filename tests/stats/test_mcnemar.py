"""McNemar's test labelled with what was computed: the rule, the label, the counts, degenerate data."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from src.core.errors import DataError
from src.stats.images import mcnemar
from src.stats.mcnemar import CHI_SQUARE, EXACT, label_for, mcnemar_test


def paired(only_first: int, only_second: int, both: int = 50, neither: int = 10):
    a = np.array([1] * only_first + [0] * only_second + [1] * both + [0] * neither, bool)
    b = np.array([0] * only_first + [1] * only_second + [1] * both + [0] * neither, bool)
    return a, b


def test_below_25_discordant_images_the_exact_binomial_test_and_its_label():
    result = mcnemar_test(*paired(10, 14))  # 24 discordant
    assert result.p.method == EXACT and result.discordant == 24
    assert result.p.value == pytest.approx(stats.binomtest(10, 24, 0.5).pvalue, rel=1e-12)
    assert result.label == "exact binomial test on 24 discordant images (fewer than 25)"
    assert result.statistic == 10 and result.reason == ""


def test_from_25_discordant_images_the_chi_square_test_with_continuity_correction_and_its_label():
    result = mcnemar_test(*paired(10, 15))  # 25 discordant: (|10 − 15| − 1)^2 / 25 = 0.64
    assert result.p.method == CHI_SQUARE
    assert result.statistic == pytest.approx(0.64) and result.p.value == pytest.approx(stats.chi2.sf(0.64, 1))
    assert result.label == "chi-square with continuity correction test on 25 discordant images (25 or more)"
    assert (result.only_first, result.only_second) == (10, 15)


def test_the_rule_can_be_moved_and_the_label_follows():
    result = mcnemar_test(*paired(10, 15), exact_below=30)
    assert result.p.method == EXACT and result.label == "exact binomial test on 25 discordant images (fewer than 30)"
    assert label_for(1) == "exact binomial test on 1 discordant image (fewer than 25)"


def test_the_reports_dict_carries_the_same_numbers():
    a, b = paired(30, 12)
    result, old = mcnemar_test(a, b), mcnemar(a, b)
    assert (old["only_a"], old["only_b"], old["statistic"], old["p"]) == (
        result.only_first, result.only_second, result.statistic, result.p)


def test_identical_models_have_no_test_but_keep_the_label():
    correct = np.array([1, 0, 1, 1, 0], bool)
    result = mcnemar_test(correct, correct)
    assert result.statistic is None and result.p.value is None and result.discordant == 0
    assert result.reason == "the two models agree on every image: no discordant image to test"
    assert result.label == "exact binomial test on 0 discordant images (fewer than 25)"
    assert math.isnan(mcnemar(correct, correct)["statistic"])


def test_vectors_of_different_length_are_refused():
    with pytest.raises(DataError, match="differ in shape"):
        mcnemar_test(np.ones(3, bool), np.ones(4, bool))
