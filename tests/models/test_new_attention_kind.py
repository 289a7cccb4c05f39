"""A fourth attention kind, registered at test time, goes through the whole project from its registry entries alone.

ECA (Wang et al., "ECA-Net: Efficient Channel Attention", CVPR 2020) is defined here, not in
``src/models/attention.py``, and registered the way a new kind would be: its layer where the
reference layers live, an ``ATTENTION_KINDS`` entry and a ``VARIANTS`` entry. Nothing else in
``src`` learns about it, yet params validation, both implementations of the builder, the FLOP
counter, the training stage and save/load all handle it.
"""
from __future__ import annotations

import copy
import json
import math

import keras
import numpy as np
import pytest
import yaml
from keras import layers, ops

from src.config.params import validate
from src.core.errors import ParamsError
from src.models import attention
from src.models.flops import flops_per_image
from src.models.io import load_run_model
from src.paths import Run
from src.models.resnet import build_variant, make_attention
from src.models.variants import ATTENTION_KINDS, VARIANTS, AttentionKind, Setting, Variant
from src.stages import train
from tests.conftest import make_prepared, run_stage, tiny_params, with_study


def eca_kernel_size(channels: int, gamma: int, beta: int) -> int:
    """The paper's k = |log2(C) / gamma + beta / gamma|, rounded to the nearest odd number at or above."""
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 else t + 1


def eca_gate_flops(height: int, width: int, channels: int, gamma: int, beta: int) -> int:
    """One k-tap 1-D convolution across the C pooled channels."""
    return 2 * channels * eca_kernel_size(channels, gamma, beta)


@keras.saving.register_keras_serializable(package="tests")
class EfficientChannelAttention(layers.Layer):
    """ECA: ``x * sigmoid(conv1d_k(GAP(x)))``, the 1-D convolution running across channels."""

    def __init__(self, gamma: int = 2, beta: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.gamma, self.beta = gamma, beta

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.conv = layers.Conv1D(1, eca_kernel_size(channels, self.gamma, self.beta), padding="same",
                                  use_bias=False, name="conv", dtype=self.dtype_policy)
        self.conv.build((None, channels, 1))
        super().build(input_shape)

    def call(self, inputs):
        pooled = ops.mean(inputs, axis=(1, 2))[:, :, None]  # (N, C, 1): the channels as a sequence
        gate = ops.sigmoid(self.conv(pooled))[:, :, 0]
        return inputs * gate[:, None, None, :]

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma, "beta": self.beta}


ECA = AttentionKind(layer="EfficientChannelAttention", gate_flops=eca_gate_flops,
                    settings={"gamma": Setting(2, lo=1), "beta": Setting(1, lo=0)})


@pytest.fixture
def eca(monkeypatch):
    """ECA registered as a kind and as the variant "eca", for this test only."""
    monkeypatch.setattr(attention, EfficientChannelAttention.__name__, EfficientChannelAttention, raising=False)
    monkeypatch.setitem(ATTENTION_KINDS, "eca", ECA)
    monkeypatch.setitem(VARIANTS, "eca", Variant(attention="eca", title="ECA"))


def eca_params(**train_overrides) -> dict:
    return with_study(tiny_params(**train_overrides), variants=["original", "eca"])


def test_the_layer_is_the_papers_gate():
    # Zero conv weights give a gate of sigmoid(0) = 1/2 on every channel.
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 8)).astype(np.float32)
    layer = EfficientChannelAttention()
    layer(x)
    assert layer.conv.kernel.shape == (3, 1, 1)  # C = 8: |(3 + 1) / 2| = 2, so k = 3
    layer.conv.kernel.assign(np.zeros((3, 1, 1), np.float32))
    np.testing.assert_allclose(np.asarray(layer(x)), 0.5 * x, rtol=1e-6)
    assert [eca_kernel_size(c, 2, 1) for c in (16, 64, 256, 512)] == [3, 3, 5, 5]


