"""Shared fixtures: tiny CIFAR-10 archives in the real formats, generated on the fly."""
from __future__ import annotations

import io
import os
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow 2.21's oneDNN corrupts the heap in the weight gradient of a strided 1x1 convolution whose
# input channels are not a multiple of 16, on its AVX-512 kernel (jit_1x1:avx512_core) and at some
# batch sizes (7 of 8 channels crash, 8 does not): "corrupted size vs. prev_size", then SIGABRT. The
# tests' tiny networks (width 4) meet it on any AVX-512 CPU; they check behaviour, not kernels, so
# there they run on TensorFlow's own kernels (set before TensorFlow is imported; subprocesses inherit
# it). The study's networks (width 32) never have such a layer; docs/history.md has the details.
if "avx512f" in Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").is_file() else False:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from hypothesis import settings  # noqa: E402

# The fuzz tests draw the same examples on every run, so CI is repeatable; set
# HYPOTHESIS_PROFILE=explore to draw new ones (and remember failures in .hypothesis/).
settings.register_profile("repeatable", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

from src.data.readers import CLASSES  # noqa: E402


@pytest.fixture(autouse=True)
def float32_policy_after_each_test():
    """Tests that run a stage or a benchmark in this process set Keras' global dtype policy, which is
    mixed_bfloat16 where the CPU computes bfloat16 natively (``train.precision: auto``): the tests
    after them must not inherit it, or their float32 tolerances would hold only on CPUs without it."""
    yield
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.mixed_precision.set_global_policy("float32")


def tiny_images(n: int, seed: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_official_tarball(path: Path, train_per_class: int = 2, test_per_class: int = 1) -> Path:
    """An official-format tarball: 5 pickled train batches + test_batch, channel-planar rows."""
    with tarfile.open(path, "w:gz") as tar:
        labels = np.repeat(np.arange(10), train_per_class)
        images = tiny_images(len(labels), seed=1)
        for i, chunk in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
            batch = {b"data": images[chunk].transpose(0, 3, 1, 2).reshape(len(chunk), -1),
                     b"labels": labels[chunk].tolist()}
            _add_bytes(tar, f"cifar-10-batches-py/data_batch_{i}", pickle.dumps(batch))
        test_labels = np.repeat(np.arange(10), test_per_class)
        test = {b"data": tiny_images(len(test_labels), seed=2).transpose(0, 3, 1, 2).reshape(len(test_labels), -1),
                b"labels": test_labels.tolist()}
        _add_bytes(tar, "cifar-10-batches-py/test_batch", pickle.dumps(test))
        _add_bytes(tar, "cifar-10-batches-py/batches.meta", pickle.dumps({b"label_names": list(CLASSES)}))
    return path


def encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt)
    return buf.getvalue()


def make_imagefolder(path: Path, train_per_class: int = 2, test_per_class: int = 1, as_tar: bool = True,
                     root: str = "cifar10/", fmt: str = "PNG", skip_class: str | None = None,
                     extra: dict[str, bytes] | None = None) -> Path:
    """An ImageFolder archive (or directory) {train,test}/<class>/NNNN.png|jpg under ``root``."""
    files: dict[str, bytes] = {}
    ext = "png" if fmt == "PNG" else "jpg"
    for split, count, seed in (("train", train_per_class, 3), ("test", test_per_class, 4)):
        for label, cls in enumerate(CLASSES):
            if cls == skip_class:
                continue
            for i, image in enumerate(tiny_images(count, seed=seed * 100 + label)):
                files[f"{root}{split}/{cls}/{i:04d}.{ext}"] = encode(image, fmt)
    files.update(extra or {})
    if as_tar:
        with tarfile.open(path, "w:gz") as tar:
            for name, data in files.items():
                _add_bytes(tar, name, data)
    else:
        for name, data in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_bytes(data)
    return path


@pytest.fixture
def official_tarball(tmp_path: Path) -> Path:
    return make_official_tarball(tmp_path / "cifar-10-python.tar.gz")


@pytest.fixture
def imagefolder_tarball(tmp_path: Path) -> Path:
    return make_imagefolder(tmp_path / "cifar10-png.tar.gz")


def make_prepared(folder: Path, train_per_class: int = 30, val_per_class: int = 5, test_per_class: int = 5) -> Path:
    """A tiny data/prepared/ directory: each class is a distinct mean colour plus noise, so it is learnable."""
    import json

    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    colours = rng.integers(30, 225, (10, 3))
    sizes = {}
    for split, per_class in (("train", train_per_class), ("val", val_per_class), ("test", test_per_class)):
        y = np.repeat(np.arange(10), per_class)
        x = np.clip(colours[y][:, None, None, :] + rng.normal(0, 40, (len(y), 32, 32, 3)), 0, 255).astype(np.uint8)
        np.savez(folder / f"{split}.npz", x=x, y=y.astype(np.int64))
        sizes[split] = len(y)
    (folder / "stats.json").write_text(json.dumps({
        "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "classes": list(CLASSES), "sizes": sizes,
        "source": {"kind": "local", "location": "generated", "format": "imagefolder", "sha256": None}}))
    return folder


def tiny_params(**train_overrides) -> dict:
    """The smoke profile shrunk further for unit tests."""
    from src.config.profile import build_profile

    params = build_profile("smoke")
    params["model"].update(width=4, blocks=[1, 1])
    params["model"]["strides"] = [1, 2]
    params["train"].update({"epochs": 3, "batch_size": 50, "lr": 0.05, **train_overrides})
    params["evaluate"]["batch_size"] = 100
    params["gradcam"]["layers"] = ["stage1", "stage2", "fused"]
    return params


REGIME = "smoke"  # the smoke profile's one regime, which tiny_params keeps


def with_study(params: dict, variants: list[str] | None = None, seeds: list[int] | None = None,
               regime: str = REGIME) -> dict:
    """``params`` with the study's variants and/or one regime's seeds changed, and ``study.runs`` to match."""
    from src.config.params import expand_runs

    if variants is not None:
        params["study"]["variants"] = variants
    if seeds is not None:
        params["study"]["seeds"][regime] = seeds
    params["study"]["runs"] = expand_runs(params["study"])
    return params


def run_stage(main, argv: list[str]) -> tuple[int, str]:
    """Run a stage's ``main`` in process, as ``python -m`` would: (exit code, what it wrote to stderr)."""
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, err.getvalue()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every regular file under ``folder`` with its bytes: to check that a failed stage changed nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink()}


def assert_one_error_or_success(code: int, stderr: str, before: dict, after: dict) -> None:
    """A stage's outcome is success, or exit 2 with one ``error:`` line, no traceback and nothing changed."""
    assert "Traceback" not in stderr
    if code != 0:
        assert code == 2, stderr
        assert len([line for line in stderr.splitlines() if line.startswith("error:")]) == 1, stderr
        assert after == before, "a failed stage changed or left files"
