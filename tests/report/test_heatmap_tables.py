"""The report's heatmap part on a small hand-made study: each variant's layer x method table, the verdicts
against the baselines, and the variants' maps compared over seeds and images.

The inputs are what the heatmap stages write (metrics/cam studies and run summaries, data/cam per-image
scores), built by hand so that each number the report prints can be worked out here; the tables are read
cell by cell.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from src.report.tables import HeatmapStudy, between_variants, between_variants_section, cam_section, cam_table, \
    cam_verdicts, comparison_table
from tests.report.test_tables import fake_study

# The five metrics of the study, with the side of zero a better map's difference lies on.
LOWER_IS_BETTER = {"deletion_auc": True, "insertion_auc": False, "average_drop": True,
                   "increase_in_confidence": False, "road": False}
LABELS = {"deletion_auc": "deletion AUC ↓", "insertion_auc": "insertion AUC ↑", "average_drop": "Average Drop % ↓",
          "increase_in_confidence": "Increase in Conf. % ↑", "road": "ROAD ↑"}
IMAGES = 40
SELECTION_IMAGES = 300
MAPS = {"stage1/gradcam": 16, "stage2/layercam": 8, "fused/layercam": 16}  # key -> native resolution


def interval(difference: float, low: float, high: float) -> dict:
    return {"difference": difference, "ci_low": low, "ci_high": high}


def versus(beaten: set[str]) -> dict:
    """Paired differences with a baseline: on the better side of zero for the ``beaten`` metrics, across it else."""
    out = {}
    for metric, lower in LOWER_IS_BETTER.items():
        if metric in beaten:
            out[metric] = interval(-0.05, -0.08, -0.02) if lower else interval(0.05, 0.02, 0.08)
        else:
            out[metric] = interval(0.01, -0.02, 0.04)
    return out


def map_summary(key: str, means: dict, random_wins: set[str], edge_wins: set[str], top_block: float,
                img_per_s: float) -> dict:
    """One map's entry in a metrics/cam summary, as MapResult.summary writes it."""
    layer, method = key.split("/")
    resolution = MAPS[key]
    return {"layer": layer, "method": method, "resolution": [resolution, resolution], **means,
            "road_morf": 0.3, "road_lerf": 0.3 + means["road"], "img_per_s": img_per_s,
            "baselines": {name: dict(means) for name in ("random", "edge")},
            "vs_random": versus(random_wins), "vs_edge": versus(edge_wins),
            "sanity": {"spearman": {"classifier": 0.9, "top block": top_block, "stage1": 0.1, "stem": 0.0},
                       "top_block": top_block, "flagged": not top_block < 0.5},
            "wins_vs_random": len(random_wins)}


def means(shift: float = 0.0) -> dict:
    return {"deletion_auc": 0.35 - shift, "insertion_auc": 0.45 + shift, "average_drop": 60.0 - 100 * shift,
            "increase_in_confidence": 10.0 + 100 * shift, "road": 0.2 + shift}


EVERY = set(LOWER_IS_BETTER)


def study_summary(variant: str, seed: int, chosen: str, fused_random_wins: set[str] = EVERY) -> dict:
    """A variant's metrics/cam study: every map, and the one the rule chose."""
    maps = {
        "stage1/gradcam": map_summary("stage1/gradcam", means(), {"deletion_auc", "average_drop", "road"},
                                      {"insertion_auc"}, 0.12, 626.4),
        "stage2/layercam": map_summary("stage2/layercam", means(0.01), set(), set(), 0.72, 1087.0),
        "fused/layercam": map_summary("fused/layercam", means(0.02 + 0.01 * seed), fused_random_wins,
                                      {"deletion_auc", "road"}, 0.43, 1087.0),
    }
    return {"variant": variant, "training_seed": seed, "images": SELECTION_IMAGES, "sanity_images": 20,
            "sanity_threshold": 0.5, "rule": "The rule as the heatmap study stated it.", "chosen": chosen, "maps": maps}


def run_summary(variant: str, seed: int, key: str, fused_random_wins: set[str] = EVERY) -> dict:
    """A run's metrics/cam summary: its variant's map scored on the test images, without the check."""
    scores = study_summary(variant, seed, key, fused_random_wins)["maps"][key]
    return {"variant": variant, "training_seed": seed, "images": IMAGES, "map": key,
            "maps": {key: {k: v for k, v in scores.items() if k != "sanity"}}}


