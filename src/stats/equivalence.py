"""Equivalence over seeds: two one-sided t-tests (TOST) that the mean paired difference lies within ± a margin.

"No evidence of a difference" is not evidence of no difference. To say two variants are
equivalent the study tests it: H0 |mean difference| >= margin against |mean difference| <
margin, as two one-sided paired t-tests on the per-seed differences (statsmodels'
``DescrStatsW.ttost_mean``, the test ``ttost_paired`` runs on the differences); its p-value is
the larger of the two. The margin is fixed before the data are seen (``EQUIVALENCE_MARGIN``,
0.3 pt: the low end of the gains reported for attention in CIFAR ResNets). Across comparisons
the TOST p-values are Holm-corrected, and "equivalent within ± margin" is claimed only where the
corrected p is below alpha. The interval that goes with TOST at alpha is the 1 − 2·alpha t
interval: equivalence at alpha holds exactly when it lies inside ± margin. Over a family of m
comparisons the 1 − 2·alpha / m interval (Bonferroni) goes with the verdict: inside ± margin, it
implies Holm's equivalence (Holm rejects whenever Bonferroni does), so a report that shows it
never shows an interval inside the margin beside "not shown equivalent".
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from statsmodels.stats.weightstats import DescrStatsW

from src.core.errors import ParamsError
from src.stats.pvalue import PValue, holm
from src.stats.seeds import ALPHA, no_spread_reason

EQUIVALENCE_MARGIN = 0.003  # accuracy, i.e. ± 0.3 pt
TOST = "two one-sided paired t-tests (TOST)"


@dataclass(frozen=True)
class Equivalence:
    """TOST of first − second within ± ``margin``: mean difference, its 1 − 2·alpha interval, p, and the verdict.

    ``p_holm`` and the ``family_`` interval (1 − 2·alpha / m over the m defined tests) are set
    by ``equivalence_tests`` (None for a single test or an undefined p); ``equivalent`` is the
    verdict from ``p_holm`` when set, else from ``p``.
    """

    difference: float | None
    low: float | None
    high: float | None
    level: float
    margin: float
    seeds: int
    p: PValue
    p_holm: float | None = None
    family_low: float | None = None
    family_high: float | None = None
    family_level: float | None = None
    equivalent: bool = False
    alpha: float = ALPHA
    reason: str = ""

    def text(self) -> str:
        """What the report may say: equivalence only when it was shown."""
        if self.reason:
            return f"no equivalence test: {self.reason}"
        p = self.p_holm if self.p_holm is not None else self.p.value
        corrected = "Holm " if self.p_holm is not None else ""
        if self.equivalent:
            return f"equivalent within ± {100 * self.margin:.2f} pt (TOST, {corrected}p = {p:.3g})"
        return f"not shown equivalent within ± {100 * self.margin:.2f} pt (TOST, {corrected}p = {p:.3g})"


def equivalence_test(differences: np.ndarray, margin: float = EQUIVALENCE_MARGIN, alpha: float = ALPHA) -> Equivalence:
    """TOST on per-seed paired differences (first − second) with H1: −margin < mean < margin, uncorrected."""
    if not margin > 0:
        raise ParamsError(f"equivalence margin must be positive (accuracy units), got {margin}")
    if not 0 < alpha < 0.5:
        raise ParamsError(f"equivalence alpha must be between 0 and 0.5, got {alpha}")
    differences = np.asarray(differences, np.float64)
    n, level = len(differences), 1 - 2 * alpha
    mean = float(differences.mean()) if n else None
    reason = no_spread_reason(differences)
    if reason:
        return Equivalence(mean, None, None, level, margin, n, PValue.undefined(TOST, reason), alpha=alpha,
                           reason=reason)
    described = DescrStatsW(differences)
    p = float(described.ttost_mean(-margin, margin)[0])
    low, high = described.tconfint_mean(alpha=2 * alpha)
    return Equivalence(mean, float(low), float(high), level, margin, n, PValue(p, TOST), equivalent=p < alpha,
                       alpha=alpha)


def equivalence_tests(differences: dict[str, np.ndarray], margin: float = EQUIVALENCE_MARGIN,
                      alpha: float = ALPHA) -> dict[str, Equivalence]:
    """TOST of every comparison (name -> per-seed paired differences), Holm-corrected over the family.

    An undefined test is left out of the family, as in ``holm``.
    """
    tests = {name: equivalence_test(d, margin, alpha) for name, d in differences.items()}
    adjusted = dict(zip(tests, holm([t.p.value for t in tests.values()])))
    family = sum(p is not None for p in adjusted.values())
    results = {}
    for name, test in tests.items():
        p = adjusted[name]
        if p is None:
            results[name] = test
            continue
        low, high = DescrStatsW(np.asarray(differences[name], np.float64)).tconfint_mean(alpha=2 * alpha / family)
        results[name] = replace(test, p_holm=p, equivalent=p < alpha, family_low=float(low), family_high=float(high),
                                family_level=1 - 2 * alpha / family)
    return results
