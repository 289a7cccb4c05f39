"""tf.data input pipelines over the prepared uint8 arrays.

Images stay uint8 until the batch is formed and are fed to the model as float32
pixels in [0, 255]; the model normalises them itself, so a saved ``.keras`` file
needs nothing but an image. Training augmentation (zero-pad + random crop,
horizontal flip) uses stateless random ops seeded per element, so two runs with
the same seed see the same augmented stream however many threads tf.data uses.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def _augment(image: tf.Tensor, seed: tf.Tensor, flip: bool, crop_pad: int) -> tf.Tensor:
    seeds = tf.random.experimental.stateless_split(seed, 2)
    if crop_pad:
        padded = tf.pad(image, [[crop_pad, crop_pad], [crop_pad, crop_pad], [0, 0]])
        image = tf.image.stateless_random_crop(padded, tf.shape(image), seed=seeds[0])
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[1])
    return image


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    training: bool = False,
    flip: bool = False,
    crop_pad: int = 0,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of (float32 images in [0, 255], int labels); shuffled and augmented when ``training``."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        if flip or crop_pad:
            # One stateless seed per element, drawn from a seeded stream: deterministic under parallel map.
            seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
            ds = tf.data.Dataset.zip((ds, seeds)).map(
                lambda xy, s: (_augment(xy[0], s, flip, crop_pad), xy[1]),
                num_parallel_calls=AUTOTUNE, deterministic=True,
            )
    ds = ds.batch(batch_size, drop_remainder=training)
    return ds.map(lambda images, labels: (tf.cast(images, tf.float32), labels)).prefetch(AUTOTUNE)
