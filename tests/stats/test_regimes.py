"""The interaction between training regimes: Welch's t by hand, Holm over interactions, degenerate regimes."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from src.core.errors import ParamsError
from src.stats.pvalue import holm
from src.stats.regimes import WELCH, regime_interaction, regime_interactions, significant

SHORT = np.array([-0.0005, 0.0010, -0.0020, 0.0004, 0.0001])   # five seeds, no gain
LONG = np.array([0.0040, 0.0055, 0.0030, 0.0062])              # four seeds, a gain of ~0.5 pt


def test_welch_by_hand():
    result = regime_interaction(SHORT, LONG)
    v_short, v_long = SHORT.var(ddof=1) / 5, LONG.var(ddof=1) / 4
    df = (v_short + v_long) ** 2 / (v_short ** 2 / 4 + v_long ** 2 / 3)
    interaction = LONG.mean() - SHORT.mean()
    t = interaction / math.sqrt(v_short + v_long)
    half = stats.t.ppf(0.975, df) * math.sqrt(v_short + v_long)
    assert result.interaction == pytest.approx(interaction) and result.df == pytest.approx(df)
    assert result.p.value == pytest.approx(2 * stats.t.sf(abs(t), df)) and result.p.method == WELCH
    assert (result.low, result.high) == pytest.approx((interaction - half, interaction + half))
    assert (result.short_seeds, result.long_seeds) == (5, 4) and result.reason == ""
    assert (result.short_mean, result.long_mean) == pytest.approx((SHORT.mean(), LONG.mean()))
    assert significant(result)


def test_no_change_between_regimes_is_not_significant_and_the_interval_holds_zero():
    rng = np.random.default_rng(0)
    result = regime_interaction(rng.normal(0.001, 0.002, 5), rng.normal(0.001, 0.002, 8))
    assert result.low < 0 < result.high and not significant(result)


def test_holm_over_the_two_interactions():
    family = regime_interactions({"SE − Original": (SHORT, LONG), "CBAM − Original": (SHORT, SHORT[::-1] + 0.001)})
    alone = [regime_interaction(SHORT, LONG).p.value, regime_interaction(SHORT, SHORT[::-1] + 0.001).p.value]
    assert [r.p_holm for r in family.values()] == pytest.approx(holm(alone))
    assert significant(family["SE − Original"]) and not significant(family["CBAM − Original"])


def test_one_regime_without_spread_is_still_tested_on_the_others():
    result = regime_interaction(np.full(4, 0.001), LONG)
    assert result.reason == "" and result.df == pytest.approx(3)  # all the variance is the long regime's


@pytest.mark.parametrize("short, long, reason", [
    (np.array([0.001]), LONG, "one seed in the short regime: its spread cannot be measured"),
    (SHORT, np.array([]), "no seeds in the long regime: its spread cannot be measured"),
    (np.full(3, 0.002), np.full(4, 0.001), "the same difference on every seed of each regime: zero spread"),
])
def test_degenerate_regimes_have_no_test_and_say_why(short, long, reason):
    result = regime_interaction(short, long)
    assert result.p.value is None and result.reason == reason and (result.low, result.high, result.df) == (None,) * 3
    assert not significant(result)
    family = regime_interactions({"a": (short, long), "b": (SHORT, LONG)})
    assert family["a"].p_holm is None and family["b"].p_holm == pytest.approx(regime_interaction(SHORT, LONG).p.value)


def test_bad_level_is_refused():
    with pytest.raises(ParamsError, match="level"):
        regime_interaction(SHORT, LONG, level=0)
