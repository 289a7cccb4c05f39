"""The compare report on a small fake study: directions, verdicts over seeds, and one seed read for what it is."""
from __future__ import annotations

import json

import numpy as np
import pytest

from src.core.errors import DataError
from src.paths import Run
from src.report.tables import Study, comparison_table, headline, mixed_seeds, report, run_table, whole_run_timing

IMAGES_PER_EPOCH = 1000


def fake_study(root, accuracies: dict[str, list[float]], images: int = 400, setups: dict | None = None) -> Study:
    """Runs with the given test accuracies; ``setups`` maps (variant, seed) to (cpu, precision, train img/s)."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, images)
    for variant, values in accuracies.items():
        for seed, accuracy in enumerate(values):
            run = Run(variant, seed, "smoke")
            right = np.arange(images) < round(accuracy * images)
            predicted = np.where(right, labels, (labels + 1) % 10)
            probs = np.eye(10)[predicted] * 0.9 + 0.01
            for path in (run.predictions, run.train_metrics, run.test_metrics):
                (root / path).parent.mkdir(parents=True, exist_ok=True)
            np.savez(root / run.predictions, probs=probs, labels=labels)
            default = ("Test CPU", "float32", 1000.0 - 10 * len(variant))
            cpu, precision, speed = (setups or {}).get((variant, seed), default)
            # Three epochs at the run's speed, the first twice as long (graph tracing), as dvclive logs them.
            seconds = [2 * IMAGES_PER_EPOCH / speed, IMAGES_PER_EPOCH / speed, IMAGES_PER_EPOCH / speed]
            curve = root / run.curve("time", "train_seconds")
            curve.parent.mkdir(parents=True, exist_ok=True)
            curve.write_text("step\ttrain_seconds\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(seconds)))
            (root / run.train_metrics).write_text(json.dumps({
                "best_val_accuracy": accuracy, "params": 100 + len(variant), "mflops_per_image": 1.0, "epochs": 3,
                "train_minutes": 1.0, "train_img_per_s": speed, "precision": precision,
                "environment": {"cpu": cpu, "precision": precision}}))
            (root / run.test_metrics).write_text(json.dumps({
                "accuracy": float(right.mean()), "loss": 1.0, "inference_img_per_s": 5000.0,
                "per_class_accuracy": {str(k): 0.5 for k in range(10)}}))
    return Study.load("smoke", list(accuracies), list(range(len(next(iter(accuracies.values()))))))


def test_a_worse_variant_gets_a_negative_difference_over_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.80, 0.81, 0.82], "se": [0.75, 0.77, 0.76]})
    table, tests = comparison_table(study, seed=0)
    assert table.loc["se", "accuracy_vs_original"] == pytest.approx(-0.05)
    assert table.loc["se", "test_accuracy_ci_low"] < table.loc["se", "test_accuracy"] < \
        table.loc["se", "test_accuracy_ci_high"]
    assert tests[0]["first"] == "se" and tests[0]["new_images"].high < 0
    text = report(table, run_table(study, 0), tests, study, None, "smoke")
    assert "SE − Original = -5.00 pt: evidence that Original is more accurate" in text
    assert "| SE        | 2      | 0.7600" in text  # every run has its row
    assert "One training seed" not in text


def test_the_headline_is_the_tables_numbers_in_short_fields(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.80, 0.81, 0.82], "se": [0.75, 0.77, 0.76]})
    table, _ = comparison_table(study, seed=0)
    rows = headline(table)
    se, original = rows["se"], rows["original"]
    assert list(se) == ["seeds", "acc", "acc_lo", "acc_hi", "d_pt", "d_lo", "d_hi", "p_holm", "train_min"]
    assert se["seeds"] == 3 and se["acc"] == 0.76 and se["d_pt"] == -5.0
    assert se["acc_lo"] == round(table.loc["se", "test_accuracy_ci_low"], 4) and se["acc_lo"] < 0.76 < se["acc_hi"]
    assert se["d_lo"] == round(100 * table.loc["se", "accuracy_vs_original_ci_low"], 2) < -5 < se["d_hi"]
    assert se["p_holm"] == round(table.loc["se", "t_test_p_holm_vs_original"], 3)
    assert original["acc"] == 0.81 and original["d_pt"] is None and original["p_holm"] is None
    one_seed = fake_study(tmp_path / "one", {"original": [0.80], "se": [0.75]})
    assert headline(comparison_table(one_seed, seed=0)[0])["se"]["acc_lo"] is None  # no interval from one seed


def test_one_seed_gives_no_seed_level_verdict(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.80], "cbam": [0.85]})
    table, tests = comparison_table(study, seed=0)
    text = report(table, run_table(study, 0), tests, study, None, "smoke")
    assert "One training seed per variant: no seed-level evidence either way" in text
    assert "CBAM − Original" in text and "evidence that" not in text


def test_speed_ratio_is_taken_per_seed_so_the_machine_cancels(tmp_path, monkeypatch):
    # Seed 0 ran on a machine 10x faster than seed 1's: SE is 0.9x Original there and 0.5x on
    # seed 1. Per seed the ratios are 0.9 and 0.5 (geometric mean 0.67); a ratio of the mean
    # speeds (950 / 1100 = 0.86) would mostly report the fast machine.
    monkeypatch.chdir(tmp_path)
    setups = {("original", 0): ("Fast CPU", "mixed_bfloat16", 1000.0), ("se", 0): ("Fast CPU", "mixed_bfloat16", 900.0),
              ("original", 1): ("Slow CPU", "float32", 100.0), ("se", 1): ("Slow CPU", "float32", 50.0)}
    study = fake_study(tmp_path, {"original": [0.80, 0.81], "se": [0.80, 0.82]}, setups=setups)
    table, tests = comparison_table(study, seed=0)
    assert table.loc["se", "train_speed_vs_original"] == pytest.approx((0.9 * 0.5) ** 0.5)
    assert (table.loc["se", "train_speed_vs_original_min"], table.loc["se", "train_speed_vs_original_max"]) == \
        pytest.approx((0.5, 0.9))
    text = report(table, run_table(study, 0), tests, study, None, "smoke")
    assert "| 0      | Fast CPU | mixed_bfloat16 |" in text
    assert "its variants trained on different setups" not in text  # each seed kept to one machine


def test_a_seed_whose_variants_ran_on_different_setups_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    setups = {("original", 1): ("Slow CPU", "float32", 100.0), ("se", 1): ("Fast CPU", "mixed_bfloat16", 900.0)}
    study = fake_study(tmp_path, {"original": [0.80, 0.81], "se": [0.80, 0.82]}, setups=setups)
    runs = run_table(study, 0)
    assert mixed_seeds(runs) == {1: "Fast CPU, mixed_bfloat16; Slow CPU, float32"}
    table, tests = comparison_table(study, seed=0)
    text = report(table, runs, tests, study, None, "smoke")
    assert "**Seed 1: its variants trained on different setups (Fast CPU, mixed_bfloat16; Slow CPU, float32).**" in text
    assert "Seed 0:" not in text


def test_a_resumed_run_is_timed_over_every_epoch_of_its_curve():
    # Killed after epoch 2 of 4 and resumed: the metrics time epochs 3-4 only (120 s each, a busier
    # machine); the curve keeps epochs 1-2 (100 s after the first). 1,000 images per epoch.
    epoch_seconds = np.array([150.0, 100.0, 130.0, 120.0])
    resumed = {"resumed_from_epoch": 2, "train_minutes": 4.2, "train_img_per_s": 1000 / 120}
    timing = whole_run_timing(resumed, epoch_seconds)
    assert timing["train_minutes"] == pytest.approx(500 / 60)
    assert timing["train_img_per_s"] == pytest.approx(1000 / np.median([100.0, 130.0, 120.0]))
    # Not resumed: the img/s is the training stage's own.
    whole = {"resumed_from_epoch": 0, "train_minutes": 9.0, "train_img_per_s": 1000 / 120}
    assert whole_run_timing(whole, epoch_seconds)["train_img_per_s"] == pytest.approx(1000 / 120)


def test_the_report_names_a_resumed_run_and_times_runs_from_their_curves(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.80, 0.81], "se": [0.80, 0.82]})
    study.train[Run("se", 1, "smoke")]["resumed_from_epoch"] = 2
    table, tests = comparison_table(study, seed=0)
    runs = run_table(study, 0)
    text = report(table, runs, tests, study, None, "smoke")
    assert "Resumed from a checkpoint: SE seed 1 (after epoch 2)." in text
    assert "Original seed 0 (after" not in text
    # The metrics say 1.0 min for every run; the curves say 4 epoch-lengths of 1,000 images at the run's speed.
    assert runs.set_index(["variant", "seed"]).loc[("se", 0), "train_minutes"] == pytest.approx(4 * 1000 / 980 / 60)


# Degenerate studies: the report prints why a statistic is missing, never a p-value the data do not back.

def cells(text: str, first_column: str) -> list[str]:
    """The cells of the report's table row that starts with ``first_column``."""
    row = next(line for line in text.splitlines() if line.startswith(f"| {first_column} "))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_zero_spread_prints_why_there_is_no_t_test_p_and_claims_no_evidence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.80, 0.81, 0.82], "se": [0.81, 0.82, 0.83]})  # +1 pt on every seed
    table, tests = comparison_table(study, seed=0)
    assert np.isnan(table.loc["se", "t_test_p_holm_vs_original"])  # null in the metrics, not 0
    assert table.loc["se", "permutation_p_holm_vs_original"] == pytest.approx(0.25)
    text = report(table, run_table(study, 0), tests, study, None, "smoke")
    row = cells(text, "SE − Original")
    assert row[2] == "none: the same on every seed: zero spread"
    assert row[4:6] == ["the same on every seed: zero spread", "n/a"]
    # Three seeds cannot bring the sign-flip test below 0.25: it is left out of the table, and the prose says why.
    assert "sign-flip p" not in text.split("## Do the variants differ?")[1].split("\n\n")[2]
    assert "The sign-flip test is left out: with 3 seeds its smallest possible p-value is 0.25" in text
    assert row[6:8] == ["none: the same on every seed: zero spread"] * 2  # equivalence, detectable
    assert ("- SE − Original = +1.00 pt on every one of the 3 seeds: no evidence of a difference (the paired t-test "
            "is undefined without spread; exact sign-flip test, Holm p = 0.25, and 3 seeds cannot give one below "
            "0.25).") in text
    assert "Holm p = 0;" not in text and "Holm p = 0 " not in text and "evidence that" not in text


