"""Whether the exact sign-flip permutation test over S seeds can reach the significance level at all.

The test flips the signs of S paired differences: 2^S equally likely outcomes, of which the
observed one and its mirror image are the two most extreme, so its two-sided p-value is never
below 2 / 2^S (0.0625 at five seeds). Holm over m comparisons multiplies the smallest p by m, so
the test can reject anything only when m · 2 / 2^S <= alpha. When it cannot, reporting it as a
"check" of the t-test is empty: whatever the data, it says "no evidence". Such a test is then
left out of the report, with the reason in its place.
"""
from __future__ import annotations

from dataclasses import dataclass

from src.core.errors import ParamsError
from src.stats.seeds import ALPHA, smallest_permutation_p


@dataclass(frozen=True)
class SignFlipReach:
    """Whether the Holm-corrected sign-flip test on ``seeds`` pairs over ``comparisons`` can reach ``alpha``.

    ``smallest_p``: its smallest p (2 / 2^S); ``smallest_holm_p``: that times the comparisons
    (capped at 1); ``seeds_needed``: the fewest seeds that could reach alpha with these comparisons;
    ``reason``: why the test is absent from the report, "" when it can reach the level.
    """

    seeds: int
    comparisons: int
    alpha: float
    smallest_p: float
    smallest_holm_p: float
    seeds_needed: int
    reason: str = ""

    @property
    def can_reach(self) -> bool:
        return not self.reason


def seeds_needed(comparisons: int, alpha: float = ALPHA) -> int:
    """The fewest seeds whose sign-flip test, Holm-corrected over ``comparisons``, can reach ``alpha``."""
    seeds = 1
    while comparisons * smallest_permutation_p(seeds) > alpha:
        seeds += 1
    return seeds


def sign_flip_reach(seeds: int, comparisons: int, alpha: float = ALPHA) -> SignFlipReach:
    """Whether m · 2 / 2^S <= alpha for S = ``seeds`` and m = ``comparisons``, and the report's reason if not."""
    if comparisons < 1:
        raise ParamsError(f"sign-flip reach: comparisons must be at least 1, got {comparisons}")
    if seeds < 0:
        raise ParamsError(f"sign-flip reach: seeds cannot be negative, got {seeds}")
    if not 0 < alpha < 1:
        raise ParamsError(f"sign-flip reach: alpha must be between 0 and 1, got {alpha}")
    smallest = smallest_permutation_p(seeds) if seeds else 1.0
    holm_smallest = min(1.0, comparisons * smallest)
    needed = seeds_needed(comparisons, alpha)
    reason = ""
    if holm_smallest > alpha:
        family = f", Holm over {comparisons} comparisons makes it {holm_smallest:.3g}" if comparisons > 1 else ""
        reason = (f"the sign-flip test is left out: with {seeds} seed{'s' if seeds != 1 else ''} its smallest "
                  f"possible p-value is {smallest:.3g}{family}, above α = {alpha:g} whatever the data "
                  f"({needed} seeds are needed)")
    return SignFlipReach(seeds, comparisons, alpha, smallest, holm_smallest, needed, reason)
