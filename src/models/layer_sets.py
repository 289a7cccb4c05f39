"""Which layer classes the ResNet builder uses: the reference set, or the CPU fast path.

``reference`` is Keras' built-in ``Conv2D`` and ``BatchNormalization`` plus the plain
SE and CBAM layers: what the papers describe and what every accelerator's libraries
(cuDNN, oneDNN) are tuned for. ``fast`` (``src/models/fast/``) swaps in subclasses that
compute the same functions faster on CPU; it is imported only when asked for.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from keras import layers

from src.models.attention import CBAM, SqueezeExcitation
from src.models.variants import IMPLEMENTATIONS


@dataclass(frozen=True)
class LayerSet:
    """Layer classes by role; ``conv(kernel, stride, input_size)`` picks a convolution class."""

    conv: Callable[[int, int, int | None], type[layers.Conv2D]]
    batch_norm: type[layers.BatchNormalization]
    attention: dict[str, type[layers.Layer]]


REFERENCE = LayerSet(
    conv=lambda kernel, stride, input_size: layers.Conv2D,
    batch_norm=layers.BatchNormalization,
    attention={"se": SqueezeExcitation, "cbam": CBAM},
)


def layer_set(implementation: str) -> LayerSet:
    """The layer classes of ``implementation`` ("reference" or "fast")."""
    if implementation == "reference":
        return REFERENCE
    if implementation == "fast":
        from src.models.fast import FAST  # only here: a reference run never loads the CPU kernels

        return FAST
    raise ValueError(f"unknown implementation {implementation!r}; allowed: {', '.join(IMPLEMENTATIONS)}")
