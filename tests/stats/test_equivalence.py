"""Equivalence (TOST) over seeds: against scipy and statsmodels, its interval's duality, Holm, degenerate data."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttost_paired

from src.core.errors import ParamsError
from src.stats.equivalence import EQUIVALENCE_MARGIN, equivalence_test, equivalence_tests
from src.stats.pvalue import holm
from src.stats.seeds import NO_DIFFERENCE, t_interval

TIGHT = np.array([0.0005, -0.0004, 0.0002, 0.0001, -0.0003, 0.0004])   # well inside ± 0.3 pt
LOOSE = np.array([0.003, -0.004, 0.002, 0.005, -0.001])                # spread as wide as the margin


def test_p_is_the_larger_one_sided_t_p_value_and_matches_ttost_paired():
    result = equivalence_test(TIGHT)
    above = stats.ttest_1samp(TIGHT, -EQUIVALENCE_MARGIN, alternative="greater").pvalue
    below = stats.ttest_1samp(TIGHT, EQUIVALENCE_MARGIN, alternative="less").pvalue
    assert result.p.value == pytest.approx(max(above, below), rel=1e-10)
    first = np.full(len(TIGHT), 0.86) + TIGHT
    assert result.p.value == pytest.approx(ttost_paired(first, np.full(len(TIGHT), 0.86),
                                                        -EQUIVALENCE_MARGIN, EQUIVALENCE_MARGIN)[0], rel=1e-8)
    assert result.margin == 0.003 and result.seeds == 6 and result.difference == pytest.approx(TIGHT.mean())


def test_the_interval_is_the_90_percent_t_interval_and_equivalence_is_it_inside_the_margin():
    result = equivalence_test(TIGHT)
    assert result.level == pytest.approx(0.90)
    assert (result.low, result.high) == pytest.approx(t_interval(TIGHT, 0.90), rel=1e-10)
    assert result.equivalent and -EQUIVALENCE_MARGIN < result.low < result.high < EQUIVALENCE_MARGIN
    rng = np.random.default_rng(0)
    for _ in range(200):
        sample = rng.normal(rng.uniform(-0.003, 0.003), 0.002, 5)
        test = equivalence_test(sample)
        inside = -EQUIVALENCE_MARGIN < test.low and test.high < EQUIVALENCE_MARGIN
        assert test.equivalent == inside


def test_loose_differences_are_not_shown_equivalent_and_the_text_says_so():
    result = equivalence_test(LOOSE)
    assert not result.equivalent and result.p.value > 0.05
    assert result.text().startswith("not shown equivalent within ± 0.30 pt (TOST, p = ")
    assert equivalence_test(TIGHT).text().startswith("equivalent within ± 0.30 pt (TOST, p = ")


def test_holm_over_the_comparisons_decides_the_verdict():
    # Alone this is equivalent at 0.05 (p = 0.032); twice in a family of three, with TIGHT first, Holm
    # weighs it at 0.05 / 2 and takes both away.
    borderline = np.array([0.0024, 0.0002, 0.0023, 0.0028, 0.0006])
    alone = equivalence_test(borderline)
    assert alone.equivalent and 0.05 / 2 < alone.p.value < 0.05
    family = equivalence_tests({"SE − Original": borderline, "CBAM − Original": borderline, "CBAM − SE": TIGHT})
    expected = holm([alone.p.value, alone.p.value, equivalence_test(TIGHT).p.value])
    assert [t.p_holm for t in family.values()] == pytest.approx(expected)
    assert [t.equivalent for t in family.values()] == [False, False, True]
    assert "Holm p = " in family["CBAM − SE"].text()
    # The family's interval is Bonferroni's, 1 − 2 · 0.05 / 3: inside the margin only where Holm says equivalent.
    for name, test in family.items():
        assert test.family_level == pytest.approx(1 - 0.1 / 3)
        assert (test.family_low, test.family_high) == pytest.approx(t_interval(
            borderline if name != "CBAM − SE" else TIGHT, 1 - 0.1 / 3), rel=1e-10)
        assert test.low > test.family_low and test.high < test.family_high
    assert not family["SE − Original"].family_high < EQUIVALENCE_MARGIN
    assert family["CBAM − SE"].family_high < EQUIVALENCE_MARGIN


def test_inside_the_family_interval_implies_holm_equivalence():
    rng = np.random.default_rng(1)
    inside = 0
    for _ in range(25):  # few: statsmodels' multipletests runs the garbage collector on every call
        family = equivalence_tests({k: rng.normal(rng.uniform(-0.002, 0.002), 0.001, 5) for k in "abc"})
        for test in family.values():
            if -EQUIVALENCE_MARGIN < test.family_low and test.family_high < EQUIVALENCE_MARGIN:
                inside += 1
                assert test.equivalent
    assert inside >= 10


@pytest.mark.parametrize("differences, reason", [
    (np.array([0.001]), "one seed: no spread to measure"),
    (np.array([0.001, 0.001, 0.001]), "the same on every seed: zero spread"),
    (np.zeros(5), NO_DIFFERENCE),
])
def test_degenerate_differences_have_no_test_and_are_never_called_equivalent(differences, reason):
    result = equivalence_test(differences)
    assert result.p.value is None and result.reason == reason and not result.equivalent
    assert (result.low, result.high) == (None, None)
    assert result.text() == f"no equivalence test: {reason}"
    family = equivalence_tests({"a": differences, "b": TIGHT})
    assert family["a"].p_holm is None and not family["a"].equivalent and family["a"].family_low is None
    assert family["b"].p_holm == pytest.approx(equivalence_test(TIGHT).p.value)  # a family of one


def test_bad_margin_or_alpha_is_refused():
    with pytest.raises(ParamsError, match="margin"):
        equivalence_test(TIGHT, margin=0.0)
    with pytest.raises(ParamsError, match="alpha"):
        equivalence_test(TIGHT, alpha=0.5)
