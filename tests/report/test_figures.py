"""The compare stage's plot data: one table per view, every variant in it, as dvc.yaml's plots read them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from src.report.figures import confusion_counts, confusion_table, per_class_table
from tests.report.test_tables import fake_study


def test_confusion_counts_list_every_pair_of_classes_actual_major():
    counts = confusion_counts(np.array(["cat", "cat", "dog"]), np.array(["cat", "dog", "dog"]), ["cat", "dog", "emu"])
    assert list(counts.itertuples(index=False, name=None)) == [
        ("cat", "cat", 1), ("cat", "dog", 1), ("cat", "emu", 0),
        ("dog", "cat", 0), ("dog", "dog", 1), ("dog", "emu", 0),
        ("emu", "cat", 0), ("emu", "dog", 0), ("emu", "emu", 0)]


def test_one_confusion_table_pools_each_variants_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.5, 0.75], "cbam": [0.25, 0.5]}, images=40)
    table = confusion_table(study)
    assert list(table.columns) == ["variant", "actual", "predicted", "count"]
    assert list(dict.fromkeys(table["variant"])) == ["Original", "CBAM"]  # the study's order, by title
    totals = table.groupby("variant", sort=False)["count"].sum()
    assert totals.to_dict() == {"Original": 80, "CBAM": 80}  # 40 test images x 2 seeds each
    right = table[table["actual"] == table["predicted"]].groupby("variant", sort=False)["count"].sum()
    assert right.to_dict() == {"Original": 20 + 30, "CBAM": 10 + 20}
    assert len(table) == 2 * 10 * 10  # every pair, zeros included


def test_per_class_table_averages_over_seeds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = fake_study(tmp_path, {"original": [0.5, 0.75], "se": [0.25, 0.5]}, images=40)
    table = per_class_table(study)
    assert list(table.columns) == ["variant", "class", "accuracy"]
    pd.testing.assert_series_equal(table.groupby("variant", sort=False).size(),
                                   pd.Series({"Original": 10, "SE": 10}), check_names=False, check_index_type=False)
    assert (table["accuracy"] == 0.5).all()  # the fake runs' per-class accuracy
