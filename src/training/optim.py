"""Optimizer, loss and metrics of a training run, from the ``train`` params section."""
from __future__ import annotations

import keras

from src.models.schedules import WarmupSchedule

# Paths of the batch-norm shifts (``.../<layer>_bn/beta``): the variables ``train.bn_bias_lr_multiplier`` speeds up.
BN_BIAS_PATHS = r".*/beta"


def _schedule(train: dict, steps_per_epoch: int, peak_lr: float) -> WarmupSchedule:
    return WarmupSchedule(
        peak_lr=peak_lr,
        total_steps=train["epochs"] * steps_per_epoch,
        warmup_steps=round(train["warmup_epochs"] * steps_per_epoch),
        shape=train["schedule"],
    )


def _base_optimizer(train: dict, schedule: WarmupSchedule, weight_decay: float | None) -> keras.optimizers.Optimizer:
    if train["optimizer"] == "sgd":
        return keras.optimizers.SGD(schedule, momentum=train["momentum"], nesterov=train["nesterov"],
                                    weight_decay=weight_decay)
    return keras.optimizers.Adam(schedule, weight_decay=weight_decay)


def make_optimizer(train: dict, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """SGD (Nesterov) or Adam on a warm-up + decay schedule, with decoupled weight decay on kernels only.

    With ``bn_bias_lr_multiplier`` != 1 the batch-norm shifts get their own optimizer
    of the same kind at that multiple of the learning rate (airbench trains them 64x
    faster: a shift has one value per channel and, unlike a kernel, no scale to grow).
    """
    wd = train["weight_decay"] or None
    opt = _base_optimizer(train, _schedule(train, steps_per_epoch, train["lr"]), wd)
    if wd:
        # Decay only conv/dense kernels: shrinking BN scales and biases only hurts.
        opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    multiplier = train["bn_bias_lr_multiplier"]
    if multiplier == 1:
        return opt
    shifts = _base_optimizer(train, _schedule(train, steps_per_epoch, train["lr"] * multiplier), None)
    return keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(opt, {BN_BIAS_PATHS: shifts}))


def compile_model(model: keras.Model, train: dict, steps_per_epoch: int) -> None:
    """Compile for one-hot labels (label smoothing needs them)."""
    model.compile(
        optimizer=make_optimizer(train, steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=train["label_smoothing"]),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=train["jit_compile"],
    )
