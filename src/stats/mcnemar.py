"""McNemar's test on two models' correctness on the same test images, labelled with what was computed.

Which test ran matters to a reader: below ``EXACT_BELOW`` discordant images the exact binomial
test (the chi-square approximation is poor there), otherwise the chi-square statistic with
continuity correction, both from statsmodels ``contingency_tables.mcnemar``. The result carries
that choice as a label ("exact binomial test on 13 discordant images") so a report cannot print
one test under the other's name. With no discordant image there is nothing to test: no p-value,
and the reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar as mcnemar_table

from src.core.errors import DataError
from src.stats.pvalue import PValue

# The exact binomial test below this many discordant images, the chi-square one from here on.
EXACT_BELOW = 25
EXACT = "exact binomial"
CHI_SQUARE = "chi-square with continuity correction"


@dataclass(frozen=True)
class McNemar:
    """McNemar's test of first vs second: discordant counts, statistic, p-value and what was computed.

    ``only_first``: images only the first model gets right; ``only_second``: only the second.
    ``statistic`` is the chi-square statistic, or the smaller discordant count for the exact test,
    and None with ``reason`` when there is no discordant image.
    """

    only_first: int
    only_second: int
    statistic: float | None
    p: PValue
    label: str
    reason: str = ""

    @property
    def discordant(self) -> int:
        return self.only_first + self.only_second


def method_for(discordant: int, exact_below: int = EXACT_BELOW) -> str:
    """The test McNemar's rule picks for this many discordant images."""
    return EXACT if discordant < exact_below else CHI_SQUARE


def label_for(discordant: int, exact_below: int = EXACT_BELOW) -> str:
    """What was computed, as a report prints it: the test and the count that chose it."""
    method = method_for(discordant, exact_below)
    side = f"fewer than {exact_below}" if method == EXACT else f"{exact_below} or more"
    images = "image" if discordant == 1 else "images"
    return f"{method} test on {discordant} discordant {images} ({side})"


def mcnemar_test(correct_first: np.ndarray, correct_second: np.ndarray, exact_below: int = EXACT_BELOW) -> McNemar:
    """McNemar's test on the paired 0/1 correctness of two models on the same images (statsmodels)."""
    a = np.asarray(correct_first, dtype=bool)
    b = np.asarray(correct_second, dtype=bool)
    if a.shape != b.shape:
        raise DataError(f"McNemar's test: the paired correctness vectors differ in shape, {a.shape} vs {b.shape}")
    only_first, only_second = int(np.sum(a & ~b)), int(np.sum(~a & b))
    discordant = only_first + only_second
    method, label = method_for(discordant, exact_below), label_for(discordant, exact_below)
    if discordant == 0:
        both = "right" if a.all() else "wrong" if not a.any() else ""
        reason = (f"both models {both} on every image" if both else "the two models agree on every image") + \
            ": no discordant image to test"
        return McNemar(0, 0, None, PValue.undefined(method, reason), label, reason)
    result = mcnemar_table([[int(np.sum(a & b)), only_first], [only_second, int(np.sum(~a & ~b))]],
                           exact=method == EXACT, correction=True)
    statistic = float(result.statistic)
    return McNemar(only_first, only_second, statistic if math.isfinite(statistic) else None,
                   PValue(float(result.pvalue), method), label)
