"""ResNet builder: ResNet-50 shape and parameter count, attention placement, profiles that must build."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from src.config.profile import build_profile
from src.models.attention import CBAM, SqueezeExcitation
from src.models.fast.patchgrad import PatchGradConv2D
from src.models.fast.pointwise import PointwiseConv2D
from src.models.layer_names import block_output_names, last_conv_layer_name
from src.models.resnet import build_resnet, build_variant
from src.training.optim import compile_model
from src.training.runtime import choose_precision, configure_runtime, make_strategy

# torchvision's resnet50 has 25,557,032 parameters (1000 classes, 7x7 stem). With 10 classes
# (-2048*990 - 990) and a 3x3 CIFAR stem (-7*7*3*64 + 3*3*3*64) the trainable count is:
RESNET50_CIFAR_TRAINABLE = 25_557_032 - 2048 * 990 - 990 - 9408 + 1728
STAGE_CHANNELS = [(256, 3), (512, 4), (1024, 6), (2048, 3)]


def trainable(model: keras.Model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


@pytest.fixture(scope="module")
def resnet50():
    return build_resnet(attention=None)


def test_resnet50_parameter_count_and_shapes(resnet50):
    assert trainable(resnet50) == RESNET50_CIFAR_TRAINABLE
    assert resnet50.output_shape == (None, 10)
    names = block_output_names(resnet50)
    assert len(names) == 16 and names[-1] == "stage4_block3_out" == last_conv_layer_name(resnet50)
    assert resnet50.get_layer("stage1_block3_out").output.shape[1:] == (32, 32, 256)
    assert resnet50.get_layer("stage4_block3_out").output.shape[1:] == (4, 4, 2048)


def test_se_adds_exactly_its_mlps(resnet50):
    se = build_resnet(attention="se")
    expected = sum(n * (c * (c // 16) + c // 16 + (c // 16) * c + c) for c, n in STAGE_CHANNELS)
    assert trainable(se) - trainable(resnet50) == expected


def test_cbam_adds_mlps_and_spatial_convs(resnet50):
    cbam = build_resnet(attention="cbam")
    mlps = sum(n * (c * (c // 16) + c // 16 + (c // 16) * c + c) for c, n in STAGE_CHANNELS)
    spatial = 16 * 7 * 7 * 2
    assert trainable(cbam) - trainable(resnet50) == mlps + spatial


def test_attention_sits_before_the_addition():
    model = build_resnet(blocks=[1], strides=[1], width=8, attention="se")
    add = model.get_layer("stage1_block1_add")
    inbound = [t._keras_history.operation.name for t in add.input]
    assert "stage1_block1_se" in inbound and "stage1_block1_proj_bn" in inbound


def test_builder_rejects_bad_config():
    with pytest.raises(ValueError, match="blocks"):
        build_resnet(blocks=[])
    with pytest.raises(ValueError, match="strides"):
        build_resnet(blocks=[1, 1], strides=[1])
    with pytest.raises(ValueError, match="unknown attention"):
        build_resnet(blocks=[1], strides=[1], attention="eca")
    with pytest.raises(ValueError, match="unknown stride_conv"):
        build_resnet(blocks=[1], strides=[2], stride_conv="7x7")


@pytest.mark.parametrize("stride_conv, strided, unstrided", [("3x3", "_2_conv", "_1_conv"),
                                                             ("1x1", "_1_conv", "_2_conv")])
def test_stride_conv_picks_the_down_sampling_conv(stride_conv, strided, unstrided):
    model = build_resnet(blocks=[1, 1], strides=[1, 2], width=4, attention="cbam", stride_conv=stride_conv)
    assert model.get_layer(f"stage2_block1{strided}").strides == (2, 2)
    assert model.get_layer(f"stage2_block1{unstrided}").strides == (1, 1)
    assert model.get_layer("stage1_block1_1_conv").strides == (1, 1)  # stride 1 blocks are unchanged
    assert model.get_layer("stage2_block1_out").output.shape[1:] == (16, 16, 32)
    # Where the stride sits changes the compute, never the weights.
    assert trainable(model) == trainable(build_resnet(blocks=[1, 1], strides=[1, 2], width=4, attention="cbam"))


def test_fast_path_gives_each_convolution_its_fastest_implementation():
    # cpu profile shape: 3x3 stem at 32x32, then stages at 16, 8, 4 and 2 (strided 3x3 convs).
    model = build_resnet(blocks=[1, 1, 1, 1], strides=[2, 2, 2, 2], width=4, implementation="fast")
    kinds = {layer.name: type(layer) for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
    assert all(kind is PointwiseConv2D for name, kind in kinds.items() if "_2_conv" not in name and name != "stem_conv")
    # Strided 3x3 convs read 32, 16, 8 and 4 pixel maps: patch gradients from 8 down.
    assert [kinds[f"stage{s}_block1_2_conv"] for s in range(1, 5)] == [keras.layers.Conv2D] * 2 + [PatchGradConv2D] * 2
    assert kinds["stem_conv"] is keras.layers.Conv2D


def test_seed_stem_keeps_16x16_and_equal_widths():
    params = build_profile("seed")["model"]
    model = build_variant("se", {**params, "blocks": [1, 1], "strides": [1, 1], "width": 8})
    assert model.get_layer("stage1_block1_out").output.shape[1:] == (16, 16, 32)
    assert model.get_layer("stage2_block1_out").output.shape[1:] == (16, 16, 32)


@pytest.mark.parametrize("implementation", ["reference", "fast"])
@pytest.mark.parametrize("attention", [None, "se", "cbam"])
def test_zero_init_last_starts_every_block_as_its_shortcut(implementation, attention):
    kwargs = {"blocks": [2, 1], "strides": [1, 2], "width": 4, "attention": attention, "implementation": implementation}
    model = build_resnet(zero_init_last=True, **kwargs)
    blocks = ["stage1_block1", "stage1_block2", "stage2_block1"]
    probe = keras.Model(model.input, [model.get_layer(f"{b}_add").input for b in blocks])
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    for shortcut, branch in probe(x):
        assert np.abs(np.asarray(shortcut)).max() > 0
        np.testing.assert_array_equal(np.asarray(branch), 0.0)
    # Only the last BN of each branch starts at zero; by default every scale starts at one.
    assert not np.any(model.get_layer("stage1_block1_3_bn").gamma.numpy())
    assert np.all(model.get_layer("stage1_block1_2_bn").gamma.numpy() == 1)
    default = build_resnet(**kwargs)
    assert np.all(default.get_layer("stage1_block1_3_bn").gamma.numpy() == 1)


def test_normalization_is_inside_the_model():
    model = build_resnet(blocks=[1], strides=[1], width=4, normalization=([100.0] * 3, [50.0] * 3))
    norm = model.get_layer("normalize")
    out = norm(np.full((1, 2, 2, 3), 150.0, np.float32))
    np.testing.assert_allclose(np.asarray(out), 1.0, rtol=1e-5)


# What the reference implementation may contain: Keras' own layers and the two attention layers.
KERAS_BUILT_INS = {keras.layers.InputLayer, keras.layers.Normalization, keras.layers.Conv2D,
                   keras.layers.BatchNormalization, keras.layers.ReLU, keras.layers.Add, keras.layers.MaxPooling2D,
                   keras.layers.GlobalAveragePooling2D, keras.layers.Dense}


def _one_step(profile: str, strategy: str = "default", variant: str = "cbam") -> tuple[float, keras.Model]:
    params = build_profile(profile)
    params["train"]["strategy"] = strategy
    configure_runtime(0, choose_precision(params["train"]["precision"]).policy)
    try:
        with make_strategy(strategy).scope():
            model = build_variant(variant, params["model"])
            compile_model(model, params["train"], steps_per_epoch=1)
        x = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3)).astype(np.float32)
        logs = model.train_on_batch(x, tf.one_hot([1, 2], 10), return_dict=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return float(logs["loss"]), model


@pytest.mark.slow  # a training step of ResNet-50 each: minutes on 2 cores
@pytest.mark.parametrize("profile, variant", [("full", "original"), ("full", "se"), ("full", "cbam"),
                                              ("seed", "cbam")])
def test_full_and_seed_profiles_train_a_step_on_reference_layers_only(profile, variant):
    loss, model = _one_step(profile, variant=variant)
    assert np.isfinite(loss)
    assert build_profile(profile)["model"]["implementation"] == "reference"
    allowed = KERAS_BUILT_INS | {SqueezeExcitation, CBAM}
    assert {type(layer) for layer in model.layers} <= allowed
    # Nested layers too (the attention layers' own Dense and Conv2D).
    assert {type(layer) for layer in model._flatten_layers()} <= allowed | {keras.Model, keras.src.models.Functional}


@pytest.mark.slow  # trains under MirroredStrategy
def test_mirrored_strategy_trains_on_cpu():
    assert np.isfinite(_one_step("smoke", strategy="mirrored")[0])


def test_flops_of_resnet50_match_the_textbook(resnet50):
    from src.models.flops import flops_per_image

    # ResNet-50 at 224x224 is ~4.1 GMACs; with a stride-1 3x3 stem on 32x32 the stages see
    # (32/56)^2 of the ImageNet positions: ~1.3 GMACs, i.e. ~2.6 GFLOPs.
    assert 2.4e9 < flops_per_image(resnet50) < 2.8e9
    se = build_resnet(attention="se")
    cbam = build_resnet(attention="cbam")
    assert flops_per_image(resnet50) < flops_per_image(se) < flops_per_image(cbam)
