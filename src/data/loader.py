"""tf.data input pipelines over the prepared uint8 arrays.

Images stay uint8 until the batch is formed and are fed to the model as float32
pixels in [0, 255]; the model normalises them itself, so a saved ``.keras`` file
needs nothing but an image.

The training stream is a pure function of (seed, epoch): epoch ``e`` is a seeded
permutation of the training set, and every element's augmentation (zero-pad +
random crop, horizontal flip) uses stateless random ops keyed on its position in
the whole run. A run resumed at epoch ``e`` therefore sees exactly the batches an
uninterrupted run would, and two runs with the same seed see the same data however
many threads tf.data uses.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def epoch_order(n: int, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """Indices of the full batches of ``epoch``: a permutation seeded by (seed, epoch)."""
    steps = n // batch_size
    return np.random.default_rng([seed, epoch]).permutation(n)[: steps * batch_size].astype(np.int32)


def _augment(image: tf.Tensor, seed: tf.Tensor, flip: bool, crop_pad: int) -> tf.Tensor:
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    if crop_pad:
        padded = tf.pad(image, [[crop_pad, crop_pad], [crop_pad, crop_pad], [0, 0]])
        image = tf.image.stateless_random_crop(padded, tf.shape(image), seed=crop_seed)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return image


def make_train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    epochs: int,
    start_epoch: int = 0,
    flip: bool = True,
    crop_pad: int = 4,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches for epochs [start_epoch, epochs), ``len(x) // batch_size`` per epoch, in one stream.

    Pass ``steps_per_epoch=len(x) // batch_size`` to ``fit`` so Keras walks the
    stream epoch by epoch instead of restarting it.
    """
    order = np.concatenate([epoch_order(len(x), batch_size, seed, e) for e in range(start_epoch, epochs)]
                           or [np.zeros(0, np.int32)])
    # Global position of each element in the whole run: the key of its augmentation.
    first = start_epoch * (len(x) // batch_size) * batch_size
    positions = np.arange(first, first + len(order), dtype=np.int64)
    images, labels = tf.constant(x), tf.constant(y)

    def load(index, position):
        image = tf.gather(images, index)
        if flip or crop_pad:
            image = _augment(image, tf.stack([tf.constant(seed, tf.int64), position]), flip, crop_pad)
        return image, tf.gather(labels, index)

    ds = tf.data.Dataset.from_tensor_slices((order, positions))
    ds = ds.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).map(_to_float).prefetch(AUTOTUNE)


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches of (float32 images in [0, 255], labels) in stored order, for evaluation."""
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return ds.map(_to_float).prefetch(AUTOTUNE)


def _to_float(images: tf.Tensor, labels: tf.Tensor):
    return tf.cast(images, tf.float32), labels
