"""Readers on tiny generated archives in both real formats, and their layout errors."""
from __future__ import annotations

import numpy as np
import pytest

from src.core.errors import DataError
from src.data.readers import CLASSES, detect_format, read_any, read_imagefolder, read_official
from tests.conftest import encode, make_imagefolder, tiny_images

SMALL = {"train": 2, "test": 1}


def test_official_tarball_decodes_to_nhwc(official_tarball):
    data = read_official(official_tarball)
    x, y = data["train"]
    assert x.shape == (20, 32, 32, 3) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [2] * 10
    # Channel-planar rows must come back as the same pixels, not a scrambled reshape.
    assert np.array_equal(x, tiny_images(20, seed=1))
    assert data["test"][0].shape == (10, 32, 32, 3)
    assert detect_format(official_tarball) == "official"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_imagefolder_archive_and_directory(tmp_path, fmt):
    archive = make_imagefolder(tmp_path / "a.tar.gz", fmt=fmt)
    folder = tmp_path / "dir"
    make_imagefolder(folder, as_tar=False, root="", fmt=fmt)
    for source in (archive, folder):
        assert detect_format(source) == "imagefolder"
        data = read_imagefolder(source, SMALL)
        x, y = data["train"]
        assert x.shape == (20, 32, 32, 3)
        assert y.tolist() == sorted(y.tolist())  # label order = official class order
    png = read_imagefolder(make_imagefolder(tmp_path / "p.tar.gz"), SMALL)["train"][0]
    if fmt == "PNG":
        assert np.array_equal(read_imagefolder(archive, SMALL)["train"][0], png)


def test_read_any_dispatches(official_tarball, imagefolder_tarball):
    assert read_any(official_tarball, SMALL)["train"][0].shape[0] == 20
    assert read_any(imagefolder_tarball, SMALL)["test"][0].shape[0] == 10


def test_missing_class_folder(tmp_path):
    archive = make_imagefolder(tmp_path / "a.tar.gz", skip_class="frog")
    with pytest.raises(DataError, match="missing class folder cifar10/train/frog"):
        read_imagefolder(archive, SMALL)


def test_wrong_image_size(tmp_path):
    big = encode(tiny_images(1, seed=0, size=40)[0], "PNG")
    archive = make_imagefolder(tmp_path / "a.tar.gz", extra={"cifar10/train/cat/9999.png": big})
    with pytest.raises(DataError, match=r"9999.png: image is 40x40, expected 32x32"):
        read_imagefolder(archive, None)


def test_non_image_file(tmp_path):
    archive = make_imagefolder(tmp_path / "a.tar.gz", extra={"cifar10/train/cat/notes.txt": b"hello"})
    with pytest.raises(DataError, match="notes.txt: not an image file"):
        read_imagefolder(archive, None)


def test_corrupt_image_bytes(tmp_path):
    archive = make_imagefolder(tmp_path / "a.tar.gz", extra={"cifar10/test/dog/bad.jpg": b"\xff\xd8garbage"})
    with pytest.raises(DataError, match="bad.jpg: not a readable image"):
        read_imagefolder(archive, None)


def test_unknown_class_folder(tmp_path):
    png = encode(tiny_images(1, seed=0)[0], "PNG")
    archive = make_imagefolder(tmp_path / "a.tar.gz", extra={"cifar10/train/unicorn/0.png": png})
    with pytest.raises(DataError, match="unknown class folder 'unicorn'"):
        read_imagefolder(archive, None)


def test_wrong_counts(tmp_path):
    archive = make_imagefolder(tmp_path / "a.tar.gz", train_per_class=3)
    with pytest.raises(DataError, match=r"train/airplane/ has 3 images, expected 2"):
        read_imagefolder(archive, SMALL)


def test_official_wrong_counts(official_tarball):
    with pytest.raises(DataError, match="images per class, expected 5000"):
        read_any(official_tarball)


def test_truncated_archive(tmp_path, imagefolder_tarball):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(imagefolder_tarball.read_bytes()[: imagefolder_tarball.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated.tar.gz"):
        read_any(truncated, SMALL)


def test_not_an_archive(tmp_path):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_text("not a tarball")
    with pytest.raises(DataError, match="bogus.tar.gz: not a tar archive"):
        detect_format(bogus)


def test_classes_are_official_order():
    assert CLASSES[0] == "airplane" and CLASSES[9] == "truck" and len(CLASSES) == 10
