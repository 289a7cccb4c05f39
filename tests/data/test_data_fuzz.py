"""Fuzzing the data: corrupted archives and image folders never crash download or preprocess.

Strategies (Hypothesis) on small real-format data (an official-format pickle tarball, an
ImageFolder tar.gz, an ImageFolder directory):
- archives: truncation at a random point, random bytes flipped, garbage appended, emptied;
- one image of a folder replaced by: truncated or byte-flipped PNG, an image of the wrong
  size, an odd mode (16-bit, 32-bit integer, float, palette, CMYK, RGBA, LA, 1-bit), text,
  an empty file; a symbolic link (a loop, a dangling one, one to another image); an unknown
  class folder; a missing class folder.
Properties: the readers return arrays or raise DataError, nothing else (120 examples); the
real ``src.stages.download`` then ``src.stages.preprocess`` entry points each succeed or exit 2 with one
``error:`` line and no traceback, leaving their outputs as they were (40 examples).
"""
from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from src.core.errors import DataError
from src.config.profile import build_profile
from src.data.readers import read_any
from tests.conftest import assert_one_error_or_success, make_imagefolder, make_official_tarball, run_stage, \
    snapshot

KINDS = ("official", "imagefolder-tar", "imagefolder-dir")
ODD_MODES = ("I;16", "I", "F", "P", "CMYK", "RGBA", "LA", "1", "L")


def odd_image(mode: str, size: tuple[int, int], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65535, (size[1], size[0]), dtype=np.uint16))
    elif mode == "F":
        image = Image.fromarray(rng.random((size[1], size[0])).astype(np.float32))
    else:
        image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="TIFF" if mode in ("CMYK", "F", "I") else "PNG")  # what PNG cannot hold
    return buffer.getvalue()


def make_source(kind: str, folder: Path) -> Path:
    if kind == "official":
        return make_official_tarball(folder / "cifar-10-python.tar.gz")
    if kind == "imagefolder-tar":
        return make_imagefolder(folder / "cifar10.tar.gz")
    target = folder / "cifar10-dir"
    target.mkdir()
    return make_imagefolder(target, as_tar=False)


@st.composite
def corruptions(draw):
    kind = draw(st.sampled_from(KINDS))
    if kind != "imagefolder-dir":
        action = draw(st.sampled_from(["truncate", "flip", "append", "empty"]))
        return kind, action, {"fraction": draw(st.floats(0, 1)), "flips": draw(st.integers(1, 64)),
                              "seed": draw(st.integers(0, 2**16))}
    action = draw(st.sampled_from(["truncate", "flip", "size", "mode", "text", "empty", "loop", "dangling",
                                   "link", "unknown-class", "missing-class"]))
    return kind, action, {"fraction": draw(st.floats(0, 1)), "flips": draw(st.integers(1, 16)),
                          "seed": draw(st.integers(0, 2**16)), "mode": draw(st.sampled_from(ODD_MODES)),
                          "size": (draw(st.integers(1, 64)), draw(st.integers(1, 64)))}


def corrupt(source: Path, kind: str, action: str, how: dict) -> None:
    rng = np.random.default_rng(how["seed"])
    if kind != "imagefolder-dir":
        victim = source
    else:
        images = sorted(p for p in source.rglob("*.png"))
        victim = images[int(rng.integers(len(images)))]
    data = victim.read_bytes()
    if action == "truncate":
        victim.write_bytes(data[: int(len(data) * how["fraction"])])
    elif action == "flip":
        flipped = bytearray(data)
        for offset in rng.integers(0, len(flipped), how["flips"]):
            flipped[offset] ^= int(rng.integers(1, 256))
        victim.write_bytes(bytes(flipped))
    elif action == "append":
        victim.write_bytes(data + rng.bytes(int(rng.integers(1, 4096))))
    elif action == "empty":
        victim.write_bytes(b"")
    elif action == "size":
        victim.write_bytes(odd_image("RGB", how["size"], how["seed"]))
    elif action == "mode":
        victim.write_bytes(odd_image(how["mode"], (32, 32), how["seed"]))
    elif action == "text":
        victim.write_text("not an image")
    elif action in ("loop", "dangling", "link"):
        victim.unlink()
        target = {"loop": source, "dangling": source / "nowhere.png", "link": images[0]}[action]
        victim.symlink_to(target)
    elif action == "unknown-class":
        (victim.parent.parent / "unicorn").mkdir()
        shutil.move(str(victim), victim.parent.parent / "unicorn" / victim.name)
    elif action == "missing-class":
        shutil.rmtree(victim.parent)





@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corruptions())
def test_readers_return_arrays_or_raise_data_error(case):
    kind, action, how = case
    with tempfile.TemporaryDirectory() as workdir:
        source = make_source(kind, Path(workdir))
        corrupt(source, kind, action, how)
        if action in ("loop", "dangling", "link"):
            return  # never reaches a reader: the download stage refuses links (tested below)
        try:
            arrays = read_any(source, expected_counts=None)
        except DataError as exc:
            assert str(exc)
        else:
            for x, y in arrays.values():
                assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3) and len(x) == len(y)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corruptions())
def test_download_and_preprocess_succeed_or_exit_2_with_one_error_line(case):
    from src.stages import download, preprocess

    kind, action, how = case
    with tempfile.TemporaryDirectory() as workdir:
        work = Path(workdir)
        source = make_source(kind, work)
        corrupt(source, kind, action, how)
        params = build_profile("smoke")
        params["data"]["sources"] = [{"kind": "local", "path": str(source), "sha256": ""}]
        (work / "params.yaml").write_text(yaml.safe_dump(params))
        raw, prepared = work / "out" / "raw", work / "out" / "prepared"
        prepared.mkdir(parents=True)
        (prepared / "previous.txt").write_text("before")
        before = snapshot(work / "out")
        code, stderr = run_stage(download.main, ["--params", str(work / "params.yaml"), "--out", str(raw)])
        assert_one_error_or_success(code, stderr, before, snapshot(work / "out"))
        if code != 0:
            return
        assert json.loads((raw / "source.json").read_text())["kind"] == "local"
        before = snapshot(work / "out")
        code, stderr = run_stage(preprocess.main, ["--params", str(work / "params.yaml"), "--raw", str(raw),
                                                   "--out", str(prepared)])
        assert_one_error_or_success(code, stderr, before, snapshot(work / "out"))
