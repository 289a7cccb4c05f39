"""Resuming a killed training run: a backup is used only if it was made with the same params and data."""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

# Other runs, and how long a multi-worker run waits for its cluster: no bearing on a run's numbers.
NOT_IN_A_RUN = ("variants", "seeds", "cluster_timeout_seconds")


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
