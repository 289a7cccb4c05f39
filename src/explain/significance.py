"""Which side of zero is better for each heatmap faithfulness score, and whether an interval shows it.

The intervals themselves (bootstrap over images, two-level over seeds and images) come from
src/stats/images.py.
"""
from __future__ import annotations

# Which way is better for each heatmap faithfulness score.
LOWER_IS_BETTER = {"deletion_auc": True, "insertion_auc": False, "average_drop": True,
                   "increase_in_confidence": False, "road": False}


def beats(comparison: dict, metric: str) -> bool:
    """True when the 95% interval of heatmap − baseline lies wholly on the better side of zero."""
    if LOWER_IS_BETTER[metric]:
        return comparison["ci_high"] < 0
    return comparison["ci_low"] > 0


def better_side(interval: dict, metric: str) -> str:
    """"first", "second" or "neither": which side of first − second the interval puts the better one on."""
    if beats(interval, metric):
        return "first"
    flipped = {"ci_low": -interval["ci_high"], "ci_high": -interval["ci_low"]}
    return "second" if beats(flipped, metric) else "neither"
