"""Where CIFAR-10 comes from: the official tarball over HTTP, or a local file/directory.

``fetch_first(sources, dest)`` tries the sources in the order given and returns a
record of the one that worked (kind, location, format, checksums). A source that
is unreachable, missing, truncated, not an archive or has the wrong checksum is
skipped with its reason; if none works, one DataError lists every reason. The download
stage writes the record to data/raw/source.json, and preprocess reads it back with ``load_record``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from src.core.artefacts import Maybe, damaged, read_json
from src.core.errors import DataError
from src.data.readers import ARCHIVE_ERRORS, detect_format

CHUNK = 1 << 20
SOURCE_RECORD = "source.json"
RECORD_SCHEMA = {"file": str, **{key: Maybe(str) for key in ("kind", "location", "format", "sha256")}}


def file_digest(path: str | Path, algorithm: str) -> str:
    """Hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, algorithm: str, expected: str) -> str:
    """Return the file's digest; raise DataError naming the file if ``expected`` is set and differs."""
    actual = file_digest(path, algorithm)
    if expected and actual.lower() != expected.lower():
        raise DataError(f"{path}: {algorithm} is {actual}, expected {expected} (corrupt or wrong file)")
    return actual


def _check_archive(path: Path) -> None:
    """Read the whole archive once so a truncated or corrupt file fails here, not mid-preprocess."""
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile():
                    tar.extractfile(member).read()
    except ARCHIVE_ERRORS as exc:
        raise DataError(f"{path}: not a readable tar archive ({exc})") from None


def download(url: str, dest: Path, timeout: float) -> None:
    """Stream ``url`` to ``dest`` with a progress bar; raise DataError if unreachable."""
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (URL comes from params)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DataError(f"{url}: cannot connect ({getattr(exc, 'reason', exc)})") from None
    total = int(response.headers.get("Content-Length") or 0) or None
    with response, open(dest, "wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, desc="download", disable=not sys.stderr.isatty()
    ) as bar:
        try:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                out.write(chunk)
                bar.update(len(chunk))
        except OSError as exc:
            raise DataError(f"{url}: download interrupted ({exc})") from None


def fetch_official(source: dict, dest_dir: Path, timeout: float) -> dict:
    target = dest_dir / Path(source["url"]).name
    download(source["url"], target, timeout)
    md5 = verify_checksum(target, "md5", source["md5"])
    _check_archive(target)
    return {"kind": "official", "location": source["url"], "format": detect_format(target),
            "file": target.name, "md5": md5, "sha256": file_digest(target, "sha256"),
            "bytes": target.stat().st_size}


def reject_links(folder: Path) -> None:
    """DataError naming the first symbolic link under ``folder``.

    A directory source is copied as plain files: a link can loop (a copy 40 levels deep),
    dangle, or point outside the data set, so any link is refused before anything is read.
    """
    for root, dirs, files in os.walk(folder, followlinks=False):
        for name in sorted(dirs + files):
            if os.path.islink(os.path.join(root, name)):
                raise DataError(f"{os.path.join(root, name)}: a symbolic link inside the data folder {folder}; "
                                "replace it with the file itself")


def fetch_local(source: dict, dest_dir: Path) -> dict:
    path = Path(source["path"])
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir():
        reject_links(path)
        fmt = detect_format(path)
        shutil.copytree(path, dest_dir / path.name)
        return {"kind": "local", "location": str(source["path"]), "format": fmt, "file": path.name,
                "sha256": None, "bytes": sum(f.stat().st_size for f in path.rglob("*") if f.is_file())}
    sha256 = verify_checksum(path, "sha256", source.get("sha256", ""))
    _check_archive(path)
    fmt = detect_format(path)
    shutil.copyfile(path, dest_dir / path.name)
    return {"kind": "local", "location": str(source["path"]), "format": fmt, "file": path.name,
            "md5": file_digest(path, "md5"), "sha256": sha256, "bytes": path.stat().st_size}


def fetch_first(sources: list[dict], dest_dir: Path, timeout: float) -> dict:
    """Fetch the first working source into ``dest_dir``; return its record."""
    reasons = []
    for source in sources:
        # Each attempt starts from an empty directory so a failed one leaves nothing behind.
        for leftover in dest_dir.iterdir():
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        try:
            if source["kind"] == "official":
                record = fetch_official(source, dest_dir, timeout)
            else:
                record = fetch_local(source, dest_dir)
        except DataError as exc:
            reasons.append(f"{source['kind']}: {exc}")
            print(f"download: skipping {source['kind']} source: {exc}", file=sys.stderr)
            continue
        return record
    raise DataError("no CIFAR-10 source worked:\n  " + "\n  ".join(reasons))


def load_record(raw_dir: str | Path) -> dict:
    """The download stage's record of ``raw_dir`` (see ``fetch_first``); DataError if missing or malformed."""
    path = Path(raw_dir) / SOURCE_RECORD
    record = read_json(path, "download record", "dvc repro download", RECORD_SCHEMA)
    if record["file"] in ("", ".", "..") or Path(record["file"]).name != record["file"]:
        raise damaged(path, f"names the file {record['file']!r}, expected a name inside {raw_dir}",
                      "dvc repro download")
    return record
