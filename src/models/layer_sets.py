"""Which layer classes build a network: the ``LayerSet`` type and the ``REFERENCE`` set.

``REFERENCE`` is Keras' built-in ``Conv2D`` and ``BatchNormalization`` plus each attention
kind's layer from ``src/models/attention.py``: what the papers describe and what every
accelerator's libraries (cuDNN, oneDNN) are tuned for. The CPU fast path
(``src/models/fast/``) builds its ``FAST`` set on this module; ``src.models.resnet.layer_set``
picks one of the two, loading the fast one only when asked for.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from keras import layers

from src.models import attention
from src.models.variants import AttentionKind


@dataclass(frozen=True)
class LayerSet:
    """Layer classes by role.

    ``conv(kernel, stride, input_size)`` picks a convolution class; ``attention(kind)`` the
    layer class of an attention kind (an ``ATTENTION_KINDS`` entry).
    """

    conv: Callable[[int, int, int | None], type[layers.Conv2D]]
    batch_norm: type[layers.BatchNormalization]
    attention: Callable[[AttentionKind], type[layers.Layer]]


def reference_attention(kind: AttentionKind) -> type[layers.Layer]:
    """The reference layer class of ``kind``: its ``layer`` in ``src/models/attention.py``."""
    return getattr(attention, kind.layer)


REFERENCE = LayerSet(
    conv=lambda kernel, stride, input_size: layers.Conv2D,
    batch_norm=layers.BatchNormalization,
    attention=reference_attention,
)
