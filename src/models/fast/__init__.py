"""The CPU fast path (``model.implementation: fast``): drop-in subclasses of the reference layers.

Each class here computes exactly what its ``REFERENCE`` class computes, with the same
weights and config, and overrides only *how* (fused kernels, matrix products,
hand-written gradients), measured faster with oneDNN on 2-core CPUs (``benchmarks/``,
``docs/history.md``). Nothing here is imported unless the fast path is asked for,
and trained models are saved as their reference layers (``src.models.io.to_reference``),
so a saved model loads with plain Keras plus the attention layers.
"""
from __future__ import annotations

from keras import layers

from src.models.fast import attention
from src.models.fast.batchnorm import FusedBatchNorm
from src.models.fast.patchgrad import PATCH_GRAD_MAX_INPUT, PatchGradConv2D
from src.models.fast.pointwise import PointwiseConv2D
from src.models.layer_sets import LayerSet, reference_attention
from src.models.variants import AttentionKind


def fastest_conv(kernel: int, stride: int, input_size: int | None) -> type[layers.Conv2D]:
    """The fastest measured convolution class for this kernel, stride and input height."""
    if kernel == 1:
        return PointwiseConv2D
    if stride > 1 and input_size is not None and input_size <= PATCH_GRAD_MAX_INPUT:
        return PatchGradConv2D
    return layers.Conv2D


def fastest_attention(kind: AttentionKind) -> type[layers.Layer]:
    """The kind's ``fast_layer`` from ``src/models/fast/attention.py``, or its reference layer if it has none."""
    return getattr(attention, kind.fast_layer) if kind.fast_layer else reference_attention(kind)


FAST = LayerSet(
    conv=fastest_conv,
    batch_norm=FusedBatchNorm,
    attention=fastest_attention,
)
