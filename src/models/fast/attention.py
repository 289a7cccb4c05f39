"""SE and CBAM with hand-written, fused gradients: the reference layers' functions, faster on CPU.

Each class subclasses its reference layer (same weights, same config, same gate
methods) and overrides only ``call``, which runs the fused passes of
``src/models/fast/kernels.py``. Tested equal to the reference layer in outputs and
in input and weight gradients (``tests/models/fast/test_attention.py``).
"""
from __future__ import annotations

from keras import ops

from src.models.attention import CBAM, SqueezeExcitation
from src.models.fast.kernels import fused_cbam, fused_se


class FastSqueezeExcitation(SqueezeExcitation):
    """``SqueezeExcitation`` through ``fused_se``: two passes over the map forward, three backward."""

    REFERENCE = SqueezeExcitation

    def call(self, inputs):
        return fused_se(inputs, lambda pooled: self.excite(self.squeeze(pooled)))


class FastCBAM(CBAM):
    """``CBAM`` through ``fused_cbam``: pools, gates and re-weighting with a hand-written gradient."""

    REFERENCE = CBAM

    def _stacked_channel_gate(self, pools):
        # The shared MLP on the stacked (N, 2, C) avg/max descriptors: one matmul pair, not two.
        return ops.sigmoid(ops.sum(self.shared_mlp(pools), axis=1))

    def call(self, inputs):
        return fused_cbam(inputs, self._stacked_channel_gate, ops.cast(self.spatial_conv.kernel, "float32"))
