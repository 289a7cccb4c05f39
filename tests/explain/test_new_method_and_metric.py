"""A CAM method and a faithfulness metric added as one registry entry each, here at test time, reach the
params schema, the heatmap study on a tiny network, its artefacts and the report's heatmap tables.

The method is XGrad-CAM (Fu et al. 2020, "Axiom-based Grad-CAM"): each channel weighted by its
gradient averaged over the positions with the channel's own activations as weights,
w_c = sum_hw(A_c * dS/dA_c) / sum_hw(A_c); tf-keras-vis lacks it, so its formula alone defines it.
The metric is Average Gain (Zhang et al. 2023, "Opti-CAM"): on the image multiplied by its map,
the rise of the target probability p as a share of what it could rise, 100 * max(p_masked - p, 0) /
(1 - p), higher is better; Increase in Confidence only counts the images where it rises.
"""
from __future__ import annotations

import copy
import json

import keras
import numpy as np
import pytest

from src.config.params import validate
from src.config.profile import build_profile
from src.core.errors import DataError, ParamsError
from src.explain import formulas
from src.explain.cam import CamExplainer
from src.explain.cam_results import load_run, run_arrays
from src.explain.faithfulness import METRICS, Metric, MapProbe, faithfulness
from src.explain.fast_cam import FastCamExplainer, cam_explainer
from src.explain.heatmap_study import choice_rule, choose, measure, randomization, run_summary, study_summary
from src.explain.methods import CAM_METHODS, CamMethod
from src.models.resnet import build_resnet
from src.paths import Run, cam_study
from src.report.tables import HeatmapStudy, between_variants, cam_section, cam_verdicts
from tests.explain.test_cam import PATCH, bright_images, patch_model  # noqa: F401  (bright_images: a fixture)
from tests.report.test_heatmap_tables import table_rows


def xgrad_cam(activations, gradients):
    """Channel weights are the gradients averaged over the positions, weighted by the channel's activations."""
    import tensorflow as tf
    totals = tf.reduce_sum(activations, axis=(1, 2), keepdims=True)
    weights = tf.reduce_sum(gradients * activations, axis=(1, 2), keepdims=True) / (
        totals + tf.cast(totals == 0.0, totals.dtype))
    return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


def average_gain(probe: MapProbe) -> np.ndarray:
    full, masked = probe.target_probabilities
    return 100 * np.maximum(masked - full, 0) / np.maximum(1 - full, 1e-12)


XGRAD_CAM = CamMethod("xgradcam", "xgrad_cam", reference=None)
AVERAGE_GAIN = Metric("average_gain", title="Average Gain", label="Average Gain % ↑", lower_is_better=False,
                      number_format="{:.1f}", per_image=average_gain, uses_mass=True,
                      description="Average Gain, the rise of the target probability on the image multiplied by "
                                  "its map as a share of what it could rise")


