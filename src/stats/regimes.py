"""The interaction between training regimes: does a variant's difference from Original change with the regime?

Per regime (a short and a long training), each training seed gives one paired difference
(e.g. SE − Original on that seed). The interaction is the mean difference in the long regime
minus that in the short one. The two regimes' runs are separate trainings with their own seeds
and seed counts, so the two sets of differences are independent samples with possibly unequal
spread: Welch's t-test (scipy ``ttest_ind``, ``equal_var=False``) with its Welch-Satterthwaite
interval. Over the interactions tested (SE − Original, CBAM − Original) the p-values are
Holm-corrected. Undefined (None, with the reason) when a regime has under two seeds or neither
regime's differences spread.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from src.core.errors import ParamsError
from src.stats.pvalue import PValue, holm
from src.stats.seeds import ALPHA, NO_SPREAD

WELCH = "Welch t-test on the per-seed differences of the two regimes"


@dataclass(frozen=True)
class RegimeInteraction:
    """long − short of a per-seed paired difference's mean, with its Welch interval at ``level`` and p-values.

    ``p_holm`` is set by ``regime_interactions`` (None for a single test or an undefined p).
    """

    interaction: float | None
    short_mean: float | None
    long_mean: float | None
    low: float | None
    high: float | None
    level: float
    df: float | None
    short_seeds: int
    long_seeds: int
    p: PValue
    p_holm: float | None = None
    reason: str = ""


def _undefined_reason(short: np.ndarray, long: np.ndarray) -> str:
    for name, values in (("short", short), ("long", long)):
        if len(values) < 2:
            count = "one seed" if len(values) else "no seeds"
            return f"{count} in the {name} regime: its spread cannot be measured"
    if np.ptp(short) <= NO_SPREAD and np.ptp(long) <= NO_SPREAD:
        return "the same difference on every seed of each regime: zero spread"
    return ""


def regime_interaction(short: np.ndarray, long: np.ndarray, level: float = 0.95) -> RegimeInteraction:
    """Welch's t-test of mean(long) − mean(short) on two regimes' per-seed paired differences."""
    if not 0 < level < 1:
        raise ParamsError(f"interaction interval level must be between 0 and 1, got {level}")
    short, long = np.asarray(short, np.float64), np.asarray(long, np.float64)
    short_mean = float(short.mean()) if len(short) else None
    long_mean = float(long.mean()) if len(long) else None
    interaction = long_mean - short_mean if short_mean is not None and long_mean is not None else None
    reason = _undefined_reason(short, long)
    if reason:
        return RegimeInteraction(interaction, short_mean, long_mean, None, None, level, None, len(short), len(long),
                                 PValue.undefined(WELCH, reason), reason=reason)
    with warnings.catch_warnings():
        # A regime whose differences are all equal has zero variance: Welch then rests on the other
        # regime's alone, which is right, but scipy warns of "precision loss" in that variance.
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        result = stats.ttest_ind(long, short, equal_var=False)
    interval = result.confidence_interval(level)
    return RegimeInteraction(interaction, short_mean, long_mean, float(interval.low), float(interval.high), level,
                             float(result.df), len(short), len(long), PValue(float(result.pvalue), WELCH))


def regime_interactions(differences: dict[str, tuple[np.ndarray, np.ndarray]],
                        level: float = 0.95) -> dict[str, RegimeInteraction]:
    """Every comparison's interaction (name -> (short, long) per-seed differences), Holm-corrected over them."""
    tests = {name: regime_interaction(short, long, level) for name, (short, long) in differences.items()}
    adjusted = holm([t.p.value for t in tests.values()])
    return {name: replace(t, p_holm=p) for (name, t), p in zip(tests.items(), adjusted)}


def significant(interaction: RegimeInteraction, alpha: float = ALPHA) -> bool:
    """Whether the regime changes the difference: the Holm p (or, alone, the p) below alpha."""
    p = interaction.p_holm if interaction.p_holm is not None else interaction.p.value
    return p is not None and p < alpha