def test_params_take_its_settings_from_the_registry(eca):
    params = eca_params()
    assert params["model"]["attention"]["eca"] == {"gamma": 2, "beta": 1}  # base.yaml does not list them
    assert validate(params) is params
    bad = copy.deepcopy(params)
    bad["model"]["attention"]["eca"]["gamma"] = 0
    with pytest.raises(ParamsError, match=r"^params.yaml: model.attention.eca.gamma = 0 is invalid; "
                                          r"it must be an integer >= 1$"):
        validate(bad)
    del bad["model"]["attention"]["eca"]["gamma"]
    with pytest.raises(ParamsError, match=r"model.attention.eca.gamma: missing; it must be an integer >= 1"):
        validate(bad)


def test_without_its_registry_entries_it_is_unknown():
    params = eca_params()
    with pytest.raises(ParamsError, match=r"study.variants = \['original', 'eca'\] is invalid"):
        validate(params)
    with pytest.raises(ValueError, match="unknown attention 'eca'"):
        make_attention("eca", name="gate")


@pytest.mark.parametrize("implementation", ["reference", "fast"])
def test_both_implementations_build_it_with_its_settings(eca, implementation):
    model_params = {**eca_params()["model"], "implementation": implementation}
    model_params["attention"]["eca"] = {"gamma": 1, "beta": 1}
    model = build_variant("eca", model_params)
    gates = [layer for layer in model.layers if isinstance(layer, EfficientChannelAttention)]
    assert [gate.name for gate in gates] == ["stage1_block1_eca", "stage2_block1_eca"]
    assert [(gate.gamma, gate.beta) for gate in gates] == [(1, 1), (1, 1)]
    # gamma 1: k = |log2(C) + 1| made odd, 5 for stage 1's 16 channels and 7 for stage 2's 32.
    assert [gate.conv.kernel.shape[0] for gate in gates] == [5, 7]


def test_the_fast_implementation_uses_the_reference_gate_and_computes_the_same(eca):
    model_params = eca_params()["model"]
    reference = build_variant("eca", {**model_params, "implementation": "reference"})
    fast = build_variant("eca", {**model_params, "implementation": "fast"})
    assert type(fast.get_layer("stage1_block1_eca")) is EfficientChannelAttention
    assert type(fast.get_layer("stage1_block1_1_conv")) is not type(reference.get_layer("stage1_block1_1_conv"))
    fast.set_weights(reference.get_weights())
    x = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(reference(x)), rtol=1e-5, atol=1e-6)


def test_flops_count_its_gates_by_hand(eca):
    inputs = keras.Input((5, 5, 8))
    gate_only = keras.Model(inputs, make_attention("eca", name="gate")(inputs))
    assert flops_per_image(gate_only) == 2 * 8 * 3  # 8 outputs of a 3-tap conv, 2 FLOPs per multiply-add

    model_params = eca_params()["model"]
    with_gates, without = build_variant("eca", model_params), build_variant("original", model_params)
    # tiny_params: stage 1 ends in 16 channels, stage 2 in 32, one block each; k = 3 for both.
    assert flops_per_image(with_gates) - flops_per_image(without) == 2 * 16 * 3 + 2 * 32 * 3


def test_flops_refuse_a_layer_with_weights_they_do_not_know():
    inputs = keras.Input((5, 5, 8))
    model = keras.Model(inputs, EfficientChannelAttention(name="gate")(inputs))
    with pytest.raises(ValueError, match=r"cannot count the FLOPs of layer 'gate' \(EfficientChannelAttention\)"):
        flops_per_image(model)


def test_the_training_stage_trains_saves_and_loads_it(eca, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    make_prepared(tmp_path / "data/prepared")
    params = eca_params(epochs=1, precision="float32")
    params["model"]["implementation"] = "fast"  # a kind without a fast layer trains on its reference layer
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    code, stderr = run_stage(train.main, ["--variant", "eca", "--seed", "0"])
    assert code == 0, stderr

    metrics = json.loads((tmp_path / "metrics/train/smoke/eca/seed0.json").read_text())
    assert np.isfinite(metrics["best_val_accuracy"])
    assert metrics["mflops_per_image"] == round(flops_per_image(build_variant("eca", params["model"])) / 1e6, 2)
    model = load_run_model(Run("eca", 0, "smoke"), tmp_path / "models")
    assert type(model.get_layer("stage2_block1_eca")) is EfficientChannelAttention
    probabilities = model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
