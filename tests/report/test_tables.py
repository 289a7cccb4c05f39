"""The compare report names every difference by its direction and reads one-run tests for what they are."""
from __future__ import annotations

import numpy as np

from src.report.tables import ordered_pairs, pairwise_tests


def test_differences_are_taken_against_original_whatever_the_order():
    assert ordered_pairs(["se", "original"]) == [("se", "original")]
    assert ordered_pairs(["original", "se", "cbam"]) == [("se", "original"), ("cbam", "original"), ("cbam", "se")]
    assert ordered_pairs(["cbam", "se"]) == [("se", "cbam")]


def test_a_worse_variant_gets_a_negative_difference():
    labels = np.arange(100)
    original = labels < 60      # 60% right
    se = labels < 57            # 57% right, a subset of Original's
    table = pairwise_tests({"se": se, "original": original})
    row = table.iloc[0]
    assert row["difference"] == "SE − Original" and row["accuracy points"] == "-3.00"
    assert row["images only the first gets right"] == 0 and row["only the second"] == 3
