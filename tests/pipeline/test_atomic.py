"""Atomic outputs: all-or-nothing publication, files named in failures, leftovers of killed stages removed."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from src.core.atomic import atomic_path, ensure_writable, publish_all, remove_stale_scratch, save_npz, staging_dir


def test_a_failed_publication_puts_every_old_output_back(tmp_path, monkeypatch):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots/old.png").write_text("old plot")
    (tmp_path / "report.md").write_text("old report")
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 4:  # plots aside, plots in, report aside, report in: the last one fails
            raise OSError(errno.EACCES, "Permission denied", str(src), None, str(dst))
        real_replace(src, dst)

    with staging_dir(tmp_path) as out:
        (out / "plots").mkdir()
        (out / "plots/new.png").write_text("new plot")
        (out / "report.md").write_text("new report")
        monkeypatch.setattr(os, "replace", replace)
        with pytest.raises(OSError):
            publish_all([(out / "plots", tmp_path / "plots"), (out / "report.md", tmp_path / "report.md")])
        monkeypatch.setattr(os, "replace", real_replace)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots", "report.md"]
    assert os.listdir(tmp_path / "plots") == ["old.png"] and (tmp_path / "report.md").read_text() == "old report"


def test_a_write_that_names_no_file_is_given_the_output_it_was_for(tmp_path):
    with pytest.raises(OSError) as failure, atomic_path(tmp_path / "metrics.json") as tmp:
        raise OSError(errno.ENOSPC, "No space left on device")  # as a full disk fails at write() or close()
    assert failure.value.filename == str(tmp_path / "metrics.json")
    with pytest.raises(OSError) as failure, atomic_path(tmp_path / "raw", is_dir=True) as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "cifar.tar.gz"))
    assert failure.value.filename == str(tmp_path / "raw" / "cifar.tar.gz")
    assert os.listdir(tmp_path) == []


def test_a_killed_stage_leaves_folders_that_the_next_write_removes(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".staging.tmp{dead.stdout.strip()}.abc123"
    (stale / "model.keras").parent.mkdir()
    (stale / "model.keras").write_text("half a model")
    alive = tmp_path / f".raw.tmp{os.getppid()}.xyz"  # a stage still running beside this one
    alive.mkdir()
    with staging_dir(tmp_path) as mine:
        assert not stale.exists() and alive.is_dir() and mine.is_dir()
    assert remove_stale_scratch(tmp_path) == [] and alive.is_dir()


def test_an_unwritable_output_folder_is_found_before_the_work_and_nothing_is_created(tmp_path):
    (tmp_path / "metrics").write_text("a file where a folder should be")
    ensure_writable(tmp_path / "models/smoke/se")
    assert sorted(os.listdir(tmp_path)) == ["metrics"]
    with pytest.raises(NotADirectoryError) as failure:
        ensure_writable(tmp_path / "metrics/train/smoke/se")
    assert failure.value.filename == str(tmp_path / "metrics")


def test_the_same_arrays_give_the_same_archive_bytes(tmp_path):
    arrays = {"x": np.arange(12, dtype=np.uint8).reshape(3, 4), "y": np.array([1.5, 2.5])}
    save_npz(tmp_path / "a.npz", **arrays)
    time.sleep(2.1)  # zip times have a resolution of two seconds
    save_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz") as loaded:
        assert {k: v.tolist() for k, v in loaded.items()} == {k: v.tolist() for k, v in arrays.items()}


def test_training_stops_before_it_starts_when_the_disk_has_no_room(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from src.core.errors import os_error_message
    from src.training.resume import check_room

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 300_000, 300_000))
    check_room({tmp_path / "checkpoints/smoke/se/seed0": 100_000, tmp_path / "metrics": 100_000})
    with pytest.raises(OSError) as failure:
        check_room({tmp_path / "checkpoints/smoke/se/seed0": 200_000, tmp_path / "metrics": 200_000})
    assert os_error_message(failure.value).startswith(
        f"{tmp_path / 'checkpoints/smoke/se/seed0'}: 0.3 MB free, training needs about 0.4 MB for its backups and model "
        "(the disk is full")
    assert os.listdir(tmp_path) == []  # nothing created


def test_a_run_resumed_after_a_failed_save_does_not_log_its_last_epoch_twice(tmp_path):
    from src.training.resume import trim_curves

    (tmp_path / "backup").mkdir()
    (tmp_path / "backup/training_metadata.json").write_text('{"epoch": 1}')
    curve = tmp_path / "curves/plots/metrics/eval/loss.tsv"
    curve.parent.mkdir(parents=True)
    curve.write_text("step\tloss\n0\t2.0\n1\t1.8\n")
    trim_curves(tmp_path / "backup", tmp_path / "curves")
    assert curve.read_text() == "step\tloss\n0\t2.0\n"
