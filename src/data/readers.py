"""Readers for the two CIFAR-10 formats: the official python-pickle tarball and ImageFolder.

- official: ``cifar-10-batches-py/{data_batch_1..5,test_batch}`` inside a tar(.gz),
  each a pickle with ``data`` (N x 3072 uint8, channel-planar) and ``labels``.
- ImageFolder: ``[<root>/]{train,test}/<class>/*.{png,jpg,jpeg}`` as a tar(.gz) archive
  or a directory, class folders named as the official classes (label order 0-9).

Both return ``{"train": (x, y), "test": (x, y)}`` with x uint8 NHWC (N, 32, 32, 3)
and y int64. Layout problems (missing class folder, wrong image size, a file that
is not an image, wrong counts) raise DataError naming the offending path.
"""
from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from src.core.errors import DataError

# What a damaged archive raises while it is read: a corrupt gzip stream fails in zlib
# (zlib.error is no OSError), a cut one with EOFError, a bad header in tarfile.
ARCHIVE_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error)

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (32, 32, 3)
OFFICIAL_DIR = "cifar-10-batches-py"
OFFICIAL_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
OFFICIAL_TEST = "test_batch"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLITS = ("train", "test")
FULL_COUNTS = {"train": 5000, "test": 1000}

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]


def _is_tar(path: Path) -> bool:
    try:
        return path.is_file() and tarfile.is_tarfile(path)
    except OSError:
        return False


def _names(path: Path) -> list[str]:
    if path.is_dir():
        return [p.relative_to(path).as_posix() for p in path.rglob("*")]
    try:
        with tarfile.open(path) as tar:
            return tar.getnames()
    except ARCHIVE_ERRORS as exc:
        raise DataError(f"{path}: not a readable tar archive ({exc})") from None


def _imagefolder_root(names: list[str]) -> str | None:
    """The prefix under which ``train/`` and ``test/`` sit ('' or e.g. 'cifar10/'), or None."""
    for name in names:
        parts = name.split("/")
        for i, part in enumerate(parts[:-1]):
            if part in SPLITS and parts[i + 1] in CLASSES:
                return "/".join(parts[:i]) + ("/" if i else "")
    return None


def detect_format(path: str | Path) -> str:
    """'official' or 'imagefolder'; DataError if ``path`` is neither."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if not path.is_dir() and not _is_tar(path):
        raise DataError(f"{path}: not a tar archive or directory")
    names = _names(path)
    if any(n.rstrip("/").endswith(f"{OFFICIAL_DIR}/{OFFICIAL_TEST}") for n in names):
        return "official"
    if _imagefolder_root(names) is not None:
        return "imagefolder"
    raise DataError(
        f"{path}: neither an official CIFAR-10 tarball ({OFFICIAL_DIR}/...) nor an ImageFolder "
        "layout ({train,test}/<class>/*.png|jpg)"
    )


def read_official(path: str | Path) -> Arrays:
    """Decode the official python-pickle tarball."""
    path = Path(path)
    batches: dict[str, dict] = {}
    wanted = set(OFFICIAL_TRAIN) | {OFFICIAL_TEST}
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and name in wanted:
                    batches[name] = pickle.load(tar.extractfile(member), encoding="bytes")  # noqa: S301
    except (*ARCHIVE_ERRORS, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: corrupt official tarball ({exc})") from None
    missing = sorted(wanted - set(batches))
    if missing:
        raise DataError(f"{path}: official tarball lacks {', '.join(missing)}")

    def to_arrays(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        data = np.concatenate([np.asarray(batches[n][b"data"], dtype=np.uint8) for n in names])
        labels = np.concatenate([np.asarray(batches[n][b"labels"], dtype=np.int64) for n in names])
        if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
            raise DataError(f"{path}: batches have shape {data.shape}, expected (N, 3072) with one label each")
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), labels

    return {"train": to_arrays(list(OFFICIAL_TRAIN)), "test": to_arrays([OFFICIAL_TEST])}


def _iter_files(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            yield file.relative_to(path).as_posix(), file.read_bytes()
        return
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile():
                    yield member.name, tar.extractfile(member).read()
    except ARCHIVE_ERRORS as exc:
        raise DataError(f"{path}: corrupt archive ({exc})") from None


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Decode one 32x32 image to uint8 RGB; DataError naming ``name`` otherwise."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            array = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DataError(f"{name}: not a readable image ({exc})") from None
    if array.shape != IMAGE_SHAPE:
        raise DataError(f"{name}: image is {array.shape[1]}x{array.shape[0]}, expected 32x32")
    return array


def read_imagefolder(path: str | Path, expected_counts: dict[str, int] | None = FULL_COUNTS) -> Arrays:
    """Decode an ImageFolder archive or directory.

    ``expected_counts`` gives the images per class in each split (CIFAR-10: 5,000
    train, 1,000 test); None accepts any count as long as every class has images.
    """
    path = Path(path)
    root = _imagefolder_root(_names(path))
    if root is None:
        raise DataError(f"{path}: no {{train,test}}/<class>/ folders found")
    images: dict[tuple[str, int], list[tuple[str, np.ndarray]]] = defaultdict(list)
    for name, data in _iter_files(path):
        if not name.startswith(root):
            continue
        parts = name[len(root):].split("/")
        if len(parts) != 3 or parts[0] not in SPLITS:
            continue
        split, cls, filename = parts
        if cls not in CLASSES:
            raise DataError(f"{path}: {name}: unknown class folder {cls!r}; expected one of {', '.join(CLASSES)}")
        if not filename.lower().endswith(IMAGE_SUFFIXES):
            raise DataError(f"{path}: {name}: not an image file (expected .png/.jpg)")
        images[(split, CLASSES.index(cls))].append((filename, decode_image(data, f"{path}: {name}")))

    result: Arrays = {}
    for split in SPLITS:
        xs, ys = [], []
        for label, cls in enumerate(CLASSES):
            found = sorted(images.get((split, label), []), key=lambda item: item[0])
            if not found:
                raise DataError(f"{path}: missing class folder {root}{split}/{cls}/ (or it is empty)")
            if expected_counts is not None and len(found) != expected_counts[split]:
                raise DataError(
                    f"{path}: {root}{split}/{cls}/ has {len(found)} images, expected {expected_counts[split]}"
                )
            xs.extend(img for _, img in found)
            ys.extend([label] * len(found))
        result[split] = (np.stack(xs), np.asarray(ys, dtype=np.int64))
    return result


def read_any(path: str | Path, expected_counts: dict[str, int] | None = FULL_COUNTS) -> Arrays:
    """Read ``path`` in whichever format it is."""
    if detect_format(path) == "official":
        data = read_official(path)
        if expected_counts is not None:
            for split, (_, y) in data.items():
                counts = np.bincount(y, minlength=len(CLASSES))
                if not np.all(counts == expected_counts[split]):
                    raise DataError(f"{path}: {split} has {counts.tolist()} images per class, "
                                    f"expected {expected_counts[split]} each")
        return data
    return read_imagefolder(path, expected_counts)
