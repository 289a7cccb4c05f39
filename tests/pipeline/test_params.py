"""params.yaml validation: every kind of bad value is named with its key, value and what is allowed."""
from __future__ import annotations

import copy
import os
import subprocess
import sys

import pytest
import yaml

from src.core.errors import ParamsError
from src.config.params import PROFILES, expand_runs, load_params, regime_params, run_params, train_size, validate
from src.config.profile import build_profile, deep_merge, write_profile
from tests.conftest import ROOT, run_stage


@pytest.fixture
def good() -> dict:
    return build_profile("smoke")


def set_key(params: dict, dotted: str, value) -> dict:
    params = copy.deepcopy(params)
    *path, last = dotted.split(".")
    node = params
    for part in path:
        node = node[part]
    node[last] = value
    return params


@pytest.mark.parametrize("name", PROFILES)
def test_every_profile_is_valid(name):
    params = build_profile(name)
    assert params["profile"] == name


@pytest.mark.parametrize("key, value, expected", [
    ("train.lr", 0, r"train.lr = 0 is invalid; it must be a finite number > 0"),
    ("train.lr", -0.1, r"train.lr = -0.1 is invalid"),
    ("train.epochs", 0, r"train.epochs = 0 is invalid; it must be an integer >= 1"),
    ("train.epochs", 2.5, r"train.epochs = 2.5 is invalid; it must be an integer"),
    ("train.batch_size", "64", r"train.batch_size = '64' is invalid; it must be an integer"),
    ("data.val_fraction", 1.0, r"data.val_fraction = 1.0 is invalid; it must be a finite number > 0 and < 1"),
    ("data.val_fraction", 0, r"data.val_fraction = 0 is invalid"),
    ("study.variants", ["original", "resnext"], r"study.variants = \['original', 'resnext'\] is invalid; "
                                                 r"it must be a non-empty list without repeats, drawn from: original"),
    ("gradcam.methods", ["ablationcam"], r"gradcam.methods = \['ablationcam'\] is invalid; .*gradcam\+\+, layercam"),
    ("gradcam.layers", ["stage9"], r"gradcam.layers = \['stage9'\] is invalid; .*stage8, fused"),
    ("profile", "huge", r"profile = 'huge' is invalid; it must be one of: smoke, cpu, short, long, study, full, seed"),
    ("model.width", 0, r"model.width = 0 is invalid; it must be an integer >= 1"),
    ("model.blocks", [3, 0, 6, 3], r"model.blocks = \[3, 0, 6, 3\] is invalid"),
    ("model.blocks", [], r"model.blocks = \[\] is invalid"),
    ("model.attention.cbam.kernel_size", 4,
     r"model.attention.cbam.kernel_size = 4 is invalid; it must be a positive odd integer"),
    ("model.attention.se.reduction", 0, r"model.attention.se.reduction = 0 is invalid; it must be an integer >= 1"),
    ("model.attention.original", {"reduction": 4}, r"model.attention.original = .* is invalid; it must be \{\}"),
    ("model.implementation", "turbo", r"model.implementation = 'turbo' is invalid; it must be one of: reference, fast"),
    ("model.stem", "imagenet", r"model.stem = 'imagenet' is invalid; it must be one of: cifar, seed"),
    ("model.stride_conv", "7x7", r"model.stride_conv = '7x7' is invalid; it must be one of: 3x3, 1x1"),
    ("train.optimizer", "rmsprop", r"train.optimizer = 'rmsprop' is invalid"),
    ("train.precision", "float16", r"train.precision = 'float16' is invalid; it must be one of: auto, float32"),
    ("train.augment.flip", "yes", r"train.augment.flip = 'yes' is invalid; it must be true or false"),
    ("train.momentum", 1.0, r"train.momentum = 1.0 is invalid"),
    ("train.label_smoothing", float("nan"), r"train.label_smoothing = nan is invalid"),
    ("data.test_per_class", 1001, r"data.test_per_class = 1001 is invalid; it must be an integer >= 0 and <= 1000"),
    ("data.train_per_class", 4600, r"data.train_per_class = 4600 is invalid; the training split has 4500"),
    ("model.strides", [1, 2], r"model.strides = \[1, 2\] is invalid; it must have one entry per stage"),
    ("data.sources", [{"kind": "ftp", "path": "x"}], r"data.sources = .* is invalid; it must be a non-empty list"),
    ("data.sources", [{"kind": "official", "url": "u", "md5": "short"}], r"data.sources = .* is invalid"),
    ("seed", True, r"seed = True is invalid; it must be an integer >= 0"),
    ("seed", 2**32, r"seed = 4294967296 is invalid; it must be an integer >= 0 and <= 4294967295"),
    ("train.epochs", 1000000, r"train.epochs = 1000000 is invalid; it must be an integer >= 1 and <= 1000"),
    ("model.width", 1000000, r"model.width = 1000000 is invalid; it must be an integer >= 1 and <= 1024"),
    ("gradcam.per_class", 1000, r"gradcam.per_class = 1000 is invalid; it must be an integer >= 1 and <= 10"),
    ("train.lr", "1e-3", r"train.lr = '1e-3' is invalid; it must be a finite number > 0 and <= 10 \(YAML read it "
                         r"as the text '1e-3', not a number; write it .* e.g. 0.001\)"),
    ("train.batch_size", 601, r"train.batch_size = 601 is invalid; it must not exceed the 600 training images"),
    ("train.warmup_epochs", 3, r"train.warmup_epochs = 3 is invalid; it must not exceed train.epochs = 2"),
    ("gradcam.faithfulness_per_class", 31, r"gradcam.faithfulness_per_class = 31 is invalid; the test split has 30"),
    ("gradcam.user_images", "no/such/folder", r"gradcam.user_images = 'no/such/folder' is invalid; it must be a dir"),
    ("study.variants", [{"a": 1}], r"study.variants = \[\{'a': 1\}\] is invalid"),
    ("gradcam.layers", ["stage1", "stage5"], r"the network has 4 stages \(model.blocks\), so stage5 does not"),
    ("gradcam.layers", ["stage2", "fused"], r"'fused' combines the listed stages, so it needs at least two"),
    ("gradcam.sanity_per_class", 4, r"gradcam.sanity_per_class = 4 is invalid; it must not exceed "
                                    r"gradcam.selection_per_class = 3"),
    ("gradcam.selection_per_class", 8, r"gradcam.selection_per_class = 8 is invalid; the validation split has 7 "
                                       r"images per class"),
    ("gradcam.study_seed", 2, r"gradcam.study_seed = 2 is invalid; it must be one of study.seeds.smoke = \[0, 1\]"),
    ("study.seeds.smoke", [1, 1], r"study.seeds.smoke = \[1, 1\] is invalid; it must be a non-empty list of at most "
                                  r"100 different"),
    ("study.seeds.smoke", [], r"study.seeds.smoke = \[\] is invalid"),
    ("study.seeds", {}, r"study.seeds = \{\} is invalid; it must be a mapping of each regime"),
    ("study.seeds", {"long": [0]}, r"study.seeds.smoke: missing; .*\n  study.seeds.long: unknown regime; the regimes "
                                   r"are study.regimes: smoke"),
    ("study.regimes", {}, r"study.regimes = \{\} is invalid; it must be a non-empty mapping of regime names"),
    ("study.regimes.smoke", {"epochs": 0}, r"study.regimes.smoke.epochs = 0 is invalid; it must be an integer >= 1"),
    ("study.regimes.smoke", {"seeds": [0]}, r"study.regimes.smoke.seeds: unknown setting \(value \[0\]\); a regime "
                                            r"may set train settings: epochs, batch_size"),
    ("study.regimes.smoke", {"lr": "1e-3"}, r"study.regimes.smoke.lr = '1e-3' is invalid; .*YAML read it as the text"),
    ("study.regimes", {"Short-1": {}}, r"study.regimes: the name 'Short-1' is invalid; a regime's name must be"),
    ("study.runs", {}, r"study.runs does not list study.variants x study.seeds \(missing smoke-original-0, "
                       r"smoke-original-1, smoke-se-0 ...\); rewrite it with `python -m src.config.study`"),
    ("study.runs.smoke-se-1", {"regime": "smoke", "variant": "se", "seed": 2},
     r"entries that do not match their name: smoke-se-1"),
    ("train.strategy", "tpu", r"train.strategy = 'tpu' is invalid; it must be one of: default, mirrored, multi_worker"),
    ("train.cluster_timeout_seconds", 0, r"train.cluster_timeout_seconds = 0 is invalid; it must be a finite number > 0"),
    ("train.cluster_timeout_seconds", "2m", r"train.cluster_timeout_seconds = '2m' is invalid"),
])
def test_bad_values_are_named(good, key, value, expected):
    with pytest.raises(ParamsError, match=expected):
        validate(set_key(good, key, value))