@pytest.fixture(scope="module")
def registered():
    """The two entries in their registries for the tests of this module, and gone after them."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(formulas, "xgrad_cam", xgrad_cam, raising=False)
        patch.setitem(CAM_METHODS, XGRAD_CAM.name, XGRAD_CAM)
        patch.setitem(METRICS, AVERAGE_GAIN.name, AVERAGE_GAIN)
        yield


def with_methods(methods: list[str]) -> dict:
    params = copy.deepcopy(build_profile("smoke"))
    params["gradcam"]["methods"] = methods
    return params


def test_the_params_schema_allows_a_method_once_it_is_registered(registered):
    assert validate(with_methods(["gradcam", "xgradcam"]))["gradcam"]["methods"] == ["gradcam", "xgradcam"]
    with pytest.raises(ParamsError, match=r"gradcam.methods = \['ablationcam'\] is invalid; .* layercam, scorecam, "
                                          r"xgradcam$"):
        validate(with_methods(["ablationcam"]))
    with pytest.MonkeyPatch.context() as patch:
        patch.delitem(CAM_METHODS, "xgradcam")
        with pytest.raises(ParamsError, match=r"gradcam.methods = \['gradcam', 'xgradcam'\] is invalid; .* "
                                              r"layercam, scorecam$"):
            validate(with_methods(["gradcam", "xgradcam"]))


def test_a_method_without_a_tf_keras_vis_class_is_computed_from_its_formula(registered, bright_images):  # noqa: F811
    model = patch_model()
    for implementation in ("reference", "fast"):
        assert type(cam_explainer(model, "xgradcam", implementation)) is FastCamExplainer
    with pytest.raises(ValueError, match="CAM method 'xgradcam' has no tf-keras-vis class"):
        CamExplainer(model, "xgradcam")
    cams = cam_explainer(model, "xgradcam")(bright_images, [1] * 6, batch_size=4)
    for cam in cams:
        row, col = np.unravel_index(cam.argmax(), cam.shape)
        assert PATCH[0].start <= row < PATCH[0].stop and PATCH[1].start <= col < PATCH[1].stop
    # The score of this network is linear in the pooled activations, so each channel's gradient is the same
    # at every position and XGrad-CAM's weights are Grad-CAM's (Fu et al. 2020): the same maps.
    layer = "stage1_block1_out"
    np.testing.assert_allclose(cam_explainer(model, "xgradcam").native(bright_images, [1] * 6, layer),
                               CamExplainer(model, "gradcam").native(bright_images, [1] * 6, layer), atol=1e-4)


def test_average_gain_by_hand(registered):
    images = np.stack([np.full((4, 4, 3), 100.0), np.full((4, 4, 3), 200.0)]).astype(np.float32)
    classes = np.array([0, 0])

    def predict(x):  # class 0's probability by the image's mean brightness
        p = np.interp(x.mean(axis=(1, 2, 3)), [50, 100, 200], [0.75, 0.5, 0.8])
        return np.stack([p, 1 - p], axis=1)

    # Multiplied by its half-mass map, the first image rises from 0.5 to 0.75 (a quarter of the half it
    # could rise) and the second falls from 0.8 to 0.5 (no gain; it drops by 37.5%).
    half = np.full((2, 4, 4), 0.5, np.float32)
    scores = faithfulness(predict, images, np.ones((2, 4, 4), np.float32), classes, steps=2, mass_maps=half)
    np.testing.assert_allclose(scores["per_image"]["average_gain"], [50.0, 0.0])
    assert scores["average_gain"] == pytest.approx(25.0)
    np.testing.assert_allclose(scores["per_image"]["increase_in_confidence"], [100.0, 0.0])
    np.testing.assert_allclose(scores["per_image"]["average_drop"], [0.0, 37.5])
    unmasked = faithfulness(predict, images, np.ones((2, 4, 4), np.float32), classes, steps=2)
    np.testing.assert_allclose(unmasked["per_image"]["average_gain"], [0.0, 0.0])  # the full map changes nothing


@pytest.fixture(scope="module")
def study(registered):
    """The heatmap stages' outputs for an Original and an SE network, as they build them: the study (every map),
    and a run's two files (the chosen map's scores; here on the same images)."""
    images = np.random.default_rng(2).uniform(0, 5, (6, 32, 32, 3)).astype(np.float32)  # logits near 10
    studies, summaries, arrays = {}, {}, {}
    for variant, attention in (("original", None), ("se", "se")):
        keras.utils.set_random_seed(5)
        model = build_resnet(blocks=(1, 1), width=4, strides=(1, 2), attention=attention)
        probs = model.predict(images, verbose=0)
        results = measure(model, ["gradcam", "xgradcam"], ["stage1", "stage2", "fused"], images, probs, steps=4,
                          batch_size=4, seed=0)
        randomization(model, results, np.arange(3), images, probs.argmax(axis=1), batch_size=4, seed=0)
        chosen = choose(results)
        studies[variant] = study_summary(variant, 0, results, chosen, len(images), 3)
        summaries[variant] = run_summary(variant, 0, chosen, len(images))
        arrays[variant] = run_arrays([chosen])
    return studies, summaries, arrays


def test_the_study_scores_the_new_method_on_the_new_metric_against_both_baselines(study):
    summary = study[0]["original"]
    assert list(summary["maps"]) == ["stage1/gradcam", "stage2/gradcam", "fused/gradcam", "stage1/xgradcam",
                                     "stage2/xgradcam", "fused/xgradcam"]
    for scores in summary["maps"].values():
        assert 0 <= scores["average_gain"] <= 100
        for baseline in ("vs_random", "vs_edge"):
            gain = scores[baseline]["average_gain"]
            assert gain["ci_low"] <= gain["difference"] <= gain["ci_high"]
        assert 0 <= scores["wins_vs_random"] <= 6
    assert summary["rule"] == choice_rule() and "on the most of the six metrics" in summary["rule"]
    assert "over the six metrics" in summary["rule"]


def write_run(variant: str, summary: dict, arrays: dict, study: dict | None = None) -> Run:
    """The heatmaps stage's two files of training seed 0 of ``variant`` (and its study's), in the working
    directory."""
    run = Run(variant, 0, "smoke")
    if study is not None:
        cam_study(run.regime, variant).parent.mkdir(parents=True, exist_ok=True)
        cam_study(run.regime, variant).write_text(json.dumps(study))
    run.cam_metrics.parent.mkdir(parents=True, exist_ok=True)
    run.cam_scores.parent.mkdir(parents=True, exist_ok=True)
    np.savez(run.cam_scores, **arrays)
    run.cam_metrics.write_text(json.dumps(summary))
    return run


def test_the_new_metric_is_part_of_what_a_run_must_have_written(study, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    summary, arrays = study[1]["original"], study[2]["original"]
    run = write_run("original", summary, arrays)
    _, loaded = load_run(run)
    key = summary["map"]
    assert loaded[key]["per_image"]["average_gain"].shape == (6,)
    damaged = copy.deepcopy(summary)
    del damaged["maps"][key]["vs_edge"]["average_gain"]
    write_run("original", damaged, arrays)
    with pytest.raises(DataError, match="average_gain"):
        load_run(run)


def test_the_report_tables_counts_and_describes_the_new_metric(study, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    studies, summaries, arrays = study
    for variant in summaries:
        write_run(variant, summaries[variant], arrays[variant], studies[variant])
    heatmaps = HeatmapStudy.load("smoke", ["original", "se"], [0])
    lines = cam_section(heatmaps, seed=0)
    text = "\n".join(lines)
    rows = table_rows(text, "### Original: the study (training seed 0, 6 validation images)")
    assert list(rows[0])[2:8] == ["deletion AUC ↓", "insertion AUC ↑", "Average Drop % ↓", "Increase in Conf. % ↑",
                                  "ROAD ↑", "Average Gain % ↑"]
    maps = studies["original"]["maps"]
    for row in rows:
        scores = maps[row["map"].replace("**", "").removesuffix(" (chosen)")]
        gain = scores["vs_random"]["average_gain"]
        assert row["Average Gain % ↑"] == (f"{scores['average_gain']:.1f} (Δ {gain['difference']:.1f} "
                                           f"[{gain['ci_low']:.1f}, {gain['ci_high']:.1f}])")
        random_wins, edge_wins = row["beats random / edge"].split(", ")
        assert random_wins == f"{scores['wins_vs_random']}/6" and edge_wins.endswith("/6")
    prose = " ".join(lines[2:lines.index("", 2)])
    assert ("; Average Gain, the rise of the target probability on the image multiplied by its map as a share of "
            "what it could rise.") in prose
    assert "for Average Drop, Increase in Confidence and Average Gain each is rescaled to the map's mean" in prose
    verdicts = [line for line in cam_verdicts(heatmaps) if "beats it on" in line]
    assert len(verdicts) == 4 and all("seed 0: " in line and "/6" in line for line in verdicts)
    pair = between_variants(heatmaps, seed=0)[0]
    assert (pair["first"], pair["second"], pair["comparisons"]) == ("se", "original", 6)
    assert pair["level"] == pytest.approx(1 - 0.05 / 6)
    differences = table_rows(text, "### Which variant's heatmap is more faithful?")
    assert differences[0]["difference"] == "SE − Original" and "Average Gain % ↑" in differences[0]