def run_arrays(offsets: dict[str, float], seed: int) -> dict:
    """Per map: per-image scores (the chosen map's shifted by ``offsets``) and the mean curves."""
    rng = np.random.default_rng(seed)
    per_image = {metric: (0.5 + offsets.get(metric, 0.0) + rng.normal(0, 0.02, IMAGES)).astype(np.float32)
                 for metric in LOWER_IS_BETTER}
    curve = np.linspace(1.0, 0.2, 5).astype(np.float32)
    curves = {name: curve for name in ("deletion", "insertion", "random_deletion", "random_insertion",
                                       "edge_deletion", "edge_insertion")}
    return {key: {"per_image": per_image, "curve": curves} for key in MAPS}


KEYS = {"original": "stage1/gradcam", "se": "stage1/gradcam", "cbam": "fused/layercam"}


def heatmap_study(offsets: dict[str, dict[str, float]] | None = None, seeds: int = 2) -> HeatmapStudy:
    """Original, SE and CBAM over ``seeds`` seeds; CBAM's study chose fused/layercam, the others' stage1/gradcam.
    On seed 1 the fused map beats random on three metrics only."""
    offsets = offsets or {}
    studies = {v: study_summary(v, 0, key) for v, key in KEYS.items()}
    summaries = {v: [run_summary(v, s, key, {"deletion_auc", "insertion_auc", "road"} if s == 1 else EVERY)
                     for s in range(seeds)] for v, key in KEYS.items()}
    arrays = {v: [run_arrays(offsets.get(v, {}), 10 * i + s) for s in range(seeds)] for i, v in enumerate(KEYS)}
    return HeatmapStudy(studies, summaries, arrays)


def table_rows(markdown: str, heading: str | None = None) -> list[dict[str, str]]:
    """The rows of the first markdown table (after ``heading``, if given) as {column: cell text}."""
    lines = markdown.splitlines()
    if heading is not None:
        lines = lines[lines.index(heading):]
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, body = block[0], block[2:]  # block[1] is the alignment row
    return [dict(zip(header, row)) for row in body]


def by_map(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["map"]: row for row in rows}


def test_cam_table_shows_each_metric_with_its_difference_from_random_and_counts_wins_by_direction():
    summary = study_summary("cbam", 0, "fused/layercam")
    fused = summary["maps"]["fused/layercam"]
    fused.update(deletion_auc=0.3172, average_drop=34.12)
    fused["vs_random"]["deletion_auc"] = interval(-0.0591, -0.0743, -0.0431)
    fused["vs_random"]["average_drop"] = interval(-37.31, -40.72, -33.66)
    rows = by_map(table_rows(cam_table(summary).to_markdown(index=False, disable_numparse=True)))

    assert list(rows) == ["stage1/gradcam", "stage2/layercam", "**fused/layercam** (chosen)"]
    chosen = rows["**fused/layercam** (chosen)"]
    assert chosen["native"] == "16×16" and rows["stage2/layercam"]["native"] == "8×8"
    # Three decimals for the AUCs and ROAD, one for the percentages; Δ and its interval in the metric's format.
    assert chosen["deletion AUC ↓"] == "0.317 (Δ -0.059 [-0.074, -0.043])"
    assert chosen["Average Drop % ↓"] == "34.1 (Δ -37.3 [-40.7, -33.7])"
    assert chosen["ROAD ↑"] == "0.220 (Δ 0.050 [0.020, 0.080])"
    assert chosen["Increase in Conf. % ↑"] == "12.0 (Δ 0.1 [0.0, 0.1])"
    # Wins over random come from the run's own count; wins over the edges are counted from the intervals,
    # each on its metric's better side (deletion and ROAD here: lower and higher is better).
    assert chosen["beats random / edge"] == "5/5, 2/5"
    assert rows["stage1/gradcam"]["beats random / edge"] == "3/5, 1/5"
    assert rows["stage2/layercam"]["beats random / edge"] == "0/5, 0/5"
    # The randomisation check: flagged from 0.5 up; speed as a whole number.
    assert rows["stage2/layercam"]["Spearman, top block randomised"] == "0.72 ⚑"
    assert chosen["Spearman, top block randomised"] == "0.43"
    assert rows["stage1/gradcam"]["img/s"] == "626" and chosen["img/s"] == "1087"


def test_an_edge_interval_on_the_worse_side_is_not_a_win():
    summary = study_summary("se", 0, "stage1/gradcam")
    edge = summary["maps"]["stage1/gradcam"]["vs_edge"]
    edge["deletion_auc"] = interval(0.05, 0.02, 0.08)    # higher deletion AUC than the edges: worse
    edge["insertion_auc"] = interval(-0.05, -0.08, -0.02)  # lower insertion AUC than the edges: worse
    edge["road"] = interval(0.05, 0.02, 0.08)             # higher ROAD than the edges: better
    rows = by_map(table_rows(cam_table(summary).to_markdown(index=False, disable_numparse=True)))
    assert rows["**stage1/gradcam** (chosen)"]["beats random / edge"] == "3/5, 1/5"


