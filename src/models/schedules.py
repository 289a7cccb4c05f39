"""Learning-rate schedule: linear warm-up, then cosine, linear or constant, per optimizer step."""
from __future__ import annotations

import math

import keras
from keras import ops

SHAPES = ("cosine", "linear", "constant")


@keras.saving.register_keras_serializable(package="schedules")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """``peak_lr`` reached linearly over ``warmup_steps``, then decayed to 0 at ``total_steps``."""

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int = 0, shape: str = "cosine"):
        if shape not in SHAPES:
            raise ValueError(f"unknown schedule {shape!r}; allowed: {', '.join(SHAPES)}")
        self.peak_lr = float(peak_lr)
        self.total_steps = max(int(total_steps), 1)
        self.warmup_steps = min(max(int(warmup_steps), 0), self.total_steps)
        self.shape = shape

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = ops.cast(max(self.warmup_steps, 1), "float32")
        decay_steps = ops.cast(max(self.total_steps - self.warmup_steps, 1), "float32")
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        if self.shape == "cosine":
            decayed = 0.5 * (1.0 + ops.cos(math.pi * progress))
        elif self.shape == "linear":
            decayed = 1.0 - progress
        else:
            decayed = ops.ones_like(progress)
        warmup = ops.minimum((step + 1.0) / warm, 1.0)
        factor = ops.where(step < self.warmup_steps, warmup, decayed)
        return self.peak_lr * factor

    def get_config(self):
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "shape": self.shape}
