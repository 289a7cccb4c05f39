"""Convolution whose kernel gradient is an im2col matrix product.

oneDNN's weight gradient for a strided 3x3 convolution on the smallest maps of a
CIFAR ResNet is slow on CPU: measured here in bfloat16, batch 128, 6.6 ms for the
256-channel 4x4 -> 2x2 convolution of stage 4, where the same gradient as
``patches^T @ output_gradient`` takes 1.7 ms (3.5 vs 2.6 ms for stage 3 at 8x8).
On larger maps the patch extraction costs more than it saves, so the builder uses
this layer only where measured faster (``PATCH_GRAD_MAX_INPUT``).

``PatchGradConv2D`` is a drop-in ``keras.layers.Conv2D`` (same weights, same config;
saved models hold the Keras layer): the forward pass and the input gradient stay
oneDNN's convolution kernels; only the kernel gradient changes.
"""
from __future__ import annotations

import tensorflow as tf
from keras import layers

from src.models.fast.pointwise import check_plain_conv

# Largest input height/width (inclusive) at which the patch product beats oneDNN's kernel gradient.
PATCH_GRAD_MAX_INPUT = 8


def conv2d_patch_grad(inputs, kernel, strides: tuple[int, int], padding: str):
    """``tf.nn.conv2d`` (NHWC, undilated) whose kernel gradient is an im2col matrix product."""
    kernel_height, kernel_width, in_channels, out_channels = kernel.shape
    conv_strides = [1, *strides, 1]

    @tf.custom_gradient
    def conv(x, k):
        def grad(upstream):
            x_grad = tf.nn.conv2d_transpose(upstream, k, tf.shape(x), conv_strides, padding)
            patches = tf.image.extract_patches(x, [1, kernel_height, kernel_width, 1], conv_strides,
                                               [1, 1, 1, 1], padding)
            # Patch depth is ordered (row, column, channel): the kernel's layout.
            k_grad = tf.matmul(tf.reshape(patches, (-1, kernel_height * kernel_width * in_channels)),
                               tf.reshape(upstream, (-1, out_channels)), transpose_a=True)
            return x_grad, tf.reshape(k_grad, k.shape)

        return tf.nn.conv2d(x, k, conv_strides, padding), grad

    # A tensor, not the variable: the gradient then flows to the variable through the read.
    return conv(inputs, tf.convert_to_tensor(kernel))


class PatchGradConv2D(layers.Conv2D):
    """``Conv2D`` on channels-last maps whose kernel gradient is a matrix product of image patches."""

    REFERENCE = layers.Conv2D

    def __init__(self, filters: int, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        check_plain_conv(self)

    def convolution_op(self, inputs, kernel):
        return conv2d_patch_grad(inputs, kernel, self.strides, self.padding.upper())
