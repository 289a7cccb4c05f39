"""Optimizer, loss and metrics of a training run, from the ``train`` params section."""
from __future__ import annotations

import keras

from src.models.schedules import WarmupSchedule


def make_optimizer(train: dict, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """SGD (Nesterov) or Adam on a warm-up + decay schedule, with decoupled weight decay on kernels only."""
    schedule = WarmupSchedule(
        peak_lr=train["lr"],
        total_steps=train["epochs"] * steps_per_epoch,
        warmup_steps=round(train["warmup_epochs"] * steps_per_epoch),
        shape=train["schedule"],
    )
    wd = train["weight_decay"] or None
    if train["optimizer"] == "sgd":
        opt = keras.optimizers.SGD(schedule, momentum=train["momentum"], nesterov=train["nesterov"], weight_decay=wd)
    else:
        opt = keras.optimizers.Adam(schedule, weight_decay=wd)
    if wd:
        # Decay only conv/dense kernels: shrinking BN scales and biases only hurts.
        opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return opt


def compile_model(model: keras.Model, train: dict, steps_per_epoch: int) -> None:
    """Compile for one-hot labels (label smoothing needs them)."""
    model.compile(
        optimizer=make_optimizer(train, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=train["label_smoothing"]),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=train["jit_compile"],
    )
