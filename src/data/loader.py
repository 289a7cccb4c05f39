"""tf.data input pipelines over the prepared uint8 arrays.

Images stay uint8 until the batch is formed and are fed to the model as float32
pixels in [0, 255]; the model normalises them itself, so a saved ``.keras`` file
needs nothing but an image.

The training stream is a pure function of (seed, epoch): epoch ``e`` is a seeded
permutation of the training set, and every batch's augmentation (zero-pad +
random crop, horizontal flip, drawn per image) uses stateless random ops keyed on
the batch's number in the whole run. A run resumed at epoch ``e`` therefore sees
exactly the batches an uninterrupted run would, and two runs with the same seed
see the same data however many threads tf.data uses.

Parallelism and prefetch depth are fixed and tf.data's autotuner is off. The
autotuner's thread wakes at intervals that grow to a minute, and destroying an
iterator waits for its next wake-up: ``fit`` returned 55 s after CBAM's last
epoch of a 3-epoch run at full size, time counted as training. One map thread
and two prefetched batches feed the model about 65x faster than it trains
(``python -m benchmarks.throughput``); a second map thread only competed with
the model for the two cores (Original's epochs about 2% slower, measured).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

PARALLEL_CALLS = 1
PREFETCH_BATCHES = 2


def epoch_order(n: int, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """Indices of the full batches of ``epoch``: a permutation seeded by (seed, epoch)."""
    steps = n // batch_size
    return np.random.default_rng([seed, epoch]).permutation(n)[: steps * batch_size].astype(np.int32)


def augment_batch(images: tf.Tensor, seed: tf.Tensor, flip: bool, crop_pad: int,
                  flips: tf.Tensor | None = None) -> tf.Tensor:
    """Zero-pad + random crop and random horizontal flip of every image of a (N, H, W, C) batch.

    Vectorised over the batch (two gathers), not image by image: per-image map
    functions cost tf.data about 5% of a 2-core CPU that the model needs. The
    draws are stateless, a pure function of ``seed`` (shape [2]). ``flips`` (bool, [N])
    overrides the random flip draw with the caller's choice.
    """
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    shape = tf.shape(images)
    count, height, width = shape[0], shape[1], shape[2]
    rows = tf.broadcast_to(tf.range(height), [count, height])
    cols = tf.broadcast_to(tf.range(width), [count, width])
    if crop_pad:
        offsets = tf.random.stateless_uniform([count, 2], crop_seed, minval=0, maxval=2 * crop_pad + 1,
                                              dtype=tf.int32)
        rows, cols = rows + offsets[:, :1], cols + offsets[:, 1:]
        images = tf.pad(images, [[0, 0], [crop_pad, crop_pad], [crop_pad, crop_pad], [0, 0]])
    if flip:
        flipped = flips if flips is not None else tf.random.stateless_uniform([count], flip_seed) < 0.5
        cols = tf.where(flipped[:, None], tf.reverse(cols, [1]), cols)
    images = tf.gather(images, rows, axis=1, batch_dims=1)
    return tf.gather(images, cols, axis=2, batch_dims=1)


def alternating_flips(n: int, seed: int) -> np.ndarray:
    """Each image's flip in even epochs (a seeded coin per image); odd epochs show the other side.

    Derandomised flipping (airbench): over any two consecutive epochs every image is
    seen once each way, instead of both times the same way for a quarter of them.
    """
    return np.random.default_rng([seed, n]).random(n) < 0.5


def make_train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    epochs: int,
    start_epoch: int = 0,
    flip: bool = True,
    crop_pad: int = 4,
    seed: int = 0,
    num_classes: int | None = None,
    alternate_flip: bool = False,
) -> tf.data.Dataset:
    """Batches for epochs [start_epoch, epochs), ``len(x) // batch_size`` per epoch, in one stream.

    Pass ``steps_per_epoch=len(x) // batch_size`` to ``fit`` so Keras walks the
    stream epoch by epoch instead of restarting it. With ``num_classes`` the labels
    come one-hot (what label smoothing needs), inside the same map. With
    ``alternate_flip`` an image's flip alternates from epoch to epoch
    (``alternating_flips``) instead of being drawn afresh.
    """
    steps = len(x) // batch_size
    order = np.concatenate([epoch_order(len(x), batch_size, seed, e) for e in range(start_epoch, epochs)]
                           or [np.zeros(0, np.int32)])
    # Global number of each batch in the whole run: the key of its augmentation.
    batches = np.arange(start_epoch * steps, max(epochs, start_epoch) * steps, dtype=np.int64)
    images, labels = tf.constant(x), tf.constant(y)
    even_epoch_flips = tf.constant(alternating_flips(len(x), seed)) if alternate_flip else None

    def load(indices, batch):
        batch_images = tf.gather(images, indices)
        flips = None
        if even_epoch_flips is not None:
            odd_epoch = tf.math.floormod(batch // steps, 2) == 1
            flips = tf.math.logical_xor(tf.gather(even_epoch_flips, indices), odd_epoch)
        if flip or crop_pad:
            batch_images = augment_batch(batch_images, tf.stack([tf.constant(seed, tf.int64), batch]), flip, crop_pad,
                                         flips)
        return _to_float(batch_images, tf.gather(labels, indices), num_classes)

    ds = tf.data.Dataset.from_tensor_slices((order.reshape(-1, batch_size), batches))
    return _fixed_pipeline(ds.map(load, num_parallel_calls=PARALLEL_CALLS, deterministic=True))


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, num_classes: int | None = None) -> tf.data.Dataset:
    """Batches of (float32 images in [0, 255], labels, one-hot with ``num_classes``) in stored order."""
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    return _fixed_pipeline(ds.map(lambda images, labels: _to_float(images, labels, num_classes)))


def _fixed_pipeline(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` prefetched by a fixed depth, with the autotuner off (see the module docstring)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    # Multi-worker runs split every batch among the workers (the data lives in memory, not in files).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.prefetch(PREFETCH_BATCHES).with_options(options)


def _to_float(images: tf.Tensor, labels: tf.Tensor, num_classes: int | None = None):
    if num_classes:
        labels = tf.one_hot(labels, num_classes)
    return tf.cast(images, tf.float32), labels
