"""Benchmark scripts: they run on a profile and print complete, self-consistent tables.

Only behaviour is checked here (rows, columns, the arithmetic between them); the
speeds themselves belong to the benchmark runs, never to a test.
"""
from __future__ import annotations

import math

import pytest
import yaml

from benchmarks import attention, gradcam, throughput
from pipeline.params import train_size
from pipeline.profile import build_profile


def _table(output: str) -> dict[str, list[str]]:
    """Rows of the markdown table in ``output``, keyed by their first cell (header and rule skipped)."""
    rows = [line.strip("|").split("|") for line in output.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


@pytest.mark.slow  # builds and times a training step of every variant on both implementations
def test_throughput_table_projects_training_minutes_and_compares_implementations(capsys):
    throughput.main(["--profile", "smoke", "--rounds", "1", "--steps", "1", "--budget-minutes", "7",
                     "--implementations", "reference", "fast"])
    output = capsys.readouterr().out
    assert "| train vs reference | train min (2 epochs) | epochs in 7 min |" in output
    rows = [line.strip("|").split("|") for line in output.splitlines() if line.startswith("| ")][1:]
    rows = {(cells[0].strip(), cells[1].strip()): [c.strip() for c in cells[2:]] for cells in rows}
    assert list(rows) == [(v, i) for i in ("reference", "fast") for v in ("original", "se", "cbam")]
    params = build_profile("smoke")
    images_per_epoch = train_size(params) // params["train"]["batch_size"] * params["train"]["batch_size"]
    for (variant, implementation), cells in rows.items():
        n_params, rate, minutes, fitting = int(cells[0].replace(",", "")), float(cells[2]), float(cells[7]), int(cells[8])
        assert n_params > 0 and rate > 0, variant
        # Both implementations hold the same network.
        assert cells[0] == rows[variant, "reference"][0]
        assert minutes == pytest.approx(2 * images_per_epoch / rate / 60, abs=0.06), variant
        # The table rounds the rate; the epoch count is floored from the unrounded one.
        assert abs(fitting - math.floor(7 * 60 * rate / images_per_epoch)) <= 1, variant
        versus_reference = float(cells[6].rstrip("x"))
        assert versus_reference == pytest.approx(rate / float(rows[variant, "reference"][2]), rel=0.05, abs=0.01)
    assert rows["original", "fast"][4:6] == ["1.00x", "1.00x"] and rows["se", "reference"][6] == "1.00x"


@pytest.mark.parametrize("script, argv, named", [
    (throughput, ["--batch-size", "0"], "train.batch_size"),
    (throughput, ["--rounds", "0"], "--rounds"),
    (throughput, ["--budget-minutes", "-5"], "--budget-minutes"),
    (attention, ["--repeats", "x"], "--repeats"),
])
def test_bad_settings_fail_with_one_message_naming_them(script, argv, named, capsys):
    with pytest.raises(SystemExit) as exc:
        script.main(["--profile", "smoke", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err


@pytest.mark.slow  # times every attention layer of the smoke network on both implementations
def test_attention_benchmark_times_every_attention_layer(capsys):
    attention.main(["--profile", "smoke", "--repeats", "1", "--rounds", "1"])
    rows = _table(capsys.readouterr().out)
    blocks = sum(build_profile("smoke")["model"]["blocks"])
    assert sum(name.startswith("se/") for name in rows) == blocks
    assert sum(name.startswith("cbam/") for name in rows) == blocks
    assert "all" in rows
    for name, cells in rows.items():
        reference_ms, fast_ms = float(cells[1]), float(cells[2])
        assert reference_ms > 0 and fast_ms > 0, name
        assert float(cells[3].rstrip("x")) == pytest.approx(reference_ms / fast_ms, rel=0.05, abs=0.01), name


@pytest.mark.slow  # builds and times the CAMs of a model on both paths
def test_cam_benchmark_times_each_stage_and_all_stages_on_both_paths(tmp_path, capsys):
    params = build_profile("smoke")
    params["train"]["variants"] = ["cbam"]
    params["gradcam"].update(methods=["gradcam", "layercam"], layers=["stage1", "stage2", "fused"])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    gradcam.main(["--params", str(path), "--images", "6", "--batch-size", "4",
                  "--implementations", "reference", "fast"])
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ")][1:]
    assert [tuple(row[i] for i in (0, 2, 3)) for row in rows] == [
        ("cbam", i, layer) for i in ("reference", "fast") for layer in ("stage1", "stage2", "fused")]
    for row in rows:
        gradcam_rate, layercam_rate = float(row[4]), float(row[5])
        assert gradcam_rate > 0 and layercam_rate > 0, row
        assert row[6].endswith("x") and float(row[6].rstrip("x")) > 0, row
        if row[2] == "reference":
            assert row[6] == "1.00x"
