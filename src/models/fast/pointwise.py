"""1x1 convolution computed as a matrix product.

A 1x1 convolution over NHWC maps is a matrix product of the (N*H*W, C_in) pixels
with the (C_in, C_out) kernel, and a strided one is the same product on every
s-th pixel. oneDNN's convolution kernels handle neither case well on CPU: their
weight gradient for small feature maps (the 2x2 and 4x4 stages of a CIFAR ResNet)
and for strided 1x1 projections is many times slower than the matrix product
(measured here in bfloat16: 12 ms vs 1.5 ms for 512 -> 1024 channels on 2x2 maps,
batch 128). ``PointwiseConv2D`` is a drop-in ``keras.layers.Conv2D`` with
kernel size 1 (same weights, same config; saved models hold the Keras layer) whose
forward and backward passes are matrix products.
"""
from __future__ import annotations

from keras import layers, ops


def check_plain_conv(layer: layers.Conv2D) -> None:
    """Reject what the matrix-product convolutions do not implement: other layouts, dilation, groups."""
    if layer.data_format != "channels_last" or layer.dilation_rate != (1, 1) or layer.groups != 1:
        raise ValueError(f"{type(layer).__name__} supports channels_last, undilated, ungrouped convolutions only")


class PointwiseConv2D(layers.Conv2D):
    """``Conv2D`` with a 1x1 kernel on channels-last maps, as a sub-sample plus a matrix product."""

    REFERENCE = layers.Conv2D

    def __init__(self, filters: int, kernel_size=1, strides=1, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, **kwargs)
        if self.kernel_size != (1, 1):
            raise ValueError(f"PointwiseConv2D needs kernel_size 1, got {self.kernel_size}")
        check_plain_conv(self)

    def convolution_op(self, inputs, kernel):
        if self.strides != (1, 1):
            # With a 1x1 window, "same" and "valid" padding both keep pixels 0, s, 2s, ...;
            # a 1x1 max-pool picks them out, many times faster than a strided slice and its gradient.
            inputs = ops.max_pool(inputs, pool_size=1, strides=self.strides, padding="valid")
        return ops.tensordot(inputs, kernel[0, 0], axes=1)