def test_verdicts_name_the_studys_choice_and_per_run_the_metrics_it_beats_each_baseline_on():
    lines = cam_verdicts(heatmap_study(seeds=3))
    cbam = lines[lines.index(next(line for line in lines if line.startswith("- **CBAM**"))):][:3]
    assert cbam[0] == ("- **CBAM**: the rule chose **fused/layercam** (16×16) on 300 validation images of training "
                       "seed 0; on the 40 test images of each run:")
    # Seed 1 beats random on three metrics, named by their column labels; all five or none are not listed.
    assert cbam[1] == ("  - vs random: beats it on seed 0: 5/5; seed 1: 3/5 (deletion AUC ↓, insertion AUC ↑, ROAD ↑); "
                       "seed 2: 5/5.")
    assert cbam[2] == "  - vs edge: beats it on seed 0: 2/5 (deletion AUC ↓, ROAD ↑); seed 1: 2/5 (deletion AUC ↓, " \
                      "ROAD ↑); seed 2: 2/5 (deletion AUC ↓, ROAD ↑)."
    original = lines[:3]
    assert original[0].startswith("- **Original**: the rule chose **stage1/gradcam** (16×16) on 300 validation")
    assert original[1] == ("  - vs random: beats it on seed 0: 3/5 (deletion AUC ↓, Average Drop % ↓, ROAD ↑); "
                           "seed 1: 3/5 (deletion AUC ↓, Average Drop % ↓, ROAD ↑); seed 2: 3/5 (deletion AUC ↓, "
                           "Average Drop % ↓, ROAD ↑).")
    zero = run_summary("se", 0, "stage2/layercam")
    lines = cam_verdicts(HeatmapStudy({"se": study_summary("se", 0, "stage2/layercam")}, {"se": [zero]},
                                      {"se": [run_arrays({}, 0)]}))
    assert lines[1:] == ["  - vs random: beats it on seed 0: 0/5.", "  - vs edge: beats it on seed 0: 0/5."]


def test_between_variants_pairs_runs_by_seed_and_adjusts_the_level_for_every_pair_and_metric():
    # CBAM's map deletes faster (lower AUC, better) and scores a higher ROAD (better); SE has a lower
    # insertion AUC (worse) than Original; elsewhere the three differ by noise only.
    offsets = {"cbam": {"deletion_auc": -0.1, "road": 0.1}, "se": {"insertion_auc": -0.1}}
    pairs = between_variants(heatmap_study(offsets), seed=0)
    assert [(p["first"], p["second"]) for p in pairs] == [("se", "original"), ("cbam", "original"), ("cbam", "se")]
    for pair in pairs:
        assert pair["seeds"] == 2 and pair["comparisons"] == 15
        assert pair["level"] == pytest.approx(1 - 0.05 / 15)
        for metric in LOWER_IS_BETTER:
            d = pair[metric]
            # The adjusted interval is the wider one, and both hold the mean difference.
            assert d["adjusted_low"] <= d["ci_low"] <= d["difference"] <= d["ci_high"] <= d["adjusted_high"]
    cbam = {(p["first"], p["second"]): p for p in pairs}[("cbam", "original")]
    assert cbam["deletion_auc"]["difference"] == pytest.approx(-0.1, abs=0.01)
    assert cbam["deletion_auc"]["better"] == "first"      # lower is better: CBAM's map
    assert cbam["road"]["better"] == "first"              # higher is better: CBAM's map again
    assert cbam["average_drop"]["better"] == "neither"
    se = {(p["first"], p["second"]): p for p in pairs}[("se", "original")]
    assert se["insertion_auc"]["better"] == "second"      # SE's lower insertion AUC: Original's map is better
    # The difference averages each seed's mean difference (seeds weigh equally).
    study = heatmap_study(offsets)
    by_seed = [study.arrays["se"][s]["stage1/gradcam"]["per_image"]["insertion_auc"].astype(np.float64).mean()
               - study.arrays["original"][s]["stage1/gradcam"]["per_image"]["insertion_auc"].astype(np.float64).mean()
               for s in range(2)]
    assert se["insertion_auc"]["difference"] == pytest.approx(np.mean(by_seed))


