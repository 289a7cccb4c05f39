"""The study's variants and attention kinds, and the builder's choices, in one place and without importing Keras.

Two registries that the params schema (``src/config/params.py``), the profiles, the model
builder (``src/models/resnet.py``), the FLOP counter, the stages and the reports all read:

- ``ATTENTION_KINDS``: each kind of attention gate once -- its layer (a class in
  ``src/models/attention.py``), its settings with their defaults and allowed values, the
  FLOP count of one gate, and optionally its CPU-tuned subclass in
  ``src/models/fast/attention.py``.
- ``VARIANTS``: each model of the study -- the attention kind in its blocks and its title.

A new kind is therefore its layer in ``src/models/attention.py`` plus an entry in each
registry here (and its variant's name in a profile's ``study.variants``). Layers are
named, not imported, so that reading params.yaml (every stage's first step) loads no
TensorFlow and no stage depends on the layers' code unless it builds or loads a model.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One setting of an attention kind: its default and the values it allows.

    The default's type is the setting's: an ``int`` default allows integers only, a
    ``float`` one any finite number. ``lo`` and ``hi`` bound it (inclusive), ``odd`` asks
    for an odd integer (a kernel size that keeps the map centred).
    """

    default: int | float
    lo: int | float | None = None
    hi: int | float | None = None
    odd: bool = False

    def __post_init__(self):
        if self.odd and not isinstance(self.default, int):
            raise TypeError("only an integer setting can be required to be odd")
        if not self.allows(self.default):
            raise ValueError(f"default {self.default!r} is not {self.allowed}")

    @property
    def integral(self) -> bool:
        return isinstance(self.default, int) and not isinstance(self.default, bool)

    def allows(self, value: Any) -> bool:
        """True if ``value`` is of the setting's type and within its range."""
        if isinstance(value, bool) or not isinstance(value, int if self.integral else (int, float)):
            return False
        return (math.isfinite(value) and (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)
                and (not self.odd or value % 2 == 1))

    @property
    def allowed(self) -> str:
        """What ``allows`` accepts, as a params error says it ("it must be ...")."""
        if self.odd and self.lo == 1:
            bounds, noun = [], "a positive odd integer"
        else:
            noun = ("an odd integer" if self.odd else "an integer") if self.integral else "a finite number"
            bounds = [f">= {self.lo}"] if self.lo is not None else []
        bounds += [f"<= {self.hi}"] if self.hi is not None else []
        return " ".join([noun, " and ".join(bounds)]).strip()


@dataclass(frozen=True)
class AttentionKind:
    """One kind of attention gate: everything the project needs to build, configure and cost it.

    ``layer`` names the reference Keras layer, a class in ``src/models/attention.py``: it
    takes each setting as a keyword argument (besides Keras' own, such as ``name``), returns
    them from ``get_config``, and maps a feature map (N, H, W, C) to one of the same shape.
    ``fast_layer``, if set, names a subclass in ``src/models/fast/attention.py`` that computes
    the same function faster on CPU (``model.implementation: fast``); without one the
    reference layer serves there too. ``gate_flops(height, width, channels, **settings)``
    is the forward FLOPs of one gate on an (H, W, C) map, counted as the FLOP counter counts
    the rest of the network (2 x the multiply-adds of its matrix products and convolutions).
    """

    layer: str
    gate_flops: Callable[..., int]
    settings: Mapping[str, Setting] = field(default_factory=dict)
    fast_layer: str | None = None


def hidden_units(channels: int, reduction: int) -> int:
    """Width of the gate MLP's bottleneck: channels / reduction, never below 4."""
    # Tiny smoke-profile widths would otherwise get a 0- or 1-unit bottleneck that learns nothing.
    return max(channels // reduction, 4)


def se_gate_flops(height: int, width: int, channels: int, reduction: int) -> int:
    """The excitation MLP on the pooled descriptor, C -> hidden -> C."""
    return 2 * 2 * channels * hidden_units(channels, reduction)


def cbam_gate_flops(height: int, width: int, channels: int, reduction: int, kernel_size: int) -> int:
    """The shared MLP on the average- and the max-pooled descriptor, then the k x k x 2 -> 1 spatial conv."""
    return 2 * se_gate_flops(height, width, channels, reduction) + 2 * height * width * kernel_size ** 2 * 2


ATTENTION_KINDS: dict[str, AttentionKind] = {
    "se": AttentionKind(
        layer="SqueezeExcitation",
        fast_layer="FastSqueezeExcitation",
        settings={"reduction": Setting(16, lo=1)},  # channel-MLP reduction
        gate_flops=se_gate_flops,
    ),
    "cbam": AttentionKind(
        layer="CBAM",
        fast_layer="FastCBAM",
        settings={"reduction": Setting(16, lo=1), "kernel_size": Setting(7, lo=1, odd=True)},
        gate_flops=cbam_gate_flops,
    ),
}


def attention_kind(kind: str) -> AttentionKind:
    """The registry entry of ``kind``; ValueError naming the registered kinds if there is none."""
    if kind not in ATTENTION_KINDS:
        raise ValueError(f"unknown attention {kind!r}; allowed: {', '.join(ATTENTION_KINDS)}")
    return ATTENTION_KINDS[kind]


def checked_settings(kind: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every setting of ``kind``: the ``given`` value where there is one, else the registry's default.

    ValueError, in one line naming the setting, for a setting ``kind`` does not have or a value it does not allow.
    """
    settings = attention_kind(kind).settings
    given = dict(given or {})
    for key, value in given.items():
        if key not in settings:
            known = ", ".join(settings) or "none"
            raise ValueError(f"attention {kind!r} has no setting {key!r}; its settings: {known}")
        if not settings[key].allows(value):
            raise ValueError(f"{kind} {key} = {value!r} is invalid; it must be {settings[key].allowed}")
    return {key: given.get(key, setting.default) for key, setting in settings.items()}


@dataclass(frozen=True)
class Variant:
    """One model of the study: the attention kind in every block (None = plain ResNet) and how reports name it."""

    attention: str | None
    title: str


VARIANTS: dict[str, Variant] = {
    "original": Variant(attention=None, title="Original"),
    "se": Variant(attention="se", title="SE"),
    "cbam": Variant(attention="cbam", title="CBAM"),
}
BASELINE = "original"


def variant_settings(variant: str) -> Mapping[str, Setting]:
    """The settings ``variant`` takes in params.yaml (``model.attention.<variant>``): its attention kind's."""
    kind = VARIANTS[variant].attention
    return {} if kind is None else attention_kind(kind).settings


STEMS = ("cifar", "seed")
STRIDE_CONVS = ("3x3", "1x1")
# reference: Keras built-in layers plus the plain attention layers; fast: CPU-tuned drop-in subclasses.
IMPLEMENTATIONS = ("reference", "fast")


def title(variant: str) -> str:
    """The display name of ``variant`` (the name itself for one not in the registry)."""
    return VARIANTS[variant].title if variant in VARIANTS else variant


def ordered_pairs(variants: list[str], baseline: str = BASELINE) -> list[tuple[str, str]]:
    """(minuend, subtrahend) of every pair: a variant minus the baseline, otherwise the later minus the earlier."""
    pairs = []
    for first, second in itertools.combinations(variants, 2):
        if first == baseline or (second != baseline and variants.index(first) < variants.index(second)):
            first, second = second, first
        pairs.append((first, second))
    return pairs
