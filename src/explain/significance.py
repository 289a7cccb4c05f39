"""Whether an interval shows a heatmap faithfulness metric on its better side of zero.

Which side is better is the metric's own (``lower_is_better`` in src/explain/faithfulness.py); the
intervals themselves (bootstrap over images, two-level over seeds and images) come from
src/stats/images.py.
"""
from __future__ import annotations

from src.explain.faithfulness import METRICS


def beats(comparison: dict, metric: str) -> bool:
    """True when the 95% interval of heatmap − baseline lies wholly on the better side of zero."""
    if METRICS[metric].lower_is_better:
        return comparison["ci_high"] < 0
    return comparison["ci_low"] > 0


def better_side(interval: dict, metric: str) -> str:
    """"first", "second" or "neither": which side of first − second the interval puts the better one on."""
    if beats(interval, metric):
        return "first"
    flipped = {"ci_low": -interval["ci_high"], "ci_high": -interval["ci_low"]}
    return "second" if beats(flipped, metric) else "neither"
