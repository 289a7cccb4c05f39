"""Seed-level statistics: is one variant more accurate than another across training seeds?

One trained model per variant cannot answer that: a second training seed moves a
CIFAR ResNet's test accuracy by about as much as attention is said to gain. Here the
unit of evidence is the training run. For each variant: the mean, spread and a 95%
interval of the mean over seeds. For each pair of variants, runs are paired by
training seed (the same seed gives both the same data order and augmentation): the
mean paired difference with its t interval, a paired t-test and an exact sign-flip
permutation test, both Holm-corrected over the pairs, and the smallest difference
the seeds could detect with 80% power. A two-level bootstrap (seeds, then the same
resampled test images for every run) adds the test-set sampling noise that seed
variation alone does not show, since every run is scored on the same 10,000 images.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

from src.models.variants import ordered_pairs, title

ALPHA = 0.05
POWER = 0.80
BOOTSTRAP_RESAMPLES = 4000


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean; (nan, nan) below two values."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def variant_summary(accuracies: np.ndarray) -> dict[str, float | int]:
    """Mean, std (n − 1), min, max and the 95% t interval of the mean of one variant's per-seed accuracies."""
    accuracies = np.asarray(accuracies, np.float64)
    low, high = t_interval(accuracies)
    return {"seeds": int(len(accuracies)), "mean": float(accuracies.mean()),
            "std": float(accuracies.std(ddof=1)) if len(accuracies) > 1 else math.nan,
            "min": float(accuracies.min()), "max": float(accuracies.max()), "ci_low": low, "ci_high": high}


def sign_flip_p_value(differences: np.ndarray, seed: int = 0) -> float:
    """Two-sided permutation test of a zero mean paired difference (signs flipped; exact up to 2^16 flips)."""
    differences = np.asarray(differences, np.float64)
    if len(differences) < 2 or not np.any(differences):
        return 1.0 if len(differences) else math.nan
    result = stats.permutation_test(
        (differences,), np.mean, permutation_type="samples", alternative="two-sided",
        n_resamples=2 ** min(len(differences), 16), random_state=np.random.default_rng(seed))
    return float(result.pvalue)


def smallest_permutation_p(n: int) -> float:
    """The smallest two-sided p-value a sign-flip test on ``n`` pairs can give: 2 / 2^n."""
    return 2.0 / 2 ** n


