"""Stage train_<variant>: train one ResNet variant (original, se or cbam) on the prepared data.

    python -m src.train --variant se

Reads params ``seed``, ``model`` and ``train``; writes
- models/<variant>.keras         the trained model (takes raw [0, 255] pixels)
- metrics/train/<variant>.json   best/final val accuracy, epochs, wall time, img/s, params
- plots/train/<variant>/         dvclive per-epoch train/val loss and accuracy (TSV)

A run killed mid-way resumes from its last completed epoch when the stage runs
again (Keras BackupAndRestore in checkpoints/<variant>/, discarded if the params
changed). A NaN/inf loss stops training with an error and saves no model.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from pipeline.atomic import atomic_path, write_json
from pipeline.errors import ParamsError, TrainingError, stage_main
from pipeline.params import VARIANTS, load_params
from src.data.loader import make_dataset, make_train_dataset
from src.models.flops import flops_per_image
from src.models.resnet import build_variant
from src.models.schedules import WarmupSchedule
from src.preprocess import PREPARED_DIR, load_split, load_stats

CHECKPOINT_ROOT = Path("checkpoints")


def configure_runtime(seed: int, precision: str) -> None:
    """Seed every RNG, make TF ops deterministic and set the dtype policy."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(precision)


def make_strategy(name: str) -> tf.distribute.Strategy:
    """``default``: the one local device; ``mirrored``: data-parallel over all local GPUs (or the CPU)."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def make_optimizer(train: dict, steps_per_epoch: int) -> keras.optimizers.Optimizer:
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


def run_fingerprint(variant: str, params: dict, stats: dict) -> str:
    """Hash of everything that makes a backup resumable; any change discards the backup."""
    relevant = {"variant": variant, "seed": params["seed"], "model": params["model"],
                "train": params["train"], "data": stats}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def prepare_backup(backup_dir: Path, fingerprint: str) -> int:
    """Return the epoch a valid backup resumes from (0 = fresh start); drop stale backups."""
    stamp = backup_dir / "fingerprint.txt"
    meta = backup_dir / "training_metadata.json"
    if meta.is_file() and (not stamp.is_file() or stamp.read_text() != fingerprint):
        print(f"train: discarding backup {backup_dir}: it was made with other params or data", file=sys.stderr)
        shutil.rmtree(backup_dir)
    elif backup_dir.exists() and not meta.is_file():
        shutil.rmtree(backup_dir)  # killed before the first epoch ended: nothing to resume
    if meta.is_file():
        return int(json.loads(meta.read_text()).get("epoch", 0))  # epochs completed
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    return 0


def environment(stats: dict) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpus": len(tf.config.list_physical_devices("GPU")),
            "tensorflow": tf.__version__, "keras": keras.__version__, "python": platform.python_version(),
            "data_source": f"{stats['source']['kind']}:{stats['source']['format']}"}


def train(variant: str, params: dict, prepared_dir: str = PREPARED_DIR) -> dict:
    """Train ``variant``, save the model and return its training metrics."""
    train_params, seed = params["train"], params["seed"]
    x_train, y_train = load_split(prepared_dir, "train")
    x_val, y_val = load_split(prepared_dir, "val")
    stats = load_stats(prepared_dir)
    if train_params["batch_size"] > len(x_train):
        raise ParamsError(f"train.batch_size = {train_params['batch_size']} is invalid; it must not exceed "
                          f"the {len(x_train)} training images")

    configure_runtime(seed, train_params["precision"])
    steps_per_epoch = len(x_train) // train_params["batch_size"]
    num_classes = len(stats["classes"])

    with make_strategy(train_params["strategy"]).scope():
        model = build_variant(variant, params["model"], num_classes=num_classes,
                              normalization=([m * 255 for m in stats["mean"]], [s * 255 for s in stats["std"]]))
        compile_model(model, train_params, steps_per_epoch)

    backup_dir = CHECKPOINT_ROOT / variant
    resume_epoch = prepare_backup(backup_dir, run_fingerprint(variant, params, stats))
    aug = train_params["augment"]
    train_ds = make_train_dataset(x_train, y_train, train_params["batch_size"], train_params["epochs"],
                                  start_epoch=resume_epoch, flip=aug["flip"], crop_pad=aug["crop_pad"], seed=seed)
    val_ds = make_dataset(x_val, y_val, params["evaluate"]["batch_size"])
    train_ds, val_ds = (ds.map(lambda x, y: (x, tf.one_hot(y, num_classes))) for ds in (train_ds, val_ds))
    live_dir = Path("plots/train") / variant
    if not resume_epoch:
        shutil.rmtree(live_dir, ignore_errors=True)
    live = Live(dir=str(live_dir), resume=bool(resume_epoch), dvcyaml=False, save_dvc_exp=False, report=None)
    if resume_epoch:
        live.step = resume_epoch
        print(f"train: resuming {variant} from epoch {resume_epoch + 1} (backup in {backup_dir})", file=sys.stderr)

    timer = EpochTimer(live)
    callbacks = [
        StopOnNonFiniteLoss(),
        keras.callbacks.BackupAndRestore(str(backup_dir), save_freq="epoch", delete_checkpoint=True),
        timer,  # before DVCLiveCallback, which ends the dvclive step at the epoch's end
        DVCLiveCallback(live=live),
    ]
    if train_params["early_stopping_patience"]:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=train_params["early_stopping_patience"],
            restore_best_weights=True))

    start = time.perf_counter()
    try:
        history = model.fit(train_ds, validation_data=val_ds, epochs=train_params["epochs"],
                            steps_per_epoch=steps_per_epoch, callbacks=callbacks, shuffle=False,
                            verbose=1 if sys.stdout.isatty() else 2)
    except TrainingError:
        shutil.rmtree(backup_dir, ignore_errors=True)
        raise
    wall = time.perf_counter() - start

    val_acc = history.history.get("val_accuracy", [])
    # Epoch 1 includes graph tracing/compilation; later epochs give the steady-state rate.
    steady = timer.train_seconds[1:] or timer.train_seconds
    img_per_s = steps_per_epoch * train_params["batch_size"] / float(np.median(steady)) if steady else None
    with atomic_path(Path("models") / f"{variant}.keras") as tmp:
        model.save(tmp)
    return {
        "variant": variant,
        "params": int(model.count_params()),
        "mflops_per_image": round(flops_per_image(model) / 1e6, 2),
        "epochs": int(resume_epoch + len(history.history.get("loss", []))),
        "resumed_from_epoch": int(resume_epoch),
        "best_val_accuracy": float(max(val_acc)) if val_acc else None,
        "best_epoch": int(resume_epoch + int(np.argmax(val_acc)) + 1) if val_acc else None,
        "final_val_accuracy": float(val_acc[-1]) if val_acc else None,
        "final_train_accuracy": float(history.history["accuracy"][-1]),
        "train_minutes": round(wall / 60, 3),
        "train_img_per_s": round(img_per_s, 1) if img_per_s else None,
        "precision": train_params["precision"],
        "environment": environment(stats),
    }


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default=PREPARED_DIR)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    metrics = train(args.variant, params, args.prepared)
    write_json(Path("metrics/train") / f"{args.variant}.json", metrics)
    print(f"train: {args.variant} best val accuracy {metrics['best_val_accuracy']:.4f} in "
          f"{metrics['train_minutes']:.1f} min, {metrics['train_img_per_s']} img/s")


if __name__ == "__main__":
    main()
