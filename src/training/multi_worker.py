"""Keras 3 ``fit`` on several workers (``tf.distribute.MultiWorkerMirroredStrategy``).

Keras 3.15's TensorFlow trainer fails twice under MultiWorkerMirroredStrategy with more
than one worker (keras-team/keras#20585, open):

1. before the first step it takes a sample batch for a symbolic build by
   ``strategy.reduce`` of the distributed (images, labels) pair, and that strategy cannot
   reduce a tuple;
2. after every step it averages the logged loss and metrics over the workers with
   ``strategy.reduce("MEAN", value, axis=0)``, which fails for scalars.

``multi_worker_model`` works around both without touching Keras: the network's layers
are wrapped in a model whose steps log one-element vectors (their mean over workers is
the global value), the optimizer is built up front, and the model stops pinning the
strategy it was built under, so ``fit`` (run inside ``strategy.scope()``) skips the
sample-batch build and takes the strategy from the scope. The two-worker test
(``tests/training/test_multi_worker.py``) catches a Keras release that changes this.
"""
from __future__ import annotations

import keras
from keras import ops


class MultiWorkerModel(keras.Model):
    """The same layers and weights; ``fit`` logs each value as a one-element vector."""

    def train_step(self, data):
        return _as_vectors(super().train_step(data))

    def test_step(self, data):
        return _as_vectors(super().test_step(data))


def _as_vectors(logs: dict) -> dict:
    return {name: ops.reshape(value, (1,)) for name, value in logs.items()}


def multi_worker_model(network: keras.Model) -> keras.Model:
    """A trainable view of ``network`` for multi-worker ``fit``; build it inside the strategy's scope."""
    return MultiWorkerModel(network.inputs, network.outputs, name=network.name)


def prepare_for_fit(model: keras.Model) -> None:
    """After ``compile``: build the optimizer now and let ``fit`` take the strategy from its scope."""
    model.optimizer.build(model.trainable_variables)
    model._distribute_strategy = None
