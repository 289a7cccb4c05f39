"""Calibrating the heatmap randomisation check against seed-to-seed agreement, paired over images.

The check asks whether a map depends on what the model learned: a trained model's map should
correlate less with its randomised copy's map than with the map of another trained model. A
fixed Spearman threshold cannot say how low is low, since two trained seeds of the same variant
do not agree perfectly either. So per image two rank correlations are compared: (a) trained vs
its randomised copy, (b) trained vs a second trained seed of the same variant, on the same
images. A map passes when (a) is significantly below (b): the one-sided Wilcoxon signed-rank
test of a − b < 0 over the images (scipy; exact without ties up to 50 images, otherwise the
normal approximation, the label says which), at alpha, Holm-corrected over the maps checked
together. Images with equal correlations carry no sign and are dropped (Wilcoxon's zero rule).
The mean of a − b with a paired percentile bootstrap interval gives the size.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from src.core.errors import DataError, ParamsError
from src.stats.pvalue import PValue, holm
from src.stats.seeds import ALPHA

EXACT_UP_TO = 50  # images: scipy's exact Wilcoxon distribution is exact only without ties
WILCOXON = "one-sided Wilcoxon signed-rank test"
WILCOXON_EXACT = f"{WILCOXON}, exact"
WILCOXON_NORMAL = f"{WILCOXON}, normal approximation"
RESAMPLES = 4000


@dataclass(frozen=True)
class RandomisationCheck:
    """Trained-vs-randomised minus trained-vs-trained correlation over images: mean, interval, p, verdict.

    ``images``: images compared (``dropped``: those without both correlations, i.e. nan).
    ``p_holm`` is set by ``randomisation_checks``; ``passes`` uses it when set, else ``p``.
    """

    difference: float | None
    low: float | None
    high: float | None
    level: float
    images: int
    dropped: int
    p: PValue
    p_holm: float | None = None
    passes: bool = False
    alpha: float = ALPHA
    reason: str = ""


def _wilcoxon_method(differences: np.ndarray) -> str:
    nonzero = differences[differences != 0]
    ties = len(np.unique(np.abs(nonzero))) < len(nonzero)
    return "exact" if len(nonzero) <= EXACT_UP_TO and not ties else "asymptotic"


def randomisation_check(trained_vs_randomised: np.ndarray, trained_vs_trained: np.ndarray, alpha: float = ALPHA,
                        level: float = 0.95, seed: int = 0) -> RandomisationCheck:
    """Is the trained-vs-randomised correlation below the trained-vs-trained one on the same images? (uncorrected)"""
    if not 0 < alpha < 1 or not 0 < level < 1:
        raise ParamsError(f"randomisation check: alpha and level must be between 0 and 1, got {alpha}, {level}")
    a = np.asarray(trained_vs_randomised, np.float64)
    b = np.asarray(trained_vs_trained, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise DataError(f"randomisation check: one correlation per image in each, got shapes {a.shape} and {b.shape}")
    kept = np.isfinite(a) & np.isfinite(b)
    # Correlations are computed in floating point: differences below 1e-12 are rounding, not signs or ranks.
    differences = np.round(a[kept] - b[kept], 12)
    dropped, n = int(np.sum(~kept)), len(differences)
    mean = float(differences.mean()) if n else None
    reason = ""
    if not n:
        reason = "no image with both correlations"
    elif np.all(differences == 0):
        reason = "the two correlations are equal on every image: nothing to rank"
    if reason:
        return RandomisationCheck(mean, None, None, level, n, dropped, PValue.undefined(WILCOXON, reason),
                                  alpha=alpha, reason=reason)
    method = _wilcoxon_method(differences)
    p = float(stats.wilcoxon(differences, alternative="less", zero_method="wilcox", method=method).pvalue)
    if np.ptp(differences) == 0:  # one value on every image: a resample can only repeat it
        low = high = mean
    else:
        interval = stats.bootstrap((differences,), np.mean, n_resamples=RESAMPLES, confidence_level=level,
                                   method="percentile", random_state=np.random.default_rng(seed)).confidence_interval
        low, high = float(interval.low), float(interval.high)
    label = WILCOXON_EXACT if method == "exact" else WILCOXON_NORMAL
    return RandomisationCheck(mean, low, high, level, n, dropped, PValue(p, label), passes=p < alpha, alpha=alpha)


def randomisation_checks(correlations: dict[str, tuple[np.ndarray, np.ndarray]], alpha: float = ALPHA,
                         level: float = 0.95, seed: int = 0) -> dict[str, RandomisationCheck]:
    """Every map's check (name -> (trained vs randomised, trained vs trained) per image), Holm over the maps."""
    checks = {name: randomisation_check(a, b, alpha, level, seed) for name, (a, b) in correlations.items()}
    adjusted = holm([c.p.value for c in checks.values()])
    return {name: replace(c, p_holm=p, passes=p is not None and p < alpha)
            for (name, c), p in zip(checks.items(), adjusted)}
