"""Whether the sign-flip test can reach alpha after Holm: m · 2 / 2^S <= alpha, by hand and against the test."""
from __future__ import annotations

import numpy as np
import pytest

from src.core.errors import ParamsError
from src.stats.sign_flip_reach import seeds_needed, sign_flip_reach
from src.stats.seeds import sign_flip_test


def test_five_seeds_over_three_comparisons_cannot_reach_the_level():
    reach = sign_flip_reach(5, 3)
    assert not reach.can_reach
    assert reach.smallest_p == pytest.approx(0.0625) and reach.smallest_holm_p == pytest.approx(0.1875)
    assert reach.seeds_needed == 7  # 3 x 2 / 64 = 0.094 > 0.05; 3 x 2 / 128 = 0.047
    assert reach.reason == ("the sign-flip test is left out: with 5 seeds its smallest possible p-value is 0.0625, "
                            "Holm over 3 comparisons makes it 0.188, above α = 0.05 whatever the data "
                            "(7 seeds are needed)")


def test_enough_seeds_can_reach_it_and_the_boundary_counts():
    assert sign_flip_reach(7, 3).can_reach and sign_flip_reach(7, 3).reason == ""
    assert not sign_flip_reach(5, 1).can_reach and sign_flip_reach(6, 1).can_reach
    assert sign_flip_reach(5, 1, alpha=0.0625).can_reach  # m · 2 / 2^S == alpha reaches it
    assert "Holm" not in sign_flip_reach(5, 1).reason
    assert [seeds_needed(m) for m in (1, 2, 3, 6)] == [6, 7, 7, 8]


def test_the_floor_is_what_the_sign_flip_test_gives_when_every_seed_agrees():
    for seeds in (3, 5, 8):
        floor = sign_flip_test(np.arange(1, seeds + 1) / 1000).value
        assert floor == pytest.approx(sign_flip_reach(seeds, 1).smallest_p)


@pytest.mark.parametrize("seeds", [0, 1])
def test_no_or_one_seed_cannot_reach_anything(seeds):
    reach = sign_flip_reach(seeds, 3)
    assert not reach.can_reach and reach.smallest_holm_p == 1.0
    assert f"with {seeds} seed{'s' if seeds != 1 else ''} its smallest possible p-value is 1" in reach.reason


def test_bad_counts_are_refused():
    with pytest.raises(ParamsError, match="comparisons"):
        sign_flip_reach(5, 0)
    with pytest.raises(ParamsError, match="seeds"):
        sign_flip_reach(-1, 3)
