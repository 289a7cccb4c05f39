"""Benchmark scripts: they run on a profile and print complete, self-consistent tables.

Only behaviour is checked here (rows, columns, the arithmetic between them); the
speeds themselves belong to the benchmark runs, never to a test.
"""
from __future__ import annotations

import math

import pytest
import yaml

from benchmarks import attention, gradcam, heatmap_cost, peak, throughput
from src.config.params import train_size
from src.core.errors import ParamsError
from src.config.profile import build_profile
from tests.conftest import ROOT, make_prepared, run_stage, with_study


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
        n_params, rate, minutes, fitting = int(cells[0].replace(",", "")), float(cells[2]), float(cells[9]), int(cells[10])
        assert n_params > 0 and rate > 0, variant
        # Both implementations hold the same network.
        assert cells[0] == rows[variant, "reference"][0]
        assert minutes == pytest.approx(2 * images_per_epoch / rate / 60, abs=0.06), variant
        # The table rounds the rate; the epoch count is floored from the unrounded one.
        assert abs(fitting - math.floor(7 * 60 * rate / images_per_epoch)) <= 1, variant
        # A training step's FLOPs: 3x the forward pass's, per image.
        assert float(cells[3]) == pytest.approx(3 * float(cells[1]) * rate / 1000, rel=0.05, abs=0.15), variant
        assert 0 < float(cells[4]) < 100, variant
        versus_reference = float(cells[8].rstrip("x"))
        assert versus_reference == pytest.approx(rate / float(rows[variant, "reference"][2]), rel=0.05, abs=0.01)
    assert rows["original", "fast"][6:8] == ["1.00x", "1.00x"] and rows["se", "reference"][8] == "1.00x"
    assert "GFLOP/s per core nominal" in output


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
    with_study(params, variants=["cbam"])
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


@pytest.mark.slow  # scores every map of a model twice and one map once
def test_heatmap_cost_prices_a_run_as_its_share_of_the_study_plus_its_chosen_map(tmp_path, capsys):
    params = build_profile("smoke")
    with_study(params, variants=["se"])
    params["gradcam"].update(methods=["gradcam", "layercam"], layers=["stage1", "stage2", "fused"],
                             faithfulness_per_class=2, selection_per_class=1, sanity_per_class=1, batch_size=8)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    heatmap_cost.main(["--params", str(path), "--study-sizes", "1", "4"])
    output = capsys.readouterr().out
    assert "2 methods x 3 layers, 20 test / 10 validation images" in output
    row = _table(output)["se"]
    assert row[0].startswith("untrained (") and row[0].removeprefix("untrained (").rstrip(")") in {
        f"{layer}/{method}" for layer in ("stage1", "stage2", "fused") for method in ("gradcam", "layercam")}
    every, study, chosen = (float(cell) for cell in row[1:4])
    assert min(every, study, chosen) > 0
    for seeds, cell in zip((1, 4), row[4:6]):
        share, seconds = cell.split(" (")
        # Each printed figure is rounded to 0.1 s, so the sum recomputed from them may be 0.1 s off.
        assert float(seconds.removesuffix(" s)")) == pytest.approx((study + seeds * chosen) / seeds, abs=0.11)
        assert float(share) == pytest.approx((study + seeds * chosen) / seeds / every, rel=0.05, abs=0.002)


@pytest.mark.parametrize("vendor, family, flags, policy, unit, per_cycle", [
    ("GenuineIntel", "6", {"avx512f", "avx512_bf16", "amx_bf16", "fma"}, "mixed_bfloat16", "AMX-BF16", 1024),
    ("GenuineIntel", "6", {"avx512f", "avx512_bf16", "fma"}, "mixed_bfloat16", "AVX512-BF16", 128),
    ("GenuineIntel", "6", {"avx512f", "avx512_bf16", "fma"}, "float32", "AVX-512 FMA float32", 64),
    ("AuthenticAMD", "25", {"avx512f", "avx512_bf16", "fma"}, "mixed_bfloat16", "AVX512-BF16", 64),  # Zen 4
    ("AuthenticAMD", "25", {"fma", "avx2"}, "float32", "AVX2 FMA float32", 32),  # Zen 3
    ("AuthenticAMD", "25", {"fma", "avx2"}, "mixed_bfloat16", "AVX2 FMA float32", 32),  # emulated bfloat16
    ("AuthenticAMD", "26", {"avx512f", "avx512_bf16", "fma"}, "mixed_bfloat16", "AVX512-BF16", 128),  # Zen 5
])
def test_core_peak_follows_the_widest_unit_the_precision_can_use(tmp_path, vendor, family, flags, policy, unit,
                                                                  per_cycle):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"vendor_id\t: {vendor}\ncpu family\t: {family}\ncpu MHz\t\t: 2500.000\n"
                       f"flags\t\t: {' '.join(sorted(flags))}\n")
    found = peak.core_peak(policy, cpuinfo)
    assert (found.unit, found.flops_per_cycle) == (unit, per_cycle)
    assert found.flops_per_second == pytest.approx(per_cycle * 2.5e9)


