"""The layer x method study: the choice rule, the randomisation check and the cross-variant comparison."""
from __future__ import annotations

import numpy as np
import pytest

from src.explain.faithfulness import compared_metrics
from src.explain.heatmap_study import MapResult, choose, measure, measure_map, randomization, randomization_steps, \
    rank_correlation
from src.models.resnet import build_resnet

METRICS = [metric.name for metric in compared_metrics()]


def fake(layer: str, method: str, wins: int, score: float, resolution: int = 8, flagged: bool = False) -> MapResult:
    """A result that beats random on its first ``wins`` metrics, with every mean score ``score``."""
    versus = {metric: ({"difference": 0, "ci_low": -1, "ci_high": -0.5} if lower else
                       {"difference": 0, "ci_low": 0.5, "ci_high": 1}) if i < wins else
              {"difference": 0, "ci_low": -1, "ci_high": 1}
              for i, (metric, lower) in enumerate(zip(METRICS, (True, False, True, False, False)))}
    scores = {metric: (1 - score if metric in ("deletion_auc", "average_drop") else score) for metric in METRICS}
    return MapResult(layer, method, layer, (resolution, resolution), np.zeros((1, 2, 2)), np.zeros((1, 2, 2)),
                     scores, versus={"random": versus}, sanity={"flagged": flagged})


def test_choice_rule_wins_then_rank_then_resolution_and_skips_flagged_and_coarse_maps():
    maps = [fake("stage4", "gradcam", 3, 0.9, 2), fake("stage2", "gradcam++", 5, 0.4, 8),
            fake("stage1", "layercam", 5, 0.9, 16, flagged=True), fake("stage3", "gradcam", 5, 0.6, 8)]
    assert choose(maps).key == "stage3/gradcam"  # 5 wins; the 16x16 one is flagged; better ranks than stage2
    tie = [fake("stage3", "gradcam", 5, 0.5, 8), fake("stage2", "gradcam", 5, 0.5, 16)]
    assert choose(tie).key == "stage2/gradcam"   # same wins and ranks: the finer map
    coarse = [fake("stage3", "layercam", 5, 0.9, 4), fake("fused", "layercam", 5, 0.6, 16),
              fake("stage4", "layercam", 5, 0.95, 2)]
    assert choose(coarse).key == "fused/layercam"  # better-ranked 4x4 and 2x2 maps cannot localise in 32x32
    assert choose(coarse[::2]).key == "stage4/layercam"  # nothing fine enough: the rule runs over all
    all_flagged = [fake("stage1", "gradcam", 2, 0.5, flagged=True), fake("stage2", "gradcam", 4, 0.5, flagged=True)]
    assert choose(all_flagged).key == "stage2/gradcam"


def test_rank_correlation_is_spearman_and_zero_for_a_flat_map():
    rng = np.random.default_rng(0)
    a = rng.random((3, 4, 4))
    assert rank_correlation(a, a) == pytest.approx([1, 1, 1])
    assert rank_correlation(a, -a) == pytest.approx([-1, -1, -1])
    assert rank_correlation(a, a ** 3) == pytest.approx([1, 1, 1])  # monotone: ranks only
    assert rank_correlation(a, np.zeros_like(a)).tolist() == [0, 0, 0]


def test_cascade_goes_from_the_classifier_down_to_the_stem():
    model = build_resnet(blocks=(1, 1), width=4, strides=(1, 2), attention="cbam")
    steps = randomization_steps(model)
    assert [name for name, _ in steps] == ["classifier", "top block", "stage1", "stem"]
    assert all(name.startswith("stage2_") for name in steps[1][1]) and steps[0][1] == ["predictions"]
    everything = {layer.name for layer in model.layers if layer.weights}
    assert set().union(*(set(names) for _, names in steps)) == everything


def test_measure_and_randomize_a_small_network():
    model = build_resnet(blocks=(1, 1), width=4, strides=(1, 2), attention="se")
    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3)).astype(np.float32)
    probs = model.predict(images, verbose=0)
    results = measure(model, ["gradcam", "layercam"], ["stage1", "stage2", "fused"], images, probs, steps=4,
                      batch_size=4, seed=0)
    assert [r.key for r in results] == ["stage1/gradcam", "stage2/gradcam", "fused/gradcam", "stage1/layercam",
                                        "stage2/layercam", "fused/layercam"]
    by_key = {r.key: r for r in results}
    assert by_key["stage2/gradcam"].resolution == (16, 16) and by_key["fused/gradcam"].stage == "stage1"
    for result in results:
        assert set(result.versus) == {"random", "edge"} and set(result.versus["random"]) == set(METRICS)
        assert result.maps.shape == (6, 32, 32) and result.img_per_s > 0
    randomization(model, results, np.arange(3), images, probs.argmax(axis=1), batch_size=4, seed=0)
    for result in results:
        steps = result.sanity["spearman"]
        assert list(steps) == ["classifier", "top block", "stage1", "stem"]
        assert all(-1 <= value <= 1 for value in steps.values())
        assert result.sanity["flagged"] == (not result.sanity["top_block"] < 0.5)
    summary = results[0].summary()
    assert summary["layer"] == "stage1" and "vs_random" in summary and "per_image" not in summary

    # A run's one chosen map scores as it did among all maps: the fusion still from every listed stage.
    for key in ("fused/layercam", "stage2/gradcam"):
        alone = measure_map(model, key, ["stage1", "stage2", "fused"], images, probs, steps=4, batch_size=4, seed=0)
        assert alone.key == key and alone.resolution == by_key[key].resolution
        np.testing.assert_allclose(alone.maps, by_key[key].maps, rtol=1e-5, atol=1e-6)
        for metric in METRICS:
            np.testing.assert_allclose(alone.scores["per_image"][metric], by_key[key].scores["per_image"][metric],
                                       rtol=1e-5, atol=1e-6)
