"""Seed-level verdicts: pairs against Original, Holm over the pairs, and what the sentence says on degenerate data."""
from __future__ import annotations

from src.models.variants import ordered_pairs
from src.report.seeds import seed_level_tests


def test_differences_are_taken_against_original_whatever_the_order():
    assert ordered_pairs(["se", "original"], "original") == [("se", "original")]
    assert ordered_pairs(["original", "se", "cbam"], "original") == [
        ("se", "original"), ("cbam", "original"), ("cbam", "se")]
    assert ordered_pairs(["cbam", "se"], "original") == [("se", "cbam")]


def test_verdicts_say_no_evidence_unless_the_seeds_agree():
    noisy = {"original": {s: 0.86 + d for s, d in enumerate([0.004, -0.003, 0.001, -0.002, 0.0])},
             "se": {s: 0.861 + d for s, d in enumerate([-0.004, 0.003, 0.002, -0.001, -0.003])},
             "cbam": {s: 0.870 + d for s, d in enumerate([0.004, -0.003, 0.001, -0.002, 0.0005])}}
    rows = {(r["first"], r["second"]): r for r in seed_level_tests(noisy, "original")}
    assert set(rows) == {("se", "original"), ("cbam", "original"), ("cbam", "se")}
    assert "no evidence of a difference" in rows["se", "original"]["verdict"]
    assert rows["se", "original"]["verdict"].startswith("SE − Original = +0.")
    assert "evidence that CBAM is more accurate" in rows["cbam", "original"]["verdict"]
    # Holm: the adjusted p-value is never below the raw one, and the three are adjusted together.
    for row in rows.values():
        assert row["t_test_p_holm"] >= row["t_test_p"]
    one_seed = seed_level_tests({"original": {0: 0.8}, "se": {0: 0.9}}, "original")
    assert "fewer than two paired seeds" in one_seed[0]["verdict"]
    assert one_seed[0]["t_test_p_holm"] is None and one_seed[0]["permutation_p_holm"] is None


def test_zero_spread_claims_no_t_test_evidence_and_weighs_the_sign_flip_test():
    # Every seed shows SE 0.1 pt above Original: no t statistic, and five seeds cannot reach p < 0.05.
    original = {s: 0.8601 + s / 1000 for s in range(5)}
    row = seed_level_tests({"original": original, "se": {s: v + 0.001 for s, v in original.items()}}, "original")[0]
    assert row["t_test_p"] is None and row["t_test_p_holm"] is None
    assert row["permutation_p_holm"] == 0.0625
    assert row["verdict"] == ("SE − Original = +0.10 pt on every one of the 5 seeds: no evidence of a difference "
                              "(the paired t-test is undefined without spread; exact sign-flip test, Holm p = 0.0625, "
                              "and 5 seeds cannot give one below 0.0625)")
    assert "Holm p = 0 " not in row["verdict"] and "Holm p = 0;" not in row["verdict"]


def test_zero_spread_over_enough_seeds_is_sign_flip_evidence():
    original = {s: 0.8601 + s / 1000 for s in range(7)}
    row = seed_level_tests({"original": original, "se": {s: v - 0.002 for s, v in original.items()}}, "original")[0]
    assert row["permutation_p_holm"] == 2 / 2 ** 7
    assert row["verdict"].startswith("SE − Original = -0.20 pt on every one of the 7 seeds: evidence that Original "
                                     "is more accurate")


def test_identical_accuracies_are_no_difference_to_test():
    same = {s: 0.86 + s / 100 for s in range(3)}
    row = seed_level_tests({"original": same, "se": dict(same)}, "original")[0]
    assert row["t_test_p"] is None and row["permutation_p"] == 1.0
    assert row["verdict"] == ("SE − Original = +0.00 pt: the same accuracy on each of the 3 seeds, no difference "
                              "to test (the paired t-test is undefined without spread)")