def test_unknown_and_missing_keys(good):
    bad = set_key(good, "train.learning_rate", 0.1)
    del bad["train"]["lr"]
    with pytest.raises(ParamsError) as err:
        validate(bad)
    assert "train.learning_rate: unknown key" in str(err.value)
    assert "train.lr: missing" in str(err.value)


def test_all_problems_reported_together(good):
    bad = set_key(set_key(good, "train.lr", -1), "train.epochs", 0)
    with pytest.raises(ParamsError) as err:
        validate(bad)
    assert "train.lr" in str(err.value) and "train.epochs" in str(err.value)


def test_load_params_errors(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_params(empty)


def test_profile_roundtrip_and_train_size(tmp_path):
    target = tmp_path / "params.yaml"
    written = write_profile("cpu", target)
    assert load_params(target) == written
    smoke = build_profile("smoke")
    assert train_size(smoke) == smoke["data"]["train_per_class"] * 10
    assert train_size(build_profile("full")) == 45000


def test_committed_params_file_is_valid():
    """`dvc repro` on a fresh clone reads the committed params.yaml: it must hold every key the stages need."""
    params = load_params(ROOT / "params.yaml")
    assert params["profile"] in PROFILES


def test_profile_overlay_cannot_invent_keys():
    with pytest.raises(ParamsError, match="'train.lrr' does not exist"):
        deep_merge({"train": {"lr": 1}}, {"train": {"lrr": 2}})


@pytest.mark.slow  # seven fresh Pythons importing TensorFlow; the fuzz tests drive src.stages.download in process
def test_stage_cli_reports_bad_params_and_exits_2(tmp_path, good):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(set_key(good, "train.lr", -1)))
    stages = [["src.stages.download"], ["src.stages.preprocess"], ["src.stages.train", "--variant", "se", "--seed", "0"],
              ["src.stages.evaluate", "--variant", "se", "--seed", "0"], ["src.stages.heatmaps", "--variant", "se", "--seed", "0"],
              ["src.stages.gradcam"], ["src.stages.compare"]]
    for module, *extra in stages:
        proc = subprocess.run([sys.executable, "-m", module, *extra, "--params", str(params)], cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
        assert proc.returncode == 2, (module, proc.stderr)
        assert "train.lr = -1 is invalid" in proc.stderr and "Traceback" not in proc.stderr


def test_profiles_pick_the_implementation_and_leave_precision_to_the_machine():
    assert {name: build_profile(name)["model"]["implementation"] for name in PROFILES} == {
        "smoke": "reference", "cpu": "fast", "short": "fast", "long": "fast", "study": "fast", "full": "reference",
        "seed": "reference"}
    assert {build_profile(name)["train"]["precision"] for name in PROFILES} == {"auto"}


def test_the_regimes_extend_the_cpu_profile_and_differ_from_each_other_in_epochs_only():
    cpu, short, long = (build_profile(name) for name in ("cpu", "short", "long"))
    assert short["model"] == cpu["model"] and short["study"]["seeds"]["short"] == cpu["study"]["seeds"]["cpu"]
    levers = {"label_smoothing": 0.2, "stem_whitening": True, "freeze_stem": True, "bn_bias_lr_multiplier": 32}
    assert {key: short["train"][key] for key in levers} == levers and short["train"]["augment"]["alternate_flip"]
    assert short["train"]["epochs"] < long["train"]["epochs"] < cpu["train"]["epochs"]
    differing = {key for key in short["train"] if short["train"][key] != long["train"][key]}
    assert differing == {"epochs"} and {k for k in short if short[k] != long[k]} == {"profile", "train", "study"}


def test_the_study_profile_trains_both_regimes_as_their_own_profiles_do():
    study, short, long = (build_profile(name) for name in ("study", "short", "long"))
    assert list(study["study"]["regimes"]) == ["short", "long"]
    assert regime_params(study, "short") == short["train"] and regime_params(study, "long") == long["train"]
    assert study["model"] == short["model"] == long["model"]
    assert {regime: len(seeds) for regime, seeds in study["study"]["seeds"].items()} == {"short": 20, "long": 5}
    assert len(study["study"]["runs"]) == 3 * 25 and study["study"]["runs"]["long-cbam-4"] == {
        "regime": "long", "variant": "cbam", "seed": 4}


def test_a_regime_sets_its_runs_training_and_names_itself_in_a_cross_check(good):
    params = set_key(good, "study.regimes", {"smoke": {}, "long": {"epochs": 4, "warmup_epochs": 5}})
    params = set_key(params, "study.seeds", {"smoke": [0, 1], "long": [0, 1]})
    params["study"]["runs"] = expand_runs(params["study"])
    with pytest.raises(ParamsError, match=r"^params.yaml: train.warmup_epochs = 5 \(in regime 'long'\) is invalid; "
                                          r"it must not exceed train.epochs = 4 \(in regime 'long'\)$"):
        validate(params)
    params["study"]["regimes"]["long"] = {"epochs": 4}
    assert run_params(validate(params), "long")["train"]["epochs"] == 4
    assert run_params(params, "smoke")["train"] == params["train"]
    assert list(params["study"]["runs"])[:3] == ["smoke-original-0", "smoke-original-1", "smoke-se-0"]


def test_a_profile_that_extends_a_missing_or_circular_profile_is_named(tmp_path, monkeypatch):
    from src.config import profile

    monkeypatch.setattr(profile, "PROFILE_DIR", tmp_path)
    (tmp_path / "base.yaml").write_text((ROOT / "src/config/profiles/base.yaml").read_text())
    (tmp_path / "short.yaml").write_text("extends: long\n")
    (tmp_path / "long.yaml").write_text("extends: short\n")
    (tmp_path / "cpu.yaml").write_text("extends: nightly\n")
    with pytest.raises(ParamsError, match=r"profile 'short' extends itself through short -> long -> short"):
        build_profile("short")
    with pytest.raises(ParamsError, match=r"unknown profile 'nightly' \(src/config/profiles/cpu.yaml extends it\); "
                                        r"allowed: smoke, cpu"):
        build_profile("cpu")


def test_every_registered_variant_has_attention_settings():
    from src.models.variants import VARIANTS

    assert set(build_profile("full")["model"]["attention"]) == set(VARIANTS)


def test_the_study_command_rewrites_the_runs_and_nothing_else(tmp_path):
    from src.config import study

    path = tmp_path / "params.yaml"
    write_profile("study", path)
    before = path.read_text()
    assert run_stage(study.main, ["--params", str(path), "--seeds", "long=0-6", "--variants", "original", "se"])[0] == 0
    params = load_params(path)
    assert params["study"]["seeds"]["long"] == list(range(7)) and params["study"]["variants"] == ["original", "se"]
    assert len(params["study"]["runs"]) == 2 * (20 + 7) and "long-se-6" in params["study"]["runs"]
    assert {k: v for k, v in params.items() if k != "study"} == {k: v for k, v in yaml.safe_load(before).items()
                                                                  if k != "study"}
    assert before.split("study:")[0] == path.read_text().split("study:")[0]  # the header and sections above it
    code, stderr = run_stage(study.main, ["--params", str(path), "--seeds", "medium=0-3"])
    assert code == 2 and f"--seeds medium=...: 'medium' is not in study.regimes of {path}" in stderr
    code, stderr = run_stage(study.main, ["--params", str(path), "--seeds", "long=3-x"])
    assert code == 2 and "'long=3-x' is not REGIME=FIRST-LAST or REGIME=S1,S2,..." in stderr
    edited = path.read_text().replace("long: [0, 1, 2, 3, 4, 5, 6]", "long: [0, 1]")
    path.write_text(edited)
    with pytest.raises(ParamsError, match=r"study.runs does not list .*not in the study long-original-2"):
        load_params(path)
    assert run_stage(study.main, ["--params", str(path)])[0] == 0 and len(load_params(path)["study"]["runs"]) == 44
