"""Every completed epoch of a run, kept beside its backup, so a resumed run reports the whole run.

Keras ``BackupAndRestore`` restores the weights and the epoch, not the history: after a
resume, ``fit`` returns only the epochs since. The journal (``epochs.json`` in the backup
directory, written before the backup at each epoch's end) holds each epoch's accuracies and
seconds; on resume it is cut to the epochs the backup holds, since a later one, if written,
ran again. ``summary`` computes the run's reported numbers from it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import keras
import numpy as np

from src.core.atomic import write_json
from src.training.callbacks import EpochTimer

JOURNAL_FILE = "epochs.json"


def _scalar(value) -> float | None:
    return None if value is None else float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


class EpochJournal(keras.callbacks.Callback):
    """Records each epoch (number, accuracies, training and whole seconds) in ``backup_dir``; put it before
    ``BackupAndRestore`` and after ``timer``."""

    def __init__(self, backup_dir: Path, resume_epoch: int, timer: EpochTimer):
        super().__init__()
        self.path = Path(backup_dir) / JOURNAL_FILE
        self.timer = timer
        self.epochs: list[dict] = []
        if resume_epoch:
            try:
                self.epochs = [e for e in json.loads(self.path.read_text()) if e["epoch"] <= resume_epoch]
            except (OSError, ValueError, TypeError, KeyError):
                pass  # a backup from before the journal: the run reports the epochs it ran itself
        self.earlier_seconds = sum(e["seconds"] for e in self.epochs)

    def on_train_begin(self, logs=None):
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs, now = logs or {}, time.perf_counter()
        self.epochs.append({"epoch": epoch + 1, "accuracy": _scalar(logs.get("accuracy")),
                            "val_accuracy": _scalar(logs.get("val_accuracy")),
                            "train_seconds": self.timer.train_seconds[-1], "seconds": now - self._last})
        self._last = now
        write_json(self.path, self.epochs)


def summary(epochs: list[dict], images_per_epoch: int, wall_seconds: float) -> dict:
    """The run's accuracies, epochs and speed over ``epochs`` (the journal); ``wall_seconds``: the run's time.

    img/s: images per epoch over the median training seconds of the epochs after the first
    (which traces the graph), as compare defines it over the run's curve.
    """
    validated = [e for e in epochs if e["val_accuracy"] is not None]
    best = max(validated, key=lambda e: e["val_accuracy"], default=None)  # the first of equals, as np.argmax
    seconds = [e["train_seconds"] for e in epochs]
    steady = seconds[1:] or seconds
    return {
        "epochs": int(epochs[-1]["epoch"]) if epochs else 0,
        "best_val_accuracy": best and best["val_accuracy"],
        "best_epoch": best and best["epoch"],
        "final_val_accuracy": epochs[-1]["val_accuracy"] if epochs else None,
        "final_train_accuracy": epochs[-1]["accuracy"] if epochs else None,
        "train_minutes": round(wall_seconds / 60, 3),
        "train_img_per_s": round(images_per_epoch / float(np.median(steady)), 1) if steady else None,
    }
