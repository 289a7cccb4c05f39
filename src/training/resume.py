"""Resuming a killed training run: a backup is used only if it was made with the same params and data,
and it is written so that neither a full disk nor a failed save can cost the finished training."""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import sys
from pathlib import Path

import keras
from keras.src.saving import saving_lib

from src.core.atomic import atomic_path, nearest_existing
from src.paths import TRAIN_METRICS_DIR

# How long a multi-worker run waits for its cluster: no bearing on a run's numbers. (The study's
# variants, regimes and seeds are not in ``train``: a run receives its own regime's settings there.)
NOT_IN_A_RUN = ("cluster_timeout_seconds",)

# train.py stages the model here before publishing it, so the disk check counts the model here too.
OUTPUT_STAGING = TRAIN_METRICS_DIR.parent
# Variables are float32 under every precision policy; the backup holds the weights plus at most
# two optimizer slots per weight (Adam), and a new backup is written before the old one goes.
BYTES_PER_PARAM = 4
BACKUP_COPIES_PER_PARAM = 2 * 3
DISK_MARGIN = 1 << 20


def run_fingerprint(variant: str, training_seed: int, params: dict, stats: dict, precision: str) -> str:
    """Hash of everything that makes a backup resumable; any change discards the backup.

    Only this run's settings count: adding a seed or tuning another variant's attention
    leaves the backup usable. ``precision`` is the resolved dtype policy, not the param:
    with ``train.precision: auto`` a run killed on a float32 machine must not finish in
    bfloat16 on another.
    """
    model = {k: v for k, v in params["model"].items() if k != "attention"}
    relevant = {"variant": variant, "training_seed": training_seed, "seed": params["seed"],
                "model": {**model, "attention": params["model"]["attention"][variant]},
                "train": {k: v for k, v in params["train"].items() if k not in NOT_IN_A_RUN},
                "data": stats, "precision": precision}
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def prepare_backup(backup_dir: Path, fingerprint: str) -> int:
    """Return the epoch a valid backup resumes from (0 = fresh start); drop stale or inconsistent backups."""
    stamp = backup_dir / "fingerprint.txt"
    meta = backup_dir / "training_metadata.json"
    if meta.is_file() and (not stamp.is_file() or stamp.read_text() != fingerprint):
        print(f"train: discarding backup {backup_dir}: it was made with other params or data", file=sys.stderr)
        shutil.rmtree(backup_dir)
    elif meta.is_file() and json.loads(meta.read_text()).get("weights_sha256") != _sha256(
            backup_dir / "latest.weights.h5"):
        # Killed between the two renames of a backup: its weights are not those of its epoch.
        print(f"train: discarding backup {backup_dir}: its weights and epoch do not match", file=sys.stderr)
        shutil.rmtree(backup_dir)
    elif backup_dir.exists() and not meta.is_file():
        shutil.rmtree(backup_dir)  # killed before the first epoch ended: nothing to resume
    if meta.is_file():
        return int(json.loads(meta.read_text()).get("epoch", 0))  # epochs completed
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    return 0


def discard_backup(backup_dir: Path) -> None:
    """Remove a run's backup once its outputs are published: it is no longer needed to recover them."""
    shutil.rmtree(backup_dir, ignore_errors=True)


def check_room(folders: dict[Path, int]) -> None:
    """Raise ENOSPC naming the first folder whose filesystem has less free space than it is to receive."""
    need_per_device: dict[int, int] = {}
    for folder, size in folders.items():
        device = nearest_existing(folder).stat().st_dev
        need_per_device[device] = need_per_device.get(device, 0) + size
    for folder in folders:
        existing = nearest_existing(folder)
        free, need = shutil.disk_usage(existing).free, need_per_device[existing.stat().st_dev]
        if free < need:
            raise OSError(28, f"{free / 1e6:.1f} MB free, training needs about {need / 1e6:.1f} MB "
                              "for its backups and model", str(folder))


class PublishedBackup(keras.callbacks.BackupAndRestore):
    """Keras' ``BackupAndRestore``, made safe for a full disk, a kill and a failed save.

    - Before the first epoch, the disk must have room for the backups and the model
      (from the parameter count): a full disk is found before the training, not after it.
    - Each backup is serialised in memory and written by Python to temporary files renamed
      into place (``src.core.atomic``): a failed write leaves the previous backup whole and
      is one OSError naming the file, where h5py writing to disk printed pages of errors
      and crashed the interpreter (exit 139). The metadata records the weights' hash, so a
      kill between the two renames is detected (``prepare_backup``).
    - The last epoch is not backed up and, with ``keep``, nothing is deleted when training
      ends: the stage deletes the backup once its outputs are published (src/stages/train.py), so
      a failed save costs the re-run one epoch instead of the whole training. (Resuming
      from the last epoch would train nothing and report nothing.)
    """

    def __init__(self, backup_dir: Path, keep: bool = True, output_dir: Path = OUTPUT_STAGING):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=not keep)
        self.output_dir = Path(output_dir)

    def on_train_begin(self, logs=None):
        weights = self.model.count_params() * BYTES_PER_PARAM
        check_room({Path(self.backup_dir): BACKUP_COPIES_PER_PARAM * weights + DISK_MARGIN,
                    self.output_dir: weights + DISK_MARGIN})
        super().on_train_begin(logs)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 < self.params["epochs"]:
            super().on_epoch_end(epoch, logs)

    def _save_model(self):
        buffer = io.BytesIO()
        store = saving_lib.H5IOStore(buffer, mode="w")
        saving_lib._save_state(self.model, weights_store=store, assets_store=None, inner_path="",
                               visited_saveables=set())
        store.close()
        weights = buffer.getvalue()
        metadata = {"epoch": self._current_epoch, "batch": self._last_batch_seen,
                    "weights_sha256": hashlib.sha256(weights).hexdigest()}
        # Both files are written in full before either is renamed (a full disk leaves the old pair), the
        # weights first: the metadata names an epoch only once its weights are in place.
        with atomic_path(self._training_metadata_path) as meta_tmp, atomic_path(self._weights_path) as weights_tmp:
            meta_tmp.write_text(json.dumps(metadata))
            weights_tmp.write_bytes(weights)



def trim_curves(backup_dir: Path, curves_dir: Path) -> None:
    """Drop the curve rows of epochs after the backup's: a run whose save failed resumes from the epoch
    before its last, whose rows dvclive had already written (it would append them a second time)."""
    meta = backup_dir / "training_metadata.json"
    if not meta.is_file() or not curves_dir.is_dir():
        return
    epoch = int(json.loads(meta.read_text()).get("epoch", 0))
    for tsv in curves_dir.rglob("*.tsv"):
        header, *rows = tsv.read_text().splitlines(keepends=True)
        kept = [row for row in rows if int(row.split("\t", 1)[0]) < epoch]
        if len(kept) < len(rows):
            with atomic_path(tsv) as tmp:
                tmp.write_text(header + "".join(kept))
