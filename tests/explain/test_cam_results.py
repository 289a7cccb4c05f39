"""A run's heatmap results on disk, and the one map a variant is shown and compared with."""
from __future__ import annotations

import json

import numpy as np
import pytest

from src.core.errors import DataError
from src.explain.cam_results import load_run, run_arrays, variant_map
from src.explain.heatmap_study import MapResult
from src.explain.faithfulness import compared_metrics
from src.paths import Run

METRICS = [metric.name for metric in compared_metrics()]


def summary(chosen: str, wins: dict[str, int]) -> dict:
    return {"chosen": chosen, "maps": {key: {"wins_vs_random": w, "resolution": [16 // (i + 1)] * 2}
                                       for i, (key, w) in enumerate(wins.items())}}


def test_the_most_chosen_map_wins_then_the_one_with_more_wins():
    wins = {"stage1/gradcam": 3, "stage2/gradcam": 5}
    runs = [summary("stage1/gradcam", wins), summary("stage2/gradcam", wins), summary("stage1/gradcam", wins)]
    assert variant_map(runs) == "stage1/gradcam"
    assert variant_map(runs[:2]) == "stage2/gradcam"  # one vote each: stage2 beats random more often
    with pytest.raises(ValueError):
        variant_map([])


def test_scores_and_curves_survive_the_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = Run("se", 3)
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
              "vs_edge": dict.fromkeys(METRICS, difference),
              "sanity": {"spearman": {"logits": 0.9}, "top_block": 0.4, "flagged": False}}
    run.cam_metrics.write_text(json.dumps({"training_seed": 3, "images": 2, "sanity_images": 2, "sanity_threshold": 0.5,
                                           "rule": "a rule", "chosen": "fused/gradcam",
                                           "maps": {"fused/gradcam": scores}}))
    loaded_summary, arrays = load_run(run)
    assert loaded_summary["chosen"] == "fused/gradcam"
    np.testing.assert_allclose(arrays["fused/gradcam"]["per_image"]["road"], [0.1, 0.2])
    np.testing.assert_allclose(arrays["fused/gradcam"]["curve"]["random_deletion"], [1.0, 0.7])
    # A curve cut short no longer lines up with the others: the run is refused, naming the lengths.
    arrays = dict(np.load(run.cam_scores))
    arrays["fused/gradcam|curve|deletion"] = arrays["fused/gradcam|curve|deletion"][:1].repeat(3)
    np.savez(run.cam_scores, **arrays)
    with pytest.raises(DataError, match=r"the curves of fused/gradcam differ in length \(curve\|deletion has 3, "):
        load_run(run)
    run.cam_scores.unlink()
    with pytest.raises(DataError, match=r"run `dvc repro heatmaps@se-3`"):
        load_run(run)
