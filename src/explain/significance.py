"""Is one variant really more accurate than another? Bootstrap intervals and McNemar's test.

Both work on per-image correctness on the *same* test images, which is what makes
a paired test (McNemar) the right one: it looks only at the images on which the
two models disagree.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def bootstrap_accuracy_ci(correct: np.ndarray, n_resamples: int = 2000, level: float = 0.95,
                          seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of a 0/1 vector."""
    correct = np.asarray(correct, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    for start in range(0, n_resamples, 200):  # chunks keep memory flat for 10k-image test sets
        count = min(200, n_resamples - start)
        idx = rng.integers(0, len(correct), (count, len(correct)))
        means[start:start + count] = correct[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray, exact_below: int = 25) -> dict[str, float | int | str]:
    """McNemar's test on paired correctness.

    b = images only A gets right, c = images only B gets right. With fewer than
    ``exact_below`` discordant images the exact two-sided binomial test is used,
    otherwise the chi-square statistic with continuity correction.
    """
    a = np.asarray(correct_a, dtype=bool)
    b_arr = np.asarray(correct_b, dtype=bool)
    if a.shape != b_arr.shape:
        raise ValueError(f"paired vectors differ in shape: {a.shape} vs {b_arr.shape}")
    b = int(np.sum(a & ~b_arr))
    c = int(np.sum(~a & b_arr))
    n = b + c
    if n == 0:
        return {"only_a": b, "only_b": c, "statistic": 0.0, "p_value": 1.0, "method": "exact"}
    if n < exact_below:
        p = float(min(1.0, 2 * stats.binom.cdf(min(b, c), n, 0.5)))
        return {"only_a": b, "only_b": c, "statistic": float(min(b, c)), "p_value": p, "method": "exact"}
    chi2 = (abs(b - c) - 1) ** 2 / n
    return {"only_a": b, "only_b": c, "statistic": float(chi2), "p_value": float(stats.chi2.sf(chi2, 1)),
            "method": "chi2-cc"}


def describe_p(p: float, alpha: float = 0.05) -> str:
    if math.isnan(p):
        return "n/a"
    return "significant" if p < alpha else "not significant"


# Which way is better for each heatmap faithfulness score.
LOWER_IS_BETTER = {"deletion_auc": True, "insertion_auc": False, "average_drop": True,
                   "increase_in_confidence": False, "road": False}


def paired_difference(heatmap: np.ndarray, baseline: np.ndarray, seed: int, resamples: int = 2000,
                      level: float = 0.95) -> dict:
    """Mean of ``heatmap - baseline`` over the same images, with its percentile bootstrap interval at ``level``."""
    differences = np.asarray(heatmap, np.float64) - np.asarray(baseline, np.float64)
    if np.ptp(differences) == 0:  # every image the same: the interval is the value itself
        value = float(differences.mean())
        return {"difference": value, "ci_low": value, "ci_high": value}
    result = stats.bootstrap((differences,), np.mean, n_resamples=resamples, confidence_level=level,
                             method="percentile", random_state=np.random.default_rng(seed))
    return {"difference": float(differences.mean()), "ci_low": float(result.confidence_interval.low),
            "ci_high": float(result.confidence_interval.high)}


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