def test_identical_models_are_reported_as_nothing_to_test(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.80, 0.81], "se": [0.80, 0.81]})  # the same predictions
    table, tests = comparison_table(study, seed=0)
    text = report(table, run_table(study, 0), tests, study, None, "smoke")
    assert ("- SE − Original = +0.00 pt: the same accuracy on each of the 2 seeds, no difference to test (the paired "
            "t-test is undefined without spread).") in text
    row = cells(text, "SE − Original")
    assert row[3] == "none: no difference on any seed"
    assert row[4:6] == ["no difference on any seed", "n/a"] and row[6] == "none: no difference on any seed"
    assert "Computed: no test on 2 of 2 pairs of models (no discordant image)." in text
    assert "+0.00 pt, no test: the two models agree on every image: no discordant image to test" in text


def test_a_single_seed_prints_why_its_interval_over_seeds_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.80], "se": [0.75]})
    table, tests = comparison_table(study, seed=0)
    text = report(table, run_table(study, 0), tests, study, None, "smoke")
    assert cells(text, "SE")[4] == "none: one seed: no spread to measure"
    assert tests[0]["t_test"].reason == tests[0]["permutation"].reason == "one seed: no spread to measure"
    assert np.isnan(table.loc["se", "t_test_p_holm_vs_original"])
    assert "One training seed per variant: no seed-level evidence either way" in text


