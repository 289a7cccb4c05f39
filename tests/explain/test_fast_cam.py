"""The CAM fast path against its reference, tf-keras-vis: the same maps at every stage, for every method."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
from tf_keras_vis.utils.scores import CategoricalScore

from src.explain.cam import CamExplainer, reference_class, stage_layer
from src.explain.fast_cam import FastCamExplainer, cam_explainer, formula_of, gradient_pass
from src.explain.heatmap_study import measure, randomization
from src.explain.methods import CAM_METHODS, CamMethod
from src.models.resnet import build_resnet
from tests.explain.test_cam import PATCH, bright_images, patch_model  # noqa: F401  (bright_images: a fixture)

STAGES = ["stage1", "stage2", "stage3"]
# Float32 sums in another order agree to a ten-thousandth of a map's range. Grad-CAM++'s closed form
# divides by 2g^2 + g^3 * sum(A), which nears zero for some negative gradients g, and tf-keras-vis
# multiplies by exp(score) before it: rounding is amplified there, so it gets a hundredth.
TOLERANCE = {"gradcam": 1e-4, "gradcam++": 1e-2, "layercam": 1e-4}
# The methods with a formula that tf-keras-vis also computes: the formula is held to the library.
RAW_CAMS = [name for name, method in CAM_METHODS.items() if method.formula is not None and method.reference]


@pytest.fixture(scope="module", params=[None, "se", "cbam"])
def network(request):
    """A small three-stage network of each variant (16x16, 8x8, 4x4 maps) and seven images."""
    keras.utils.set_random_seed(3)
    model = build_resnet(blocks=(1, 1, 1), width=4, strides=(2, 2, 2), attention=request.param)
    # Small inputs keep this untrained network's logits near 10, as a trained one's are: tf-keras-vis'
    # Grad-CAM++ scores exp(logit), which overflows float32 (NaN maps) past 88.
    images = np.random.default_rng(1).uniform(0, 5, (7, 32, 32, 3)).astype(np.float32)
    return model, images


def reference_raw(model, method: str, images: np.ndarray, classes: list[int], layer: str) -> np.ndarray:
    """tf-keras-vis' un-normalised map at ``layer``, without Grad-CAM++'s exp(score) factor (the fast path drops it)."""
    explainer = reference_class(CAM_METHODS[method])(model, model_modifier=ReplaceToLinear(), clone=True)
    maps = np.asarray(explainer(CategoricalScore(classes), images, penultimate_layer=layer,
                                seek_penultimate_conv_layer=False, expand_cam=False, normalize_cam=False))
    if method == "gradcam++":
        logits = np.asarray(explainer.model(images, training=False))
        maps = maps / np.exp(logits[np.arange(len(images)), classes])[:, None, None]
    return maps


@pytest.mark.parametrize("method", RAW_CAMS)
def test_one_pass_gives_tf_keras_vis_maps_at_every_stage(network, method):
    model, images = network
    classes = [3, 1, 4, 1, 5, 9, 2]
    layers = [stage_layer(model, stage) for stage in STAGES]
    fast = FastCamExplainer(model, method).raw(images, classes, layers, batch_size=4)  # 4 + a remainder of 3
    for layer in layers:
        expected = reference_raw(model, method, images, classes, layer)
        assert fast[layer].shape == expected.shape
        scale = np.abs(expected).max(axis=(1, 2), keepdims=True)
        assert (scale > 0).sum() >= 2, "flat reference maps (all below ReLU) would not test the formula"
        scale = np.maximum(scale, 1e-6)  # a flat map must come out flat
        np.testing.assert_allclose(fast[layer] / scale, expected / scale, atol=TOLERANCE[method])


def test_normalised_maps_match_the_reference_explainer(network):
    model, images = network
    classes = [0, 1, 2, 3, 4, 5, 6]
    layer = stage_layer(model, "stage2")
    for method in RAW_CAMS:
        explainer = FastCamExplainer(model, method)
        fast = explainer.native(images, classes, layer, batch_size=8)
        reference = CamExplainer(model, method).native(images, classes, layer, batch_size=8)
        assert fast.shape == reference.shape == (7, 8, 8) and fast.min() >= 0 and fast.max() <= 1
        np.testing.assert_allclose(fast, reference, atol=TOLERANCE[method])


def test_one_trace_serves_every_batch_size(network):
    model, images = network
    explainer = FastCamExplainer(model, "layercam")
    layers = [stage_layer(model, stage) for stage in STAGES]
    for batch_size in (4, 5, 7):
        explainer.raw(images, list(range(7)), layers, batch_size)
    FastCamExplainer(model, "gradcam").raw(images, list(range(7)), layers, 3)  # another method, the same pass
    assert gradient_pass(model, tuple(layers)).experimental_get_tracing_count() == 1


def test_native_stages_times_one_pass_for_all_layers(network):
    model, images = network
    layers = [stage_layer(model, stage) for stage in STAGES]
    maps, seconds = FastCamExplainer(model, "gradcam").native_stages(images, [1] * 7, layers, batch_size=4)
    assert list(maps) == layers and [m.shape[1] for m in maps.values()] == [16, 8, 4]
    assert len(set(seconds.values())) == 1 and seconds[layers[0]] > 0
    _, reference_seconds = CamExplainer(model, "gradcam").native_stages(images, [1] * 7, layers, batch_size=4)
    assert len(reference_seconds) == 3 and all(s > 0 for s in reference_seconds.values())


@pytest.mark.parametrize("method", RAW_CAMS)
def test_fast_peak_falls_in_the_deciding_patch(bright_images, method):  # noqa: F811
    cams = FastCamExplainer(patch_model(), method)(bright_images, [1] * 6, batch_size=4)
    for cam in cams:
        row, col = np.unravel_index(cam.argmax(), cam.shape)
        assert 20 <= row < 28 and 4 <= col < 12


def test_score_cam_has_no_gradient_to_share_and_stays_on_the_reference(bright_images):  # noqa: F811
    model = patch_model()
    fast = FastCamExplainer(model, "scorecam").native(bright_images[:2], [1, 1], "stage1_block1_out")
    reference = CamExplainer(model, "scorecam").native(bright_images[:2], [1, 1], "stage1_block1_out")
    np.testing.assert_array_equal(fast, reference)


def test_tf_keras_vis_is_built_only_for_a_method_the_fast_path_lacks(network):
    # Building tf-keras-vis' explainer clones the model: the fast path must not pay for it.
    model, images = network
    layers = [stage_layer(model, stage) for stage in STAGES]
    for method in RAW_CAMS:
        explainer = FastCamExplainer(model, method)
        explainer.native_stages(images, [1] * 7, layers, batch_size=4)
        explainer.native(images, [1] * 7, layers[0], batch_size=4)
        assert explainer._tf_keras_vis is None, method
    score_cam = FastCamExplainer(model, "scorecam")
    score_cam.native(images[:2], [1, 1], layers[-1])
    assert score_cam._tf_keras_vis is not None


def test_timed_native_stages_warms_up_outside_the_clock(network):
    model, images = network
    layers = [stage_layer(model, stage) for stage in STAGES]
    explainer = FastCamExplainer(model, "gradcam")
    calls = []
    untimed = explainer.native_stages
    explainer.native_stages = lambda x, *args: calls.append(len(x)) or untimed(x, *args)
    maps, seconds, total = explainer.timed_native_stages(images, [1] * 7, layers, batch_size=4)
    assert calls == [4, 7] and list(maps) == layers and total >= seconds[layers[0]] > 0
    calls.clear()
    explainer.timed_native_stages(images, [1] * 7, layers, batch_size=4, warm_up=False)
    assert calls == [7]


def test_the_switch_picks_the_class_and_names_a_bad_value():
    model = patch_model()
    assert type(cam_explainer(model, "gradcam", "reference")) is CamExplainer
    assert type(cam_explainer(model, "gradcam", "fast")) is FastCamExplainer
    with pytest.raises(ValueError, match="unknown implementation 'quick'"):
        cam_explainer(model, "gradcam", "quick")


def test_the_heatmap_study_measures_the_same_maps_on_either_path():
    keras.utils.set_random_seed(5)
    model = build_resnet(blocks=(1, 1), width=4, strides=(1, 2), attention="cbam")
    images = np.random.default_rng(2).uniform(0, 5, (6, 32, 32, 3)).astype(np.float32)  # logits near 10, as above
    probs = model.predict(images, verbose=0)
    runs = {}
    for implementation in ("reference", "fast"):
        results = measure(model, ["gradcam++"], ["stage1", "stage2", "fused"], images, probs, steps=4,
                          batch_size=4, seed=0, implementation=implementation)
        randomization(model, results, np.arange(3), images, probs.argmax(axis=1), batch_size=4, seed=0,
                      implementation=implementation)
        runs[implementation] = {r.key: r for r in results}
    assert list(runs["fast"]) == list(runs["reference"])
    for key, fast in runs["fast"].items():
        reference = runs["reference"][key]
        np.testing.assert_allclose(fast.native, reference.native, atol=TOLERANCE["gradcam++"])
        assert list(fast.sanity["spearman"]) == list(reference.sanity["spearman"])
        np.testing.assert_allclose(list(fast.sanity["spearman"].values()),
                                   list(reference.sanity["spearman"].values()), atol=0.02)


def test_every_registered_formula_is_a_function_of_the_formulas_module():
    for method in CAM_METHODS.values():
        if method.formula is not None:
            assert callable(formula_of(method)), method.name


def test_a_method_naming_a_missing_formula_is_refused_by_name():
    with pytest.raises(ValueError, match="'nocam' names formula 'no_such_formula'"):
        formula_of(CamMethod("nocam", "no_such_formula", reference=None))
