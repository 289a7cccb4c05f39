"""Which side of zero each heatmap metric prefers, and whether an interval shows it."""
from __future__ import annotations

from src.explain.significance import better_side


def test_better_side_follows_each_metrics_direction():
    above, below, across = {"ci_low": 0.1, "ci_high": 0.2}, {"ci_low": -0.2, "ci_high": -0.1}, {"ci_low": -1, "ci_high": 1}
    assert better_side(above, "insertion_auc") == "first" and better_side(below, "insertion_auc") == "second"
    assert better_side(above, "average_drop") == "second"  # a higher drop is worse: the first map loses
    assert better_side(below, "deletion_auc") == "first" and better_side(across, "road") == "neither"
