"""Bottleneck ResNet builder (the ResNet-50 family) with optional attention of any registered kind.

``build_resnet(blocks=(3, 4, 6, 3), width=64)`` is ResNet-50 with a CIFAR stem:
a 3x3 stride-1 stem (32x32 inputs cannot afford ImageNet's 7x7/2 + max-pool), then
four stages of bottleneck blocks (1x1 -> 3x3 -> 1x1 with expansion 4), the first
block of stages 2-4 down-sampling by 2 with a projection shortcut. ``stride_conv``
says which conv of a down-sampling block strides: the 3x3 (ResNet v1.5, as in
torchvision and timm) or the first 1x1 (ResNet v1, as in the paper and
``keras.applications.ResNet50``), which computes the 3x3 at the lower resolution.

Attention sits on the residual branch after the last BN and before the addition,
as in the SE and CBAM papers; ``make_attention`` builds a gate of any kind in
``ATTENTION_KINDS`` (``src/models/variants.py``), named ``<block>_<kind>``. The
``seed`` stem reproduces the original notebooks' model: a 7x7 conv + 2x2 max-pool
to 16x16, then (with ``strides=(1, 1, 1, 1)`` and ``widen=False``) no further
down-sampling and equal filters in every stage.

Every block's output layer is named ``stage{S}_block{B}_out`` so Grad-CAM can
target it (``src/models/layer_names.py`` finds them).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras
from keras import layers

from src.models.layer_names import NORMALIZATION, STEM
from src.models.layer_sets import REFERENCE, LayerSet
from src.models.variants import IMPLEMENTATIONS, STEMS, STRIDE_CONVS, VARIANTS, attention_kind, checked_settings


def layer_set(implementation: str) -> LayerSet:
    """The layer classes of ``implementation`` ("reference" or "fast")."""
    if implementation == "reference":
        return REFERENCE
    if implementation == "fast":
        from src.models.fast import FAST  # only here: a reference run never loads the CPU kernels

        return FAST
    raise ValueError(f"unknown implementation {implementation!r}; allowed: {', '.join(IMPLEMENTATIONS)}")


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, relu: bool = True, impl: LayerSet = REFERENCE,
             zero_gamma: bool = False):
    conv = impl.conv(kernel, stride, x.shape[1])
    x = conv(
        filters, kernel, strides=stride, padding="same", use_bias=False,
        kernel_initializer="he_normal", name=f"{name}_conv",
    )(x)
    x = impl.batch_norm(momentum=0.9, epsilon=1e-5, gamma_initializer="zeros" if zero_gamma else "ones",
                        name=f"{name}_bn")(x)
    if relu:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def make_attention(kind: str | None, *, name: str, implementation: str | LayerSet = "reference",
                   **settings: Any) -> layers.Layer | None:
    """A fresh attention layer of ``kind`` (a name in ``ATTENTION_KINDS``, or None for none) called ``name``.

    ``settings`` are the kind's (e.g. ``reduction``); those not given take the registry's
    defaults, and an unknown setting or a value out of range is a ValueError naming it.
    ``implementation`` is "reference", "fast" or a ``LayerSet``. The layer learns its
    channel count from its input when first called, as Keras layers do.
    """
    if kind is None:
        return None
    settings = checked_settings(kind, settings)
    layer_classes = layer_set(implementation) if isinstance(implementation, str) else implementation
    return layer_classes.attention(attention_kind(kind))(name=name, **settings)


def bottleneck_block(
    x,
    width: int,
    stride: int,
    name: str,
    expansion: int = 4,
    attention: str | None = None,
    attention_settings: Mapping[str, Any] | None = None,
    stride_conv: str = "3x3",
    zero_init_last: bool = False,
    impl: LayerSet = REFERENCE,
):
    """One bottleneck residual block; returns the block's output tensor.

    ``attention`` is the kind of gate on the residual branch (None for none) and
    ``attention_settings`` its settings (``make_attention``).

    ``zero_init_last`` starts the branch's last BN scale at zero, so the block starts as
    its shortcut (Goyal et al. 2017, "Accurate, Large Minibatch SGD", section 5.1).
    """
    out_channels = width * expansion
    shortcut = x
    if stride != 1 or int(x.shape[-1]) != out_channels:
        shortcut = _conv_bn(x, out_channels, 1, stride, f"{name}_proj", relu=False, impl=impl)

    stride_1x1, stride_3x3 = (stride, 1) if stride_conv == "1x1" else (1, stride)
    y = _conv_bn(x, width, 1, stride_1x1, f"{name}_1", impl=impl)
    y = _conv_bn(y, width, 3, stride_3x3, f"{name}_2", impl=impl)
    y = _conv_bn(y, out_channels, 1, 1, f"{name}_3", relu=False, impl=impl, zero_gamma=zero_init_last)
    if attention is not None:
        gate = make_attention(attention, name=f"{name}_{attention}", implementation=impl, **(attention_settings or {}))
        y = gate(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def build_resnet(
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    blocks: Sequence[int] = (3, 4, 6, 3),
    width: int = 64,
    expansion: int = 4,
    attention: str | None = None,
    attention_settings: Mapping[str, Any] | None = None,
    stem: str = "cifar",
    strides: Sequence[int] = (1, 2, 2, 2),
    widen: bool = True,
    stride_conv: str = "3x3",
    zero_init_last: bool = False,
    normalization: tuple[Sequence[float], Sequence[float]] | None = None,
    implementation: str = "reference",
    name: str | None = None,
) -> keras.Model:
    """Build a bottleneck ResNet.

    ``blocks`` gives the number of blocks per stage (ResNet-50: 3, 4, 6, 3),
    ``width`` the bottleneck width of the first stage, doubled per stage when
    ``widen``; ``attention`` is None or a kind in ``ATTENTION_KINDS`` (e.g. "se", "cbam"),
    with ``attention_settings`` (defaults from the registry); ``zero_init_last`` starts every
    residual branch at zero (see ``bottleneck_block``). ``normalization`` is the
    per-channel (mean, std) of the training pixels on the [0, 255] scale; the model
    then takes raw pixels, so a saved model needs no separate preprocessing.
    ``implementation`` picks the layer classes: "reference" (Keras built-ins plus
    the plain attention layers) or "fast" (``src/models/fast/``, same function).
    """
    if not blocks or any(int(b) < 1 for b in blocks):
        raise ValueError(f"blocks must be a non-empty list of positive ints, got {list(blocks)}")
    if len(strides) != len(blocks):
        raise ValueError(f"strides {list(strides)} must have one entry per stage {list(blocks)}")
    if width < 1:
        raise ValueError(f"width must be positive, got {width}")
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; allowed: {', '.join(STEMS)}")
    if stride_conv not in STRIDE_CONVS:
        raise ValueError(f"unknown stride_conv {stride_conv!r}; allowed: {', '.join(STRIDE_CONVS)}")
    if attention is not None:
        attention_settings = checked_settings(attention, attention_settings)  # one error before any layer
    impl = layer_set(implementation)

    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if normalization is not None:
        mean, std = normalization
        x = layers.Normalization(
            mean=list(mean), variance=[s * s for s in std], dtype="float32", name=NORMALIZATION
        )(x)
    if stem == "cifar":
        x = _conv_bn(x, width, 3, 1, STEM, impl=impl)
    else:
        x = _conv_bn(x, width, 7, 1, STEM, impl=impl)
        x = layers.MaxPooling2D(2, name=f"{STEM}_pool")(x)

    for stage, (n_blocks, stage_stride) in enumerate(zip(blocks, strides), start=1):
        stage_width = width * (2 ** (stage - 1) if widen else 1)
        for block in range(1, int(n_blocks) + 1):
            x = bottleneck_block(
                x, stage_width, stage_stride if block == 1 else 1, f"stage{stage}_block{block}",
                expansion=expansion, attention=attention, attention_settings=attention_settings,
                stride_conv=stride_conv, zero_init_last=zero_init_last, impl=impl,
            )

    x = layers.GlobalAveragePooling2D(name="pool")(x)
    # Softmax in float32 even under a bfloat16 policy: probabilities and the loss stay accurate.
    outputs = layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name or f"resnet_{attention or 'original'}")


def build_variant(
    variant: str,
    model_params: dict,
    num_classes: int = 10,
    normalization: tuple[Sequence[float], Sequence[float]] | None = None,
) -> keras.Model:
    """Build ``variant`` (a name in ``VARIANTS``) from the ``model`` params section."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    return build_resnet(
        num_classes=num_classes,
        blocks=model_params["blocks"],
        width=model_params["width"],
        expansion=model_params["expansion"],
        attention=VARIANTS[variant].attention,
        attention_settings=model_params["attention"].get(variant, {}),
        stem=model_params["stem"],
        strides=model_params["strides"],
        widen=model_params["widen"],
        stride_conv=model_params["stride_conv"],
        zero_init_last=model_params["zero_init_last"],
        normalization=normalization,
        implementation=model_params["implementation"],
        name=f"resnet_{variant}",
    )
