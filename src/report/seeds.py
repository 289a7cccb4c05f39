"""Seed-level verdicts: is one variant more accurate than another across training seeds?

One trained model per variant cannot answer that: a second training seed moves a
CIFAR ResNet's test accuracy by about as much as attention is said to gain. Here the
unit of evidence is the training run. For each pair of variants, runs are paired by
training seed (the same seed gives both the same data order and augmentation): the
statistics of src/stats/seeds.py, both tests Holm-corrected over the pairs, the difference
the seeds could detect with 80% power with its interval, the equivalence test within a margin
fixed before the data (two one-sided tests, Holm), and the sentence the report prints.
"""
from __future__ import annotations

import math

from src.models.variants import ordered_pairs, title
from src.stats.detectable import DetectableDifference, detectable_difference
from src.stats.equivalence import EQUIVALENCE_MARGIN, equivalence_tests
from src.stats.pvalue import holm
from src.stats.seeds import ALPHA, NO_DIFFERENCE, paired_comparison, paired_differences, smallest_permutation_p


def seed_level_tests(accuracy: dict[str, dict[int, float]], baseline: str,
                     margin: float = EQUIVALENCE_MARGIN) -> list[dict]:
    """Every ordered pair's paired comparison with Holm-adjusted p-values, the detectable difference and the
    equivalence test.

    The family for Holm is the pairs compared here (three for three variants), each test
    family (t, permutation, equivalence) adjusted on its own; a test without a p-value is left
    out of its family. The detectable difference uses the strictest Holm level, alpha / pairs,
    so it answers "could this study have found it"; its interval comes from the chi-square
    interval of the paired differences' spread. ``margin`` (accuracy units) is the equivalence
    margin, fixed before the data are seen.
    """
    pairs = ordered_pairs(list(accuracy), baseline)
    rows = [{"first": a, "second": b, **paired_comparison(accuracy[a], accuracy[b])} for a, b in pairs]
    differences = {(a, b): paired_differences(accuracy[a], accuracy[b]) for a, b in pairs}
    for key in ("t_test", "permutation"):
        for row in rows:
            row[f"{key}_p"] = row[key].value
        for row, adjusted in zip(rows, holm([row[f"{key}_p"] for row in rows])):
            row[f"{key}_p_holm"] = adjusted
    equivalence = equivalence_tests(differences, margin=margin)
    for row in rows:
        pair = (row["first"], row["second"])
        row["detectable"] = detectable_difference(differences[pair], comparisons=max(len(rows), 1))
        row["minimum_detectable_difference"] = math.nan if row["detectable"].value is None \
            else row["detectable"].value
        row["equivalence"] = equivalence[pair]
        row["verdict"] = verdict(row)
    return rows


def verdict(row: dict) -> str:
    """The sentence the report prints for one pair, from the Holm-corrected paired t-test.

    Without spread the t-test has no p-value: every seed agrees exactly, so the sentence says
    that and weighs the sign-flip test instead, which is exact there.
    """
    a, b = title(row["first"]), title(row["second"])
    if row["seeds"] < 2:
        return f"{a} − {b}: fewer than two paired seeds, no seed-level evidence either way"
    points, n = 100 * row["difference"], row["seeds"]
    if row["spread"] == NO_DIFFERENCE:
        return (f"{a} − {b} = {points:+.2f} pt: the same accuracy on each of the {n} seeds, no difference to test "
                "(the paired t-test is undefined without spread)")
    if row["t_test_p_holm"] is None:
        p = row["permutation_p_holm"]
        finding = f"evidence that {a if points > 0 else b} is more accurate" if p < ALPHA else \
            "no evidence of a difference"
        floor = "" if p < ALPHA else f", and {n} seeds cannot give one below {smallest_permutation_p(n):.3g}"
        return (f"{a} − {b} = {points:+.2f} pt on every one of the {n} seeds: {finding} (the paired t-test is "
                f"undefined without spread; exact sign-flip test, Holm p = {p:.3g}{floor})")
    p = row["t_test_p_holm"]
    if p < ALPHA:
        better = a if points > 0 else b
        return (f"{a} − {b} = {points:+.2f} pt: evidence that {better} is more accurate "
                f"(paired t-test over {n} seeds, Holm p = {p:.3g})")
    return (f"{a} − {b} = {points:+.2f} pt: no evidence of a difference "
            f"(paired t-test over {n} seeds, Holm p = {p:.3g}); {row['equivalence'].text()}; "
            f"{detectable_text(row['detectable'])}")


def detectable_text(detectable: DetectableDifference) -> str:
    """The detectable difference as an estimate with its interval, never as a bound."""
    if detectable.value is None:
        return f"no detectable difference: {detectable.reason}"
    return (f"the difference these seeds detect with {detectable.power:.0%} power is estimated at "
            f"{100 * detectable.value:.2f} pt ({detectable.level:.0%} CI {100 * detectable.low:.2f}–"
            f"{100 * detectable.high:.2f} pt)")
