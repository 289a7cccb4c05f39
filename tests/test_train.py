"""Training stage: determinism, kill-and-resume, NaN handling, bad batch size — on tiny generated data."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from src.config.profile import build_profile
from src.data.loader import epoch_order, make_train_dataset
from src.models.io import load_run_model
from src.paths import Run
from src.training.callbacks import EpochTimer
from src.training.optim import make_optimizer
from src.training.resume import run_fingerprint
from tests.conftest import REGIME, ROOT, make_prepared, tiny_params, with_study

ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def project(tmp_path: Path, params: dict | None = None, **train_overrides) -> Path:
    make_prepared(tmp_path / "data/prepared")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params or tiny_params(**train_overrides)))
    return tmp_path


def run_train(cwd: Path, variant: str = "se", seed: int = 0, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "src.stages.train", "--variant", variant, "--seed", str(seed)], cwd=cwd,
                          env=ENV, capture_output=True, text=True, **kwargs)


def metrics(cwd: Path, variant: str = "se", seed: int = 0) -> dict:
    return json.loads((cwd / "metrics/train" / REGIME / variant / f"seed{seed}.json").read_text())


def test_training_stream_is_a_function_of_seed_and_epoch():
    x = np.arange(40 * 32 * 32 * 3, dtype=np.uint8).reshape(40, 32, 32, 3)
    y = np.arange(40) % 10
    full = list(make_train_dataset(x, y, 10, epochs=3, seed=1))
    resumed = list(make_train_dataset(x, y, 10, epochs=3, start_epoch=1, seed=1))
    # Epochs 1-2 are identical, images (augmentation included) and labels, whether or not epoch 0 ran first.
    assert len(resumed) == len(full[4:]) == 8
    assert all(np.array_equal(r[i], f[i]) for r, f in zip(resumed, full[4:]) for i in (0, 1))
    assert not np.array_equal(epoch_order(40, 10, 1, 0), epoch_order(40, 10, 1, 1))
    images = [b[0].numpy() for b in make_train_dataset(x, y, 10, epochs=1, seed=1)]
    again = [b[0].numpy() for b in make_train_dataset(x, y, 10, epochs=1, seed=1)]
    assert all(np.array_equal(a, b) for a, b in zip(images, again))


@pytest.mark.slow  # trains in a fresh Python
def test_same_seed_gives_identical_metrics(tmp_path):
    smoke = build_profile("smoke")  # the smoke profile's model and training settings, unchanged
    first, second = project(tmp_path / "a", smoke), project(tmp_path / "b", smoke)
    for cwd in (first, second):
        proc = run_train(cwd)
        assert proc.returncode == 0, proc.stderr
    a, b = metrics(first), metrics(second)
    for key in ("best_val_accuracy", "final_val_accuracy", "final_train_accuracy", "params", "epochs"):
        assert a[key] == b[key], key
    # Byte for byte the same model: nothing in the file depends on when it was written, so DVC re-runs
    # nothing downstream of a forced retrain.
    assert (first / "models/smoke/se/seed0.keras").read_bytes() == (second / "models/smoke/se/seed0.keras").read_bytes()
    # Each epoch's training seconds are a curve of their own, one positive value per epoch.
    seconds = (first / "plots/train/smoke/se/seed0/plots/metrics/time/train_seconds.tsv").read_text().splitlines()
    assert seconds[0].split("\t") == ["step", "train_seconds"]
    assert [int(row.split("\t")[0]) for row in seconds[1:]] == list(range(a["epochs"]))
    assert all(float(row.split("\t")[1]) > 0 for row in seconds[1:])
    assert (first / "plots/train/smoke/se/seed0/plots/metrics/eval/accuracy.tsv").read_text() == \
        (second / "plots/train/smoke/se/seed0/plots/metrics/eval/accuracy.tsv").read_text()


@pytest.mark.slow  # trains in a fresh Python
def test_training_seeds_differ_and_share_the_data(tmp_path):
    cwd = project(tmp_path, epochs=1)
    for seed in (0, 1):
        proc = run_train(cwd, seed=seed)
        assert proc.returncode == 0, proc.stderr
    zero, one = metrics(cwd, seed=0), metrics(cwd, seed=1)
    assert zero["training_seed"] == 0 and one["training_seed"] == 1
    assert zero["final_train_accuracy"] != one["final_train_accuracy"]  # other weights and data order
    assert (cwd / "models/smoke/se/seed0.keras").is_file() and (cwd / "models/smoke/se/seed1.keras").is_file()


@pytest.mark.slow  # trains in a fresh Python
def test_a_run_starts_from_the_initialisation_levers_it_asks_for(tmp_path):
    params = tiny_params(epochs=1, lr=1e-9, stem_whitening=True)  # a step this small leaves the start in place
    params["model"]["zero_init_last"] = True
    cwd = project(tmp_path, params)
    proc = run_train(cwd)
    assert proc.returncode == 0, proc.stderr
    model = load_run_model(Run("se", 0, REGIME), cwd / "models")
    stem = model.get_layer("stem_conv").kernel.numpy().reshape(-1, 4)  # width 4: two whitening pairs
    np.testing.assert_allclose(stem[:, :2], -stem[:, 2:], atol=1e-6)
    for block in ("stage1_block1", "stage2_block1"):
        np.testing.assert_allclose(model.get_layer(f"{block}_3_bn").gamma.numpy(), 0, atol=1e-6)


def test_a_run_is_resumable_whatever_the_other_runs(tmp_path):
    params, stats = tiny_params(), {"classes": list("abcdefghij")}
    base = run_fingerprint("se", 3, params, stats, "float32")
    more_seeds = with_study(yaml.safe_load(yaml.safe_dump(params)), seeds=[0, 1, 2, 3, 4, 5])
    other_variant = yaml.safe_load(yaml.safe_dump(params))
    other_variant["model"]["attention"]["cbam"]["kernel_size"] = 3
    assert run_fingerprint("se", 3, more_seeds, stats, "float32") == base
    assert run_fingerprint("se", 3, other_variant, stats, "float32") == base
    assert run_fingerprint("se", 4, params, stats, "float32") != base
    assert run_fingerprint("cbam", 3, params, stats, "float32") != run_fingerprint("cbam", 3, other_variant, stats,
                                                                                   "float32")
    # train.precision: auto resolves per machine; a backup made in float32 does not resume in bfloat16.
    assert run_fingerprint("se", 3, params, stats, "mixed_bfloat16") != base


# A fresh Python importing TensorFlow per case: the upper bound stays in the quick tier.
@pytest.mark.parametrize("seed", [pytest.param("-1", marks=pytest.mark.slow), "4294967296",
                                  pytest.param("x", marks=pytest.mark.slow)])
def test_a_bad_training_seed_is_named(tmp_path, seed):
    proc = run_train(project(tmp_path), seed=seed)
    assert proc.returncode == 2 and "argument --seed" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow  # two 8-epoch trainings in fresh Pythons, one killed and resumed
def test_killed_run_resumes_and_matches_uninterrupted(tmp_path):
    straight = project(tmp_path / "straight", epochs=8)
    assert run_train(straight).returncode == 0

    killed = project(tmp_path / "killed", epochs=8)
    proc = subprocess.Popen([sys.executable, "-m", "src.stages.train", "--variant", "se", "--seed", "0"], cwd=killed, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = killed / "checkpoints/smoke/se/seed0/training_metadata.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        try:
            if json.loads(meta.read_text()).get("epoch", 0) >= 2:
                break
        except (OSError, ValueError):
            pass  # not written yet, or caught mid-write
        time.sleep(0.02)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "models/smoke/se/seed0.keras").exists()

    resumed = run_train(killed)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming smoke-se-0 from epoch" in resumed.stderr
    m_killed, m_straight = metrics(killed), metrics(straight)
    assert m_killed["resumed_from_epoch"] >= 2 and m_killed["epochs"] == 8
    # The resumed run sees the same batches with the same weights and optimizer state: same numbers.
    for key in ("final_val_accuracy", "final_train_accuracy", "best_val_accuracy"):
        assert m_killed[key] == pytest.approx(m_straight[key], abs=1e-6), key
    curve = (killed / "plots/train/smoke/se/seed0/plots/metrics/eval/accuracy.tsv").read_text().splitlines()
    assert len(curve) - 1 >= 8 - m_killed["resumed_from_epoch"]
    assert not (killed / "checkpoints/smoke/se/seed0").exists()  # backup removed after success
    assert not (killed / "checkpoints/smoke/se/seed0-curves").exists()  # the curves moved to plots/train


@pytest.mark.slow  # trains in a fresh Python
def test_backup_from_other_params_is_discarded(tmp_path):
    cwd = project(tmp_path)
    backup = cwd / "checkpoints/smoke/se/seed0"
    backup.mkdir(parents=True)
    (backup / "fingerprint.txt").write_text("stale")
    (backup / "training_metadata.json").write_text('{"epoch": 1}')
    proc = run_train(cwd)
    assert proc.returncode == 0, proc.stderr
    assert "discarding backup" in proc.stderr and metrics(cwd)["resumed_from_epoch"] == 0


def test_nan_loss_stops_with_error_and_no_model(tmp_path, monkeypatch, capsys):
    import keras
    import tensorflow as tf

    from src.stages import train
    from src.training import fit

    cwd = project(tmp_path)
    monkeypatch.chdir(cwd)
    real_compile = fit.compile_model

    def poisoned(model, train_params, steps_per_epoch):
        real_compile(model, train_params, steps_per_epoch)
        model.compile(optimizer=model.optimizer, loss=lambda y, p: tf.reduce_mean(p) * float("nan"),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])

    monkeypatch.setattr(fit, "compile_model", poisoned)
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--variant", "original", "--seed", "0"])
    assert exit_info.value.code == 2
    assert "loss became nan" in capsys.readouterr().err
    assert not (cwd / "models").exists() and not (cwd / "metrics").exists()
    assert not (cwd / "checkpoints/smoke/original/seed0").exists()


# A fresh Python per case; the second also loads the data and builds the model first.
@pytest.mark.parametrize("batch_size, images", [(1000, "600 training images (data.train_per_class"),
                                               pytest.param(400, "300 training images", marks=pytest.mark.slow)])
def test_batch_larger_than_data_is_rejected(tmp_path, batch_size, images):
    # 1000 exceeds what the params promise (checked before any stage runs); 400 fits the params'
    # 600 images but not the 300 actually prepared here (checked when training starts).
    cwd = project(tmp_path, batch_size=batch_size)
    proc = run_train(cwd)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"train.batch_size = {batch_size} is invalid; it must not exceed the {images}" in proc.stderr


def test_weight_decay_is_decoupled_and_spares_batchnorm_and_biases():
    """``train.weight_decay`` shrinks kernels by lr * wd per step (Keras' decoupled decay), nothing else.

    params.yaml's value is chosen for these semantics (0.005 = the classic L2 5e-4 under
    momentum 0.9), so a switch to L2-through-the-gradient must show up here.
    """
    train = {"lr": 0.5, "epochs": 1, "warmup_epochs": 0, "schedule": "constant", "weight_decay": 0.1,
             "optimizer": "sgd", "momentum": 0.9, "nesterov": True, "bn_bias_lr_multiplier": 1}
    optimizer = make_optimizer(train, steps_per_epoch=10)
    kernel = keras.Variable(np.ones((3, 3), np.float32), name="kernel")
    gamma, beta, bias = (keras.Variable(np.ones(3, np.float32), name=name) for name in ("gamma", "beta", "bias"))
    variables = [kernel, gamma, beta, bias]
    optimizer.apply_gradients([(np.zeros_like(v.numpy()), v) for v in variables])
    np.testing.assert_allclose(kernel.numpy(), 1 - 0.5 * 0.1, rtol=1e-6)
    for untouched in (gamma, beta, bias):
        np.testing.assert_array_equal(untouched.numpy(), 1.0)


def test_epoch_timer_records_each_epoch_once_with_or_without_validation():
    class RecordingLive:
        def __init__(self):
            self.logged: list[tuple[str, float]] = []

        def log_metric(self, name, value):
            self.logged.append((name, value))

    live = RecordingLive()
    timer = EpochTimer(live)
    timer.on_epoch_begin(0)
    timer.on_test_begin()  # validation ends the training phase ...
    timer.on_test_begin()  # ... once, however often Keras evaluates
    timer.on_epoch_end(0)
    timer.on_epoch_begin(1)
    timer.on_epoch_end(1)  # an epoch without validation still counts
    assert len(timer.train_seconds) == 2 and all(s >= 0 for s in timer.train_seconds)
    assert [name for name, _ in live.logged] == ["time/train_seconds"] * 2


@pytest.mark.slow  # trains in a fresh Python
def test_outputs_that_cannot_be_written_leave_the_previous_model(tmp_path):
    cwd = project(tmp_path, epochs=1)
    (cwd / "models/smoke/se").mkdir(parents=True)
    (cwd / "models/smoke/se/seed0.keras").write_bytes(b"the model of the previous run")
    (cwd / "metrics").write_text("a file where the metrics folder should be")
    proc = run_train(cwd)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("error:")][0].startswith("error: metrics")
    assert (cwd / "models/smoke/se/seed0.keras").read_bytes() == b"the model of the previous run"
    assert sorted(p.name for p in (cwd / "models/smoke/se").iterdir()) == ["seed0.keras"]


def test_batch_norm_shifts_learn_at_their_multiple_of_the_learning_rate():
    def one_step(multiplier: float) -> dict[str, np.ndarray]:
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d"),
                                  keras.layers.BatchNormalization(name="d_bn"), keras.layers.Dense(2, name="out")])
        train = {**tiny_params(bn_bias_lr_multiplier=multiplier)["train"], "warmup_epochs": 0, "schedule": "constant"}
        model.compile(make_optimizer(train, steps_per_epoch=10), "mse")
        name = lambda v: "/".join(v.path.split("/")[-2:])  # noqa: E731 (layer/variable, whatever the model's name)
        start = {name(v): v.numpy().copy() for v in model.trainable_variables}
        rng = np.random.default_rng(0)
        model.train_on_batch(rng.random((8, 4)), rng.random((8, 2)))
        return {name(v): v.numpy() - start[name(v)] for v in model.trainable_variables}

    plain, fast = one_step(1), one_step(8)
    for path, step in plain.items():
        np.testing.assert_allclose(fast[path], step * (8 if path.endswith("d_bn/beta") else 1), rtol=1e-5, atol=1e-8)
    assert np.abs(plain["d_bn/beta"]).max() > 0


@pytest.mark.slow  # a training run in a fresh Python
def test_a_frozen_whitened_stem_keeps_its_filters_through_training(tmp_path):
    cwd = project(tmp_path, tiny_params(epochs=1, stem_whitening=True, freeze_stem=True))
    proc = run_train(cwd)
    assert proc.returncode == 0, proc.stderr
    stem = load_run_model(Run("se", 0, REGIME), cwd / "models").get_layer("stem_conv").kernel.numpy().reshape(-1, 4)
    np.testing.assert_allclose(stem[:, :2], -stem[:, 2:], atol=1e-6)  # a full training step would break the pairs
