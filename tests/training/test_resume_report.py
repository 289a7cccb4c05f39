"""A resumed run reports the whole run: killed at every epoch boundary and resumed, it reports as an uninterrupted one.

The kill is an exception at the end of an epoch, just after its backup was saved or just before
(the two sides of the boundary), in process and on tiny data.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from src.paths import Run
from src.training import fit
from src.training.journal import summary
from src.training.resume import PublishedBackup
from tests.conftest import make_prepared, tiny_params

pytestmark = pytest.mark.slow  # tiny trainings killed and resumed at every epoch boundary

EPOCHS = 3
BACKUP = PublishedBackup
REPORTED = ("best_val_accuracy", "best_epoch", "final_val_accuracy", "final_train_accuracy", "epochs")


class Killed(Exception):
    """Stands in for SIGKILL: nothing after it runs, the backup stays."""


def killing_backup(at_epoch: int, after_backup: bool) -> type:
    class KillingBackup(BACKUP):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == at_epoch and not after_backup:
                raise Killed
            super().on_epoch_end(epoch, logs)
            if epoch + 1 == at_epoch:
                raise Killed

    return KillingBackup


@pytest.fixture
def summaries(monkeypatch):
    """What each run's ``summary`` was computed from: (epochs, images per epoch, result)."""
    seen = []

    def recording(epochs, images_per_epoch, wall_seconds):
        seen.append((epochs, images_per_epoch, summary(epochs, images_per_epoch, wall_seconds)))
        return seen[-1][2]

    monkeypatch.setattr(fit, "summary", recording)
    return seen


# (epoch, after its backup?): killed after the backup of epoch 1 (resumes at 1), before that of epoch 2
# (resumes at 1 again: the journal's epoch 2 ran again), after that of epoch 2 (resumes at 2), then finished.
# A kill before the first backup is a fresh start.
KILLS = [(1, True), (2, False), (2, True)]


def test_a_run_killed_at_every_epoch_boundary_reports_as_an_uninterrupted_one(tmp_path, monkeypatch, summaries):
    monkeypatch.chdir(tmp_path)
    make_prepared(tmp_path / "data/prepared")
    params, run = tiny_params(epochs=EPOCHS), Run("se", 0, "smoke")
    straight = fit.train_run(run, params).metrics
    shutil.rmtree(run.checkpoints)  # the stage discards the backup once its outputs are published

    for epoch, after_backup in KILLS:
        monkeypatch.setattr(fit, "PublishedBackup", killing_backup(epoch, after_backup))
        with pytest.raises(Killed):
            fit.train_run(run, params)
    monkeypatch.setattr(fit, "PublishedBackup", BACKUP)
    resumed = fit.train_run(run, params).metrics

    assert resumed["resumed_from_epoch"] == EPOCHS - 1
    for key in REPORTED:
        assert resumed[key] == pytest.approx(straight[key], abs=1e-6), key
    # The speed comes from every epoch's training seconds, those timed before the resume too.
    epochs, images_per_epoch, _ = summaries[-1]
    assert [e["epoch"] for e in epochs] == list(range(1, EPOCHS + 1))
    steady = np.median([e["train_seconds"] for e in epochs[1:]])
    assert resumed["train_img_per_s"] == round(images_per_epoch / steady, 1)
    assert resumed["train_minutes"] * 60 >= sum(e["seconds"] for e in epochs) - 0.1
    # train_run keeps the backup: the stage discards it once the outputs are published (src/stages/train.py).
    assert (tmp_path / "checkpoints/smoke/se/seed0").exists()


def test_the_summary_is_over_every_epoch_and_the_first_best_wins():
    epochs = [{"epoch": 1, "accuracy": 0.3, "val_accuracy": 0.2, "train_seconds": 50.0, "seconds": 60.0},
              {"epoch": 2, "accuracy": 0.4, "val_accuracy": 0.5, "train_seconds": 10.0, "seconds": 12.0},
              {"epoch": 3, "accuracy": 0.5, "val_accuracy": 0.5, "train_seconds": 30.0, "seconds": 33.0},
              {"epoch": 4, "accuracy": 0.6, "val_accuracy": 0.4, "train_seconds": 20.0, "seconds": 22.0}]
    reported = summary(epochs, images_per_epoch=1000, wall_seconds=130)
    assert reported == {"epochs": 4, "best_val_accuracy": 0.5, "best_epoch": 2, "final_val_accuracy": 0.4,
                        "final_train_accuracy": 0.6, "train_minutes": round(130 / 60, 3),
                        "train_img_per_s": 1000 / 20.0}
