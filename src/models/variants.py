"""The study's variants and the builder's choices, in one place and without importing Keras.

``VARIANTS`` is the registry: each variant's name, the attention its blocks carry and
its display title. The params schema (``src/config/params.py``), the model builder, the
stages and the reports all read it, so a new variant is one entry here plus its
attention layer in ``src/models/attention.py``.
"""
from __future__ import annotations

import itertools

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One model of the study: the attention in every block (None = plain ResNet) and how reports name it."""

    attention: str | None
    title: str


VARIANTS: dict[str, Variant] = {
    "original": Variant(attention=None, title="Original"),
    "se": Variant(attention="se", title="SE"),
    "cbam": Variant(attention="cbam", title="CBAM"),
}
BASELINE = "original"

# Settings each attention kind takes (params.yaml `model.attention.<variant>`).
ATTENTION_SETTINGS: dict[str | None, tuple[str, ...]] = {
    None: (),
    "se": ("reduction",),
    "cbam": ("reduction", "kernel_size"),
}

STEMS = ("cifar", "seed")
STRIDE_CONVS = ("3x3", "1x1")
# reference: Keras built-in layers plus the plain SE/CBAM layers; fast: CPU-tuned drop-in subclasses.
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