@pytest.mark.slow  # two tiny trainings
def test_time_to_accuracy_trains_each_budget_once_and_draws_the_curve(tmp_path, monkeypatch, capsys):
    from benchmarks import recipe_search, time_to_accuracy

    prepared, results, plot = make_prepared(tmp_path / "prepared"), tmp_path / "runs.jsonl", tmp_path / "curve.png"
    monkeypatch.chdir(ROOT)  # the profiles, as a user runs it from the project root
    common = ["--name", "tiny", "--profile", "smoke", "--results", str(results), "--plot", str(plot),
              "-S", "model.width=4", "-S", "train.batch_size=50"]
    monkeypatch.setattr(recipe_search, "PREPARED_DIR", prepared)
    time_to_accuracy.main(common + ["--epochs", "1", "2"])
    rows = recipe_search.finished_runs(results)
    assert [(r["name"], r["epochs"], r["settings"]["train"]["epochs"]) for r in rows] == [("tiny", 1, 1), ("tiny", 2, 2)]
    assert all(0 <= r["val_accuracy_tta"] <= 1 and r["train_minutes"] > 0 for r in rows)
    assert plot.stat().st_size > 0
    capsys.readouterr()
    time_to_accuracy.main(common + ["--epochs", "1", "2"])  # both budgets are in the results: nothing retrains
    assert len(recipe_search.finished_runs(results)) == 2
    assert "already in" in capsys.readouterr().out


def test_the_curve_joins_runs_that_differ_in_epochs_only_whatever_their_names():
    from benchmarks.time_to_accuracy import curve_table

    def row(name: str, epochs: int, seed: int, accuracy: float, smoothing: float = 0.2) -> dict:
        return {"name": name, "variant": "original", "seed": seed, "cpu": "CPU", "cores": 1, "epochs": epochs,
                "train_minutes": 3.0 * epochs, "train_img_per_s": 250.0, "val_accuracy_tta": accuracy,
                "settings": {"model": {"width": 32}, "train": {"epochs": epochs, "label_smoothing": smoothing}}}

    rows = [row("levers", 3, 0, 0.70), row("levers-e5", 5, 0, 0.75), row("levers-e5", 5, 1, 0.77),
            row("levers-e5-no-ls", 5, 0, 0.74, smoothing=0.1)]
    table = curve_table(rows, ["levers", "levers-e5", "levers-e5-no-ls"])
    assert table[["name", "epochs", "seeds"]].values.tolist() == [["levers", 3, 1], ["levers", 5, 2],
                                                                 ["levers-e5-no-ls", 5, 1]]
    assert table["val_accuracy"].tolist() == pytest.approx([0.70, 0.76, 0.74])
    assert table["val_min"].tolist()[1] == 0.75 and table["val_max"].tolist()[1] == 0.77
    with pytest.raises(ParamsError, match="no runs named other"):
        curve_table(rows, ["other"])


