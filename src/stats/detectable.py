"""The smallest difference a paired t-test over seeds detects, with its own confidence interval.

The detectable difference (``power`` of a two-sided paired t-test at the strictest Holm level,
alpha / comparisons) is k · sigma, where sigma is the true standard deviation of the per-seed
paired differences and k the standardised effect statsmodels' ``TTestPower`` solves for (it
depends only on the seeds, alpha and power). The study knows sigma only through the sample
standard deviation s on S − 1 degrees of freedom, so the detectable difference is as uncertain
as s: with five seeds s can be half or twice sigma. Since (S − 1) s² / sigma² is chi-square on
S − 1 degrees of freedom (normal differences), the chi-square interval of sigma times k is an
exact interval for the detectable difference.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from src.core.errors import ParamsError
from src.stats.seeds import ALPHA, POWER, minimum_detectable_difference, no_spread_reason


@dataclass(frozen=True)
class DetectableDifference:
    """The detectable difference (accuracy units) and its interval at ``level``; None with ``reason`` if undefined.

    ``test_alpha`` is the two-sided level of the t-test it is detectable by (alpha / comparisons).
    """

    value: float | None
    low: float | None
    high: float | None
    level: float
    seeds: int
    test_alpha: float
    power: float
    reason: str = ""


def std_interval(std: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Chi-square interval of a normal population's standard deviation from the sample one on ``n`` values."""
    df = n - 1
    tail = (1 - level) / 2
    return (std * math.sqrt(df / stats.chi2.ppf(1 - tail, df)), std * math.sqrt(df / stats.chi2.ppf(tail, df)))


def detectable_difference(differences: np.ndarray, comparisons: int = 1, alpha: float = ALPHA,
                          power: float = POWER, level: float = 0.95) -> DetectableDifference:
    """Detectable difference of a paired t-test on these per-seed paired differences, with its interval.

    The test is the one the report's verdict uses: two-sided, at alpha / ``comparisons`` (the
    strictest Holm step, so the answer is "could this study have found it"), with ``power``.
    """
    if comparisons < 1:
        raise ParamsError(f"detectable_difference: comparisons must be at least 1, got {comparisons}")
    if not 0 < level < 1:
        raise ParamsError(f"detectable_difference: level must be between 0 and 1, got {level}")
    differences = np.asarray(differences, np.float64)
    n, test_alpha = len(differences), alpha / comparisons
    reason = no_spread_reason(differences)
    if reason:
        return DetectableDifference(None, None, None, level, n, test_alpha, power, reason)
    std = float(differences.std(ddof=1))
    # The detectable difference is linear in sigma: k at sigma = 1 scales both the estimate and the bounds.
    k = minimum_detectable_difference(1.0, n, alpha=test_alpha, power=power)
    low, high = std_interval(std, n, level)
    return DetectableDifference(k * std, k * low, k * high, level, n, test_alpha, power)