def test_between_variants_section_states_the_comparisons_and_the_verdicts():
    offsets = {"cbam": {"deletion_auc": -0.1, "road": 0.1}, "se": {"insertion_auc": -0.1}}
    lines = between_variants_section(heatmap_study(offsets), seed=0)
    text = "\n".join(lines)
    assert lines[0] == "### Which variant's heatmap is more faithful?"
    assert "training seed (2 per pair)" in text and "(99.67%, over 15 comparisons)" in text
    rows = {row["difference"]: row for row in table_rows(text)}
    assert list(rows) == ["SE − Original", "CBAM − Original", "CBAM − SE"]
    cell = rows["CBAM − Original"]["deletion AUC ↓"]
    difference, rest = cell.split(" [", 1)
    assert float(difference) == pytest.approx(-0.1, abs=0.01) and "(adj. [" in rest
    verdict = next(line for line in lines if line.startswith("- Better by the adjusted interval: "))
    named = verdict.removeprefix("- Better by the adjusted interval: ").removesuffix(".").split("; ")
    assert named == ["Original on insertion AUC ↑ (SE − Original)", "CBAM on deletion AUC ↓ (CBAM − Original)",
                     "CBAM on ROAD ↑ (CBAM − Original)", "CBAM on deletion AUC ↓ (CBAM − SE)",
                     "CBAM on insertion AUC ↑ (CBAM − SE)", "CBAM on ROAD ↑ (CBAM − SE)"]


def test_no_difference_between_variants_is_said_and_one_variant_has_no_section():
    lines = between_variants_section(heatmap_study(), seed=0)
    assert lines[-2] == ("- Better by the adjusted interval: no evidence that any variant's heatmap is more "
                         "faithful than another's on any metric.")
    study = heatmap_study()
    alone = HeatmapStudy({"se": study.studies["se"]}, {"se": study.summaries["se"]}, {"se": study.arrays["se"]})
    assert between_variants_section(alone, seed=0) == []
    assert "### Which variant's heatmap is more faithful?" not in "\n".join(cam_section(alone, seed=0))


def test_cam_section_states_the_images_the_check_and_the_rule_and_tables_every_variants_study():
    lines = cam_section(heatmap_study(), seed=0)
    text = "\n".join(lines)
    assert lines[0] == "## Heatmaps: which one to trust"
    assert "training seed and 300 validation" in text and "map alone on the same 40 test images." in text
    assert "the stem on 20 of the validation images; Spearman correlation" in text and "(⚑ = 0.5 or" in text
    assert "**Choice rule.** The rule as the heatmap study stated it." in text
    paragraph = " ".join(lines[2:lines.index("", 2)])
    assert ("Metrics: deletion/insertion AUC of the target probability as pixels are removed/inserted "
            "most-important-first (mean-colour fill); Average Drop and Increase in Confidence on the image "
            "multiplied by its map; ROAD = LeRF − MoRF") in paragraph
    assert "for Average Drop and Increase in Confidence each is rescaled to the map's mean (its mass)." in paragraph
    columns = ["map", "native", *LABELS.values(), "beats random / edge", "Spearman, top block randomised", "img/s"]
    for variant, chosen in (("Original", "stage1/gradcam"), ("SE", "stage1/gradcam"), ("CBAM", "fused/layercam")):
        rows = table_rows(text, f"### {variant}: the study (training seed 0, 300 validation images)")
        assert list(rows[0]) == columns
        assert [row["map"] for row in rows] == [f"**{key}** (chosen)" if key == chosen else key for key in MAPS]


def test_the_comparison_table_carries_each_variants_map_and_its_mean_scores_over_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.80, 0.81], "se": [0.80, 0.82], "cbam": [0.79, 0.80]})
    table, _ = comparison_table(study, seed=0, heatmaps=heatmap_study())
    assert table.loc["cbam", "cam_map"] == "fused/layercam" and table.loc["cbam", "cam_resolution"] == 16
    # CBAM's fused map scores 0.02 + 0.01 * seed above the base means: 0.025 on average over its two seeds.
    assert table.loc["cbam", "cam_deletion_auc"] == pytest.approx(0.35 - 0.025)
    assert table.loc["cbam", "cam_average_drop"] == pytest.approx(60.0 - 2.5)
    assert table.loc["cbam", "cam_road"] == pytest.approx(0.2 + 0.025)
    assert table.loc["se", "cam_insertion_auc"] == pytest.approx(0.45)
    assert table.loc["cbam", "cam_img_per_s"] == pytest.approx(1087.0)
    assert {f"cam_{m}" for m in LOWER_IS_BETTER} <= set(table.columns)


def test_curves_of_a_variants_map_run_from_nothing_to_everything_removed():
    curves = heatmap_study().curves("cbam")
    assert isinstance(curves, pd.DataFrame)
    assert curves["fraction"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert list(curves.columns) == ["fraction", "deletion", "insertion", "random_deletion", "random_insertion",
                                    "edge_deletion", "edge_insertion"]
    assert curves["deletion"].iloc[0] == pytest.approx(1.0) and curves["deletion"].iloc[-1] == pytest.approx(0.2)
