"""A p-value that may be undefined, with the reason, and Holm's correction over a family of them.

A test on degenerate data (zero spread, one seed, no discordant images) has no p-value: giving
0 or 1 there would claim evidence, or its absence, that the data do not hold.
"""
from __future__ import annotations

from dataclasses import dataclass

from statsmodels.stats.multitest import multipletests


@dataclass(frozen=True)
class PValue:
    """A test's p-value, or None with the reason the data cannot give one; ``method`` says what was computed."""

    value: float | None
    method: str
    reason: str = ""

    @classmethod
    def undefined(cls, method: str, reason: str) -> "PValue":
        return cls(None, method, reason)

    def text(self) -> str:
        """The p-value to 3 significant digits, or the reason in its place."""
        return f"{self.value:.3g}" if self.value is not None else self.reason


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (same order); None stays None and is not counted in the family."""
    defined = [i for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    if defined:
        corrected = multipletests([p_values[i] for i in defined], method="holm")[1]
        for i, p in zip(defined, corrected):
            adjusted[i] = float(p)
    return adjusted