def minimum_detectable_difference(std: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest true mean difference a two-sided paired t-test on ``n`` pairs detects with ``power``.

    ``std`` is the standard deviation of the paired differences; the power comes from the
    noncentral t distribution (not the normal approximation, which flatters small n).
    """
    if n < 2 or not math.isfinite(std):
        return math.nan
    if std == 0:
        return 0.0
    df, critical = n - 1, stats.t.ppf(1 - alpha / 2, n - 1)

    def shortfall(effect: float) -> float:
        noncentrality = effect / (std / math.sqrt(n))
        # The wrong-sign tail is negligible but scipy can return nan for it at df = 1.
        wrong_sign = float(np.nan_to_num(stats.nct.cdf(-critical, df, noncentrality)))
        return stats.nct.sf(critical, df, noncentrality) + wrong_sign - power

    upper = std
    while shortfall(upper) < 0:
        upper *= 2
    return float(optimize.brentq(shortfall, 0.0, upper, xtol=1e-10))


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given); nan stays nan and is not counted."""
    indexed = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    adjusted = [math.nan] * len(p_values)
    running, m = 0.0, len(indexed)
    for rank, (p, i) in enumerate(sorted(indexed)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def two_level_bootstrap(correct: dict[int, np.ndarray], other: dict[int, np.ndarray] | None = None,
                        seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval at ``level`` of a mean accuracy (or of a mean paired difference when ``other`` is given).

    Each resample draws the seeds with replacement and, independently, the test images
    with replacement; every drawn run is scored on the same drawn images, as in the study.
    ``correct`` maps training seed -> per-image values (0/1 correctness, or a heatmap score).
    """
    seeds = sorted(correct if other is None else set(correct) & set(other))
    matrix = np.stack([correct[s].astype(np.float64) for s in seeds])
    if other is not None:
        matrix = matrix - np.stack([other[s].astype(np.float64) for s in seeds])
    rng = np.random.default_rng(seed)
    n_seeds, n_images = matrix.shape
    estimates = np.empty(resamples)
    for start in range(0, resamples, 250):  # chunks keep the image weights at 250 x N
        count = min(250, resamples - start)
        weights = rng.multinomial(n_images, np.full(n_images, 1 / n_images), size=count) / n_images
        per_seed = matrix @ weights.T  # (seeds, count): each run on each resampled test set
        drawn = rng.integers(0, n_seeds, (count, n_seeds))
        estimates[start:start + count] = np.take_along_axis(per_seed.T, drawn, axis=1).mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(estimates, tail)), float(np.quantile(estimates, 1 - tail))


def paired_comparison(first: dict[int, float], second: dict[int, float]) -> dict[str, float | int]:
    """first − second over the training seeds both have: mean, std, t interval, t-test and sign-flip p."""
    seeds = sorted(set(first) & set(second))
    differences = np.array([first[s] - second[s] for s in seeds], np.float64)
    n = len(differences)
    std = float(differences.std(ddof=1)) if n > 1 else math.nan
    if n > 1 and std > 0:
        t_p = float(stats.ttest_rel([first[s] for s in seeds], [second[s] for s in seeds]).pvalue)
    else:  # no spread: the t statistic is undefined (all seeds agree exactly, or one seed)
        t_p = math.nan if n < 2 else (1.0 if differences.mean() == 0 else 0.0)
    low, high = t_interval(differences)
    return {"seeds": n, "difference": float(differences.mean()) if n else math.nan, "std": std,
            "ci_low": low, "ci_high": high, "t_test_p": t_p, "permutation_p": sign_flip_p_value(differences)}


def seed_level_tests(accuracy: dict[str, dict[int, float]], baseline: str) -> list[dict]:
    """Every ordered pair's paired comparison with Holm-adjusted p-values and the detectable difference.

    The family for Holm is the pairs compared here (three for three variants), each test
    family (t, permutation) adjusted on its own. The minimum detectable difference uses
    the strictest Holm level, alpha / pairs, so it answers "could this study have found it".
    """
    pairs = ordered_pairs(list(accuracy), baseline)
    rows = [{"first": a, "second": b, **paired_comparison(accuracy[a], accuracy[b])} for a, b in pairs]
    for key in ("t_test_p", "permutation_p"):
        for row, adjusted in zip(rows, holm([row[key] for row in rows])):
            row[f"{key}_holm"] = adjusted
    for row in rows:
        row["minimum_detectable_difference"] = minimum_detectable_difference(
            row["std"], row["seeds"], alpha=ALPHA / max(len(rows), 1))
        row["verdict"] = verdict(row)
    return rows


def verdict(row: dict) -> str:
    """The sentence the report prints for one pair, from the Holm-corrected paired t-test."""
    a, b = title(row["first"]), title(row["second"])
    if row["seeds"] < 2:
        return f"{a} − {b}: fewer than two paired seeds, no seed-level evidence either way"
    p = row["t_test_p_holm"]
    points = 100 * row["difference"]
    if not math.isnan(p) and p < ALPHA:
        better = a if points > 0 else b
        return (f"{a} − {b} = {points:+.2f} pt: evidence that {better} is more accurate "
                f"(paired t-test over {row['seeds']} seeds, Holm p = {p:.3g})")
    return (f"{a} − {b} = {points:+.2f} pt: no evidence of a difference "
            f"(paired t-test over {row['seeds']} seeds, Holm p = {p:.3g}; differences smaller than "
            f"{100 * row['minimum_detectable_difference']:.2f} pt were out of reach at 80% power)")