def test_every_image_right_or_wrong_has_no_interval_and_mcnemar_says_what_it_computed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [1.0, 1.0], "se": [0.0, 0.0], "cbam": [1.0, 1.0]})
    table, tests = comparison_table(study, seed=0)
    runs = run_table(study, 0)
    text = report(table, runs, tests, study, None, "smoke")
    assert cells(text, "Original  | 0")[3] == "none: every image right: no spread to resample"
    assert cells(text, "SE        | 1")[3] == "none: every image wrong: no spread to resample"
    assert cells(text, "Original")[4:6] == ["none: the same on every seed: zero spread",
                                            "none: the same on every image of every run: no spread to resample"]
    # Original and CBAM both right everywhere: no test; SE wrong where they are right: 400 discordant images.
    assert "+0.00 pt, no test: both models right on every image: no discordant image to test" in text
    assert "-100.00 pt, p = " in text
    assert ("Computed: the chi-square test with continuity correction on 4 of 6 pairs of models (25 or more "
            "discordant images); no test on 2 of 6 pairs of models (no discordant image).") in text
    assert "evidence that" not in text  # two seeds: the sign-flip test cannot go below 0.5


def test_mcnemar_label_names_the_exact_test_when_it_was_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.80, 0.81, 0.82], "se": [0.75, 0.77, 0.76]})  # 16-24 discordant
    table, tests = comparison_table(study, seed=0)
    text = report(table, run_table(study, 0), tests, study, None, "smoke")
    assert "Computed: the exact binomial test on 3 of 3 pairs of models (fewer than 25 discordant images)." in text
    assert "exact binomial below 25" not in text


def test_an_epoch_of_zero_seconds_is_a_damaged_curve_not_a_division_by_zero(tmp_path, monkeypatch):
    # Found by the artefact fuzz: a time curve cut to "0" made the report divide by zero.
    monkeypatch.chdir(tmp_path)
    fake_study(tmp_path, {"original": [0.80, 0.81], "se": [0.75, 0.77]})
    curve = Run("se", 1, "smoke").curve("time", "train_seconds")
    curve.write_text("step\ttrain_seconds\n0\t2.5\n1\t0\n2\t1.2\n")
    with pytest.raises(DataError, match=r"train_seconds.tsv: has an epoch of 0.0 s; every epoch takes more than 0 s; "
                                        r"run `dvc repro train@smoke-se-1`"):
        Study.load("smoke", ["original", "se"], [0, 1])
