"""One training run (a variant and a training seed): build, compile, fit with resume and curves, and report.

``train_run`` is the whole run behind ``python -m src.stages.train``: precision and
distribution strategy from the params and the machine, the seeded input stream,
Keras ``BackupAndRestore`` (a killed run resumes from its last completed epoch) and
dvclive curves. In a multi-worker run every worker trains; only the chief logs curves
and (in the stage) writes the model and metrics.
"""
from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from src.core.errors import ParamsError, TrainingError
from src.data.loader import make_dataset, make_train_dataset
from src.data.prepared import load_split, load_stats
from src.models.flops import flops_per_image
from src.models.layer_names import STEM_CONV
from src.models.resnet import build_variant
from src.paths import PREPARED_DIR, Run
from src.training.callbacks import EpochTimer, StopOnNonFiniteLoss
from src.training.cluster import Cluster, cluster_from_env
from src.training.journal import EpochJournal, summary
from src.training.multi_worker import multi_worker_model, prepare_for_fit
from src.training.optim import compile_model
from src.training.resume import PublishedBackup, prepare_backup, run_fingerprint
from src.training.runtime import choose_precision, configure_runtime, environment, make_strategy
from src.training.stem_init import whiten_stem


@dataclass
class TrainingRun:
    """What a run produced: the trained model, its metrics, its dvclive curves (chief only) and its cluster task."""

    model: keras.Model
    metrics: dict
    cluster: Cluster
    curves: Path | None


def train_run(run: Run, params: dict, prepared_dir: str | Path = PREPARED_DIR) -> TrainingRun:
    """Train ``run.variant`` with the ``model``/``train`` params and training seed ``run.seed``.

    The seed sets the initial weights, the order of the training images and their
    augmentation; the split (the top-level ``seed``) is the prepared data's.
    """
    train_params, seed, variant = params["train"], run.seed, run.variant
    multi_worker = train_params["strategy"] == "multi_worker"
    cluster = cluster_from_env(required=True) if multi_worker else Cluster(None, 0, 1)
    strategy = make_strategy(train_params["strategy"])  # first: collective ops need it before other TF work

    x_train, y_train = load_split(prepared_dir, "train")
    x_val, y_val = load_split(prepared_dir, "val")
    stats = load_stats(prepared_dir)
    batch_size = train_params["batch_size"]
    if batch_size > len(x_train):
        raise ParamsError(f"train.batch_size = {batch_size} is invalid; it must not exceed "
                          f"the {len(x_train)} training images")
    if batch_size % strategy.num_replicas_in_sync:
        raise ParamsError(f"train.batch_size = {batch_size} is invalid; it must split evenly over the "
                          f"{strategy.num_replicas_in_sync} replicas of the {train_params['strategy']} strategy")

    precision = choose_precision(train_params["precision"])
    configure_runtime(seed, precision.policy)
    steps_per_epoch = len(x_train) // batch_size
    num_classes = len(stats["classes"])
    with strategy.scope():
        network = build_variant(variant, params["model"], num_classes=num_classes,
                                normalization=([m * 255 for m in stats["mean"]], [s * 255 for s in stats["std"]]))
        if train_params["freeze_stem"]:
            network.get_layer(STEM_CONV).trainable = False
        # One worker needs no workaround (its logs are not reduced over workers).
        model = multi_worker_model(network) if cluster.workers > 1 else network
        compile_model(model, train_params, steps_per_epoch)
        if cluster.workers > 1:
            prepare_for_fit(model)

    backup_dir = run.checkpoints if cluster.is_chief else run.checkpoints.with_name(
        f"{run.checkpoints.name}-{cluster.name}")
    resume_epoch = prepare_backup(backup_dir, run_fingerprint(variant, seed, params, stats, precision.policy))
    if train_params["stem_whitening"] and not resume_epoch:
        whiten_stem(network, x_train)
    aug = train_params["augment"]
    train_ds = make_train_dataset(x_train, y_train, batch_size, train_params["epochs"], start_epoch=resume_epoch,
                                  flip=aug["flip"], crop_pad=aug["crop_pad"], seed=seed, num_classes=num_classes,
                                  alternate_flip=aug["alternate_flip"])
    val_ds = make_dataset(x_val, y_val, params["evaluate"]["batch_size"], num_classes=num_classes)

    timer = EpochTimer()
    journal = EpochJournal(backup_dir, resume_epoch, timer)
    callbacks = [
        StopOnNonFiniteLoss(),
        timer,  # before DVCLiveCallback, which ends the dvclive step at the epoch's end
        journal,  # before the backup: an epoch the backup holds is in the journal
        # Kept until src/stages/train.py has published the outputs (multi-worker: deleted at the end, so that
        # all workers always resume from the same epoch).
        PublishedBackup(backup_dir, keep=not multi_worker),
    ]
    if cluster.is_chief:
        timer.live = _start_live(run.live_curves, resume_epoch)
        callbacks.append(DVCLiveCallback(live=timer.live))
    if resume_epoch:
        print(f"train: resuming {run.name} from epoch {resume_epoch + 1} (backup in {backup_dir})", file=sys.stderr)
    if train_params["early_stopping_patience"]:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_accuracy", mode="max", patience=train_params["early_stopping_patience"],
            restore_best_weights=True))

    start = time.perf_counter()
    try:
        with strategy.scope():
            model.fit(train_ds, validation_data=val_ds, epochs=train_params["epochs"],
                      steps_per_epoch=steps_per_epoch, callbacks=callbacks, shuffle=False,
                      verbose=1 if sys.stdout.isatty() else 2)
    except TrainingError:
        shutil.rmtree(backup_dir, ignore_errors=True)
        raise
    wall = time.perf_counter() - start

    # Every epoch of the run, those before a resume too.
    run_summary = summary(journal.epochs, steps_per_epoch * batch_size, journal.earlier_seconds + wall)
    metrics = {
        "variant": variant,
        "training_seed": seed,
        "params": int(network.count_params()),
        "mflops_per_image": round(flops_per_image(network) / 1e6, 2),
        "epochs": run_summary.pop("epochs"),
        "resumed_from_epoch": int(resume_epoch),
        **run_summary,
        "precision": precision.policy,
        "implementation": params["model"]["implementation"],
        "workers": cluster.workers,
        "environment": environment(f"{stats['source']['kind']}:{stats['source']['format']}", precision),
    }
    return TrainingRun(network, metrics, cluster, run.live_curves if cluster.is_chief else None)


def _start_live(live_dir: Path, resume_epoch: int) -> Live:
    """dvclive curves in ``live_dir``: continued after a resume, started afresh otherwise."""
    if not resume_epoch:
        shutil.rmtree(live_dir, ignore_errors=True)
    live = Live(dir=str(live_dir), resume=bool(resume_epoch), dvcyaml=False, save_dvc_exp=False, report=None)
    if resume_epoch:
        live.step = resume_epoch
    return live
