"""The heatmap results on disk: a variant's study, its runs' scores, and the refusal of a run scored with another map."""
from __future__ import annotations

import json

import numpy as np
import pytest

from src.core.errors import DataError
from src.explain.cam_results import load_run, load_study, load_variant_runs, run_arrays
from src.explain.heatmap_study import MapResult
from src.explain.faithfulness import compared_metrics
from src.paths import Run, cam_study

METRICS = [metric.name for metric in compared_metrics()]


def test_scores_and_curves_survive_the_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = Run("se", 3, "smoke")
    per_image = {metric: np.array([0.3, 0.4]) for metric in METRICS} | {"road": np.array([0.1, 0.2])}
    curves = {"deletion_curve": [1.0, 0.7], "insertion_curve": [0.2, 0.4]}
    result = MapResult("fused", "gradcam", "stage1", (16, 16), np.zeros((2, 4, 4)), np.zeros((2, 2, 2)),
                       {"per_image": per_image, "deletion_curve": [1.0, 0.5], "insertion_curve": [0.2, 0.9]},
                       baselines={"random": curves, "edge": curves})
    run.cam_scores.parent.mkdir(parents=True)
    run.cam_metrics.parent.mkdir(parents=True)
    np.savez(run.cam_scores, **run_arrays([result]))
    difference = {"difference": 0.1, "ci_low": 0.0, "ci_high": 0.2}
    scores = {"resolution": [16, 16], "wins_vs_random": 1, "img_per_s": 10.0, **dict.fromkeys(METRICS, 0.5),
              "vs_random": dict.fromkeys(METRICS, difference),
              "vs_edge": dict.fromkeys(METRICS, difference)}
    run.cam_metrics.write_text(json.dumps({"training_seed": 3, "images": 2, "map": "fused/gradcam",
                                           "maps": {"fused/gradcam": scores}}))
    loaded_summary, arrays = load_run(run)
    assert loaded_summary["map"] == "fused/gradcam"
    np.testing.assert_allclose(arrays["fused/gradcam"]["per_image"]["road"], [0.1, 0.2])
    np.testing.assert_allclose(arrays["fused/gradcam"]["curve"]["random_deletion"], [1.0, 0.7])
    # A curve cut short no longer lines up with the others: the run is refused, naming the lengths.
    arrays = dict(np.load(run.cam_scores))
    arrays["fused/gradcam|curve|deletion"] = arrays["fused/gradcam|curve|deletion"][:1].repeat(3)
    np.savez(run.cam_scores, **arrays)
    with pytest.raises(DataError, match=r"the curves of fused/gradcam differ in length \(curve\|deletion has 3, "):
        load_run(run)
    run.cam_scores.unlink()
    with pytest.raises(DataError, match=r"run `dvc repro heatmaps@smoke-se-3`"):
        load_run(run)


def test_a_run_scored_with_another_map_than_its_variants_study_chose_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    difference = {"difference": 0.1, "ci_low": 0.0, "ci_high": 0.2}
    scores = {"resolution": [8, 8], "wins_vs_random": 5, "img_per_s": 10.0, **dict.fromkeys(METRICS, 0.5),
              "vs_random": dict.fromkeys(METRICS, difference), "vs_edge": dict.fromkeys(METRICS, difference)}
    sanity = {"sanity": {"spearman": {"classifier": 0.9, "top block": 0.2}, "top_block": 0.2, "flagged": False}}
    study = {"training_seed": 0, "images": 30, "sanity_images": 10, "sanity_threshold": 0.5, "rule": "a rule",
             "chosen": "stage2/gradcam", "maps": {"stage1/gradcam": scores | sanity, "stage2/gradcam": scores | sanity}}
    cam_study("smoke", "se").parent.mkdir(parents=True)
    cam_study("smoke", "se").write_text(json.dumps(study))
    for seed, key in ((0, "stage2/gradcam"), (1, "stage1/gradcam")):
        Run("se", seed, "smoke").cam_metrics.write_text(json.dumps({"training_seed": seed, "images": 2, "map": key,
                                                           "maps": {key: scores}}))
    assert load_study("smoke", "se")["chosen"] == "stage2/gradcam"
    loaded, summaries, arrays = load_variant_runs("smoke", "se", [0], arrays=False)
    assert loaded == study and [s["map"] for s in summaries] == ["stage2/gradcam"] and arrays == [{}]
    with pytest.raises(DataError, match=r"seed1.json: scores the map 'stage1/gradcam', but the study .*study.json "
                                        r"chose 'stage2/gradcam'; run `dvc repro heatmaps@smoke-se-1`"):
        load_variant_runs("smoke", "se", [0, 1], arrays=False)
    # A study naming a map it did not measure, and a run holding more maps than its own, are damaged files.
    cam_study("smoke", "se").write_text(json.dumps(study | {"chosen": "fused/gradcam"}))
    with pytest.raises(DataError, match=r"its chosen map 'fused/gradcam' is not among its maps; run "
                                        r"`dvc repro heatmap_study@smoke-se`"):
        load_study("smoke", "se")
    for chosen in ("fused", "stage2/nocam", "/gradcam"):
        cam_study("smoke", "se").write_text(json.dumps(study | {"chosen": chosen}))
        with pytest.raises(DataError, match=rf"its chosen map '{chosen}' is not <layer>/<method> of the known "
                                            r"layers \(stage1, .*\); run `dvc repro heatmap_study@smoke-se`"):
            load_study("smoke", "se")
    cam_study("smoke", "se").write_text(json.dumps(study))
    Run("se", 0, "smoke").cam_metrics.write_text(json.dumps({"training_seed": 0, "images": 2, "map": "stage2/gradcam",
                                                    "maps": {"stage1/gradcam": scores, "stage2/gradcam": scores}}))
    with pytest.raises(DataError, match=r"expected its map 'stage2/gradcam' alone"):
        load_variant_runs("smoke", "se", [0], arrays=False)
