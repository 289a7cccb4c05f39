"""Input pipeline: the batched augmentation crops and flips each image on its own, deterministically."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from src.data.loader import augment_batch, epoch_order, make_dataset, make_train_dataset


def images(count: int = 64, size: int = 8) -> np.ndarray:
    # Every pixel value distinct per image, so a crop's offset and flip can be read back.
    return (np.arange(count * size * size * 3).reshape(count, size, size, 3) % 251 + 1).astype(np.uint8)


def crops_of(image: np.ndarray, pad: int) -> list[np.ndarray]:
    padded = np.pad(image, [(pad, pad), (pad, pad), (0, 0)])
    size = image.shape[0]
    windows = [padded[r:r + size, c:c + size] for r in range(2 * pad + 1) for c in range(2 * pad + 1)]
    return windows + [w[:, ::-1] for w in windows]


def test_every_image_is_a_crop_or_flipped_crop_of_itself():
    batch = images()
    out = augment_batch(tf.constant(batch), tf.constant([3, 7], tf.int64), flip=True, crop_pad=2).numpy()
    assert out.shape == batch.shape and out.dtype == np.uint8
    matches = [[i for i, crop in enumerate(crops_of(image, 2)) if np.array_equal(crop, got)]
               for image, got in zip(batch, out)]
    assert all(matches)
    # Offsets and flips are drawn per image: a batch of 64 gets many different ones, both flip states.
    assert len({m[0] % 25 for m in matches}) > 10
    flipped = [m[0] >= 25 for m in matches]
    assert 0 < sum(flipped) < len(flipped)


def test_no_augmentation_is_the_identity_and_seeds_decide():
    batch = tf.constant(images())
    assert np.array_equal(augment_batch(batch, tf.constant([0, 0], tf.int64), flip=False, crop_pad=0), batch)
    one, same, other = (augment_batch(batch, tf.constant(s, tf.int64), True, 4).numpy()
                        for s in ([1, 5], [1, 5], [1, 6]))
    assert np.array_equal(one, same) and not np.array_equal(one, other)


def test_stream_batches_hold_the_epochs_images_as_float_pixels():
    x = images(40)
    y = np.arange(40) % 10
    batches = list(make_train_dataset(x, y, 8, epochs=2, seed=1, flip=False, crop_pad=0))
    assert len(batches) == 10 and all(b[0].dtype == tf.float32 and b[0].shape == (8, 8, 8, 3) for b in batches)
    first_epoch = np.concatenate([b[0].numpy() for b in batches[:5]])
    # Without augmentation an epoch is a permutation of the training images.
    assert sorted(map(bytes, first_epoch.astype(np.uint8))) == sorted(map(bytes, x))


def test_pipelines_keep_the_autotuner_off_through_later_maps():
    # train.py maps one-hot labels on top; the option must survive that, or the
    # autotuner's thread comes back and delays every iterator's teardown.
    x, y = images(16), np.arange(16) % 10
    for ds in (make_train_dataset(x, y, 8, epochs=1), make_dataset(x, y, 8)):
        mapped = ds.map(lambda a, b: (a, tf.one_hot(b, 10)))
        assert mapped.options().autotune.enabled is False
        assert sum(int(b[0].shape[0]) for b in mapped) == 16


def test_alternating_flip_shows_each_image_the_other_way_round_the_next_epoch():
    x = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    y = np.arange(20) % 10
    ds = make_train_dataset(x, y, 10, epochs=3, crop_pad=0, seed=4, alternate_flip=True)
    seen = {}  # image index -> flipped?, per epoch
    for batch, (images, _) in enumerate(ds):
        order = epoch_order(20, 10, 4, batch // 2)[batch % 2 * 10: batch % 2 * 10 + 10]
        for index, image in zip(order, images.numpy().astype(np.uint8)):
            assert np.array_equal(image, x[index]) or np.array_equal(image, x[index][:, ::-1])
            seen.setdefault(batch // 2, {})[index] = not np.array_equal(image, x[index])
    assert all(seen[e][i] != seen[e + 1][i] for e in (0, 1) for i in range(20))
    assert 0 < sum(seen[0].values()) < 20  # epoch 0's flips are a coin per image, not all one way
