"""Statistics over training seeds: one number per run (a test accuracy), runs paired by seed.

For a variant: the mean, spread and the Student-t interval of the mean. For a pair of variants:
the mean paired difference with its t interval, the paired t-test, the exact sign-flip
permutation test, and the smallest true difference a paired t-test on that many seeds detects
with 80% power (statsmodels ``TTestPower``, the noncentral t).

Each spread-based statistic needs two seeds and some spread. Without them it says so: an
interval is nan, a p-value is None with the reason (``no_spread_reason``). The sign-flip test
needs no spread: when every seed shows the same non-zero difference its p-value is exact and
honest (2 / 2^n), where a t-test would divide by zero.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats
from statsmodels.stats.power import TTestPower

from src.stats.pvalue import PValue

ALPHA = 0.05
POWER = 0.80
# Accuracies are multiples of 1 / test images (>= 1e-7 apart); float subtraction leaves ~1e-16 of
# noise on equal paired differences, which a t-test would read as a real but tiny spread.
NO_SPREAD = 1e-12
T_TEST = "paired t-test"
SIGN_FLIP = "exact sign-flip permutation test"
NO_DIFFERENCE = "no difference on any seed"


def no_spread_reason(values: np.ndarray) -> str:
    """Why a spread-based statistic is undefined on these per-seed values; "" when it is defined."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return "one seed: no spread to measure" if len(values) else "no seeds"
    if np.ptp(values) > NO_SPREAD:
        return ""
    if np.all(np.abs(values) <= NO_SPREAD):
        return NO_DIFFERENCE
    return "the same on every seed: zero spread"


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean; (nan, nan) below two values or with zero spread."""
    values = np.asarray(values, np.float64)
    if no_spread_reason(values):
        return math.nan, math.nan
    interval = stats.ttest_1samp(values, 0.0).confidence_interval(level)
    return float(interval.low), float(interval.high)


def variant_summary(accuracies: np.ndarray) -> dict[str, float | int]:
    """Mean, std (n − 1), min, max and the 95% t interval of the mean of one variant's per-seed accuracies."""
    accuracies = np.asarray(accuracies, np.float64)
    low, high = t_interval(accuracies)
    return {"seeds": int(len(accuracies)), "mean": float(accuracies.mean()),
            "std": float(accuracies.std(ddof=1)) if len(accuracies) > 1 else math.nan,
            "min": float(accuracies.min()), "max": float(accuracies.max()), "ci_low": low, "ci_high": high}


def paired_t_test(first: np.ndarray, second: np.ndarray) -> PValue:
    """Two-sided paired t-test of first − second; undefined with one seed or zero spread of the differences."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    reason = no_spread_reason(first - second)
    if reason:
        return PValue.undefined(T_TEST, reason)
    return PValue(float(stats.ttest_rel(first, second).pvalue), T_TEST)


def sign_flip_test(differences: np.ndarray, seed: int = 0) -> PValue:
    """Two-sided permutation test of a zero mean paired difference (signs flipped; exact up to 2^16 flips).

    With no difference on any seed every flip gives the same zero mean: p = 1, exactly.
    """
    differences = np.asarray(differences, np.float64)
    if len(differences) < 2:
        return PValue.undefined(SIGN_FLIP, no_spread_reason(differences))
    if np.all(np.abs(differences) <= NO_SPREAD):
        return PValue(1.0, SIGN_FLIP)
    result = stats.permutation_test(
        (differences,), np.mean, permutation_type="samples", alternative="two-sided",
        n_resamples=2 ** min(len(differences), 16), random_state=np.random.default_rng(seed))
    return PValue(float(result.pvalue), SIGN_FLIP)


def smallest_permutation_p(n: int) -> float:
    """The smallest two-sided p-value a sign-flip test on ``n`` pairs can give: 2 / 2^n."""
    return 2.0 / 2 ** n


def minimum_detectable_difference(std: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true mean difference a two-sided paired t-test on ``n`` pairs detects with ``power``.

    ``std`` is the standard deviation of the paired differences; the power is the noncentral t's
    (statsmodels ``TTestPower``). It is solved on the side of the effect (alpha / 2 in one tail):
    the other tail adds under 1e-6 of power at these effects, and at 1-3 degrees of freedom scipy's
    noncentral t returns nan for it, on which statsmodels' two-sided solver stops at a wrong answer
    (seen: power 0.29 at 2 seeds, alpha / 3). nan below two pairs or with zero spread: the power of
    a t-test is then undefined, not perfect.
    """
    if n < 2 or not math.isfinite(std) or std <= NO_SPREAD:
        return math.nan
    effect = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha / 2, power=power, alternative="larger")
    return float(effect) * std


def paired_by_seed(first: dict[int, float], second: dict[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """The two variants' per-seed values on the training seeds both have, in seed order."""
    seeds = sorted(set(first) & set(second))
    return np.array([first[s] for s in seeds], np.float64), np.array([second[s] for s in seeds], np.float64)


def paired_differences(first: dict[int, float], second: dict[int, float]) -> np.ndarray:
    """first − second per training seed, on the seeds both have (the input of the seed-level tests)."""
    a, b = paired_by_seed(first, second)
    return a - b


def paired_comparison(first: dict[int, float], second: dict[int, float]) -> dict:
    """first − second over the training seeds both have: mean, std, t interval, t-test and sign-flip test."""
    a, b = paired_by_seed(first, second)
    differences = a - b
    n = len(differences)
    low, high = t_interval(differences)
    return {"seeds": n, "difference": float(differences.mean()) if n else math.nan,
            "std": float(differences.std(ddof=1)) if n > 1 else math.nan, "ci_low": low, "ci_high": high,
            "spread": no_spread_reason(differences), "t_test": paired_t_test(a, b),
            "permutation": sign_flip_test(differences)}
