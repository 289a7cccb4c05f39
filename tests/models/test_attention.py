"""The reference SE and CBAM layers: gate behaviour, the papers' composition, and save/load round trips."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from src.models.attention import CBAM, SqueezeExcitation
from src.models.resnet import make_attention


def zero_weights(layer):
    layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])


@pytest.fixture
def features():
    return np.random.default_rng(0).normal(size=(2, 6, 6, 32)).astype(np.float32)


def test_se_with_zero_weights_halves_input(features):
    se = SqueezeExcitation(reduction=16)
    se(features)
    zero_weights(se)
    np.testing.assert_allclose(np.asarray(se(features)), 0.5 * features, rtol=1e-6)


def test_cbam_with_zero_weights_quarters_input(features):
    cbam = CBAM(reduction=16, kernel_size=7)
    cbam(features)
    zero_weights(cbam)
    np.testing.assert_allclose(np.asarray(cbam(features)), 0.25 * features, rtol=1e-6)


def test_se_gate_is_per_channel_and_bounded(features):
    se = SqueezeExcitation(reduction=4)
    out = np.asarray(se(features))
    ratio = out / features
    # The same factor for every position of a channel, strictly inside (0, 1).
    np.testing.assert_allclose(ratio, ratio[:, :1, :1, :] * np.ones_like(ratio), rtol=1e-4)
    assert (ratio > 0).all() and (ratio < 1).all()


def test_cbam_spatial_gate_responds_to_position():
    cbam = CBAM(reduction=4, kernel_size=3)
    x = np.zeros((1, 8, 8, 8), np.float32)
    x[0, 2, 2, :] = 5.0
    cbam(x)
    gate = np.asarray(cbam.spatial_gate(x))[0, ..., 0]
    assert gate.shape == (8, 8)
    assert not np.allclose(gate[2, 2], gate[7, 7])  # the bright position is gated differently


def test_hidden_units_never_collapse():
    se = SqueezeExcitation(reduction=16)
    se(np.zeros((1, 2, 2, 8), np.float32))
    assert se.squeeze.units == 4


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(reduction=0)
    with pytest.raises(ValueError, match="odd"):
        CBAM(kernel_size=4)
    with pytest.raises(ValueError, match="unknown attention 'eca'; allowed: se, cbam"):
        make_attention("eca", name="x")
    with pytest.raises(ValueError, match="attention 'se' has no setting 'kernel_size'; its settings: reduction"):
        make_attention("se", name="x", kernel_size=3)
    with pytest.raises(ValueError, match="cbam kernel_size = 4 is invalid; it must be a positive odd integer"):
        make_attention("cbam", name="x", kernel_size=4)


@pytest.mark.parametrize("kind", ["se", "cbam"])
def test_save_load_roundtrip(tmp_path, kind, features):
    inputs = keras.Input((6, 6, 32))
    model = keras.Model(inputs, make_attention(kind, name="att", reduction=8)(inputs))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(features)), np.asarray(model(features)), rtol=1e-6)



def test_cbam_call_is_the_channel_gate_then_the_spatial_gate(features):
    cbam = CBAM(reduction=8, kernel_size=3)
    cbam(features)
    refined = features * np.asarray(cbam.channel_gate(features))[:, None, None, :]
    expected = refined * np.asarray(cbam.spatial_gate(refined))
    np.testing.assert_allclose(np.asarray(cbam(features)), expected, rtol=1e-5, atol=1e-6)


def test_cbam_channel_gate_shares_one_mlp_between_avg_and_max(features):
    cbam = CBAM(reduction=8)
    cbam(features)
    mlp = lambda d: np.maximum(d @ cbam.mlp_hidden.kernel.numpy() + cbam.mlp_hidden.bias.numpy(), 0) \
        @ cbam.mlp_out.kernel.numpy() + cbam.mlp_out.bias.numpy()  # noqa: E731
    logits = mlp(features.mean(axis=(1, 2))) + mlp(features.max(axis=(1, 2)))
    np.testing.assert_allclose(np.asarray(cbam.channel_gate(features)), 1 / (1 + np.exp(-logits)), rtol=1e-4)
