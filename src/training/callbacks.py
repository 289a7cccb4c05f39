"""Keras callbacks of a training run: stop on a diverged loss, time each epoch's training phase."""
from __future__ import annotations

import time

import keras
import numpy as np
from dvclive import Live

from src.core.errors import TrainingError


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Abort ``fit`` at the first NaN/inf loss, before any epoch-end callback can save that state."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise TrainingError(
                f"loss became {float(loss)} at epoch {self.epoch + 1}, batch {batch + 1}; "
                "lower train.lr or check the data — no model was saved"
            )

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


class EpochTimer(keras.callbacks.Callback):
    """Seconds of each epoch's training phase (validation excluded), for img/s.

    With a dvclive ``live``, each epoch's seconds also go to its curves
    (``time/train_seconds``), so where a run's time went can be read from the
    committed plots. Logged when validation begins, before ``DVCLiveCallback``
    ends the step at the epoch's end.
    """

    def __init__(self, live: Live | None = None):
        super().__init__()
        self.live = live
        self.train_seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._done = False

    def on_test_begin(self, logs=None):
        self._record()

    def on_epoch_end(self, epoch, logs=None):
        self._record()  # an epoch without validation

    def _record(self) -> None:
        if self._done:
            return
        self._done = True
        self.train_seconds.append(time.perf_counter() - self._start)
        if self.live is not None:
            self.live.log_metric("time/train_seconds", round(self.train_seconds[-1], 3))