def test_the_ablation_table_pairs_runs_by_seed_and_names_what_each_leaves_out():
    from benchmarks.ablation import ablation_table, markdown

    def row(name: str, seed: int, accuracy: float, overrides: list[str], smoothing: float) -> dict:
        return {"name": name, "seed": seed, "cpu": "CPU", "val_accuracy_tta": accuracy, "overrides": overrides,
                "settings": {"train": {"label_smoothing": smoothing, "epochs": 5}}}

    full = ["train.epochs=5", "train.label_smoothing=0.2"]
    rows = [row("full", 0, 0.760, full, 0.2), row("full", 1, 0.764, full, 0.2), row("full", 2, 0.800, full, 0.2),
            row("no-ls", 0, 0.750, full[:1], 0.1), row("no-ls", 1, 0.750, full[:1], 0.1),
            row("lr", 0, 0.761, full + ["train.lr=0.6"], 0.2), row("lr", 1, 0.767, full + ["train.lr=0.6"], 0.2)]
    table = ablation_table(rows, "full", ["no-ls", "lr"])
    no_ls, lr = table.to_dict("records")
    # Seed 2 has no ablation run: only seeds 0 and 1 are compared, paired.
    assert no_ls["seeds"] == 2 and no_ls["full recipe"] == pytest.approx(0.762)
    assert no_ls["difference"] == pytest.approx(-0.012) and no_ls["ci_low"] < -0.012 < no_ls["ci_high"]
    assert no_ls["leaves out"] == "train.label_smoothing=0.2" and no_ls["instead"] == "train.label_smoothing=0.1"
    assert lr["leaves out"] == "(nothing)" and lr["instead"] == "train.lr=0.6"
    # Differences of -0.010 and -0.014: t = -6 on 1 df; Holm doubles the smaller p of the two.
    assert no_ls["p"] == pytest.approx(0.1051, abs=2e-4)
    assert no_ls["p_holm"] == pytest.approx(min(1.0, 2 * min(no_ls["p"], lr["p"])))
    text = markdown(table)
    assert "-1.20 [" in text and "train.label_smoothing=0.1" in text
    with pytest.raises(ParamsError, match="no runs named 'none'"):
        ablation_table(rows, "full", ["none"])
    again = row("no-ls", 0, 0.7, full[:1], 0.1) | {"cpu": "Other CPU"}
    with pytest.raises(ParamsError, match=r"'no-ls' has several runs of one training seed \(on CPU, Other CPU\)"):
        ablation_table(rows + [again], "full", ["no-ls"])
    assert ablation_table(rows + [again], "full", ["no-ls"], cpu="CPU")["seeds"].tolist() == [2]


def test_recipe_search_names_a_bad_override(tmp_path):
    from benchmarks import recipe_search

    code, err = run_stage(recipe_search.main, ["--name", "x", "--profile", "smoke", "-S", "train.epochs=0",
                                               "--results", str(tmp_path / "r.jsonl")])
    assert code == 2 and "train.epochs" in err and not (tmp_path / "r.jsonl").exists()
    code, err = run_stage(recipe_search.main, ["--name", "x", "--profile", "smoke", "-S", "epochs"])
    assert code == 2 and "'epochs'" in err


@pytest.mark.parametrize("op_type, name, category", [
    ("_MklNativeConv2DBackpropFilter",
     "gradient_tape/resnet_cbam_1/stage1_block1_cbam_1/spatial_conv_1/convolution/Conv2DBackpropFilter",
     "attention (SE/CBAM gates)"),
    ("Mean", "resnet_se/stage2_block1_se/squeeze/Mean", "attention (SE/CBAM gates)"),
    ("_MklNativeConv2D", "resnet_cbam_1/stage4_block1_2_conv_1/convolution", "convolution forward"),
    ("_MklNativeConv2DBackpropInput", "gradient_tape/resnet_cbam_1/stage2_block1_1_conv_1/convolution/x",
     "convolution backward"),
    ("Mul", "gradient_tape/resnet_cbam_1/stage1_block1_proj_bn_1/batchnorm/mul_1/Mul_1", "batch norm"),
    ("FusedBatchNormGradV3", "gradient_tape/resnet_original/stem_bn/FusedBatchNormGradV3", "batch norm"),
    ("ResourceApplyKerasMomentum", "SGD/update_3/ResourceApplyKerasMomentum", "optimizer update"),
    ("Relu", "resnet_original/stage1_block1_out/Relu", "elementwise (ReLU, add, casts)"),
])
def test_step_breakdown_sorts_ops_by_what_they_compute(op_type, name, category):
    from benchmarks.step_breakdown import categorise

    assert categorise(op_type, name) == category
