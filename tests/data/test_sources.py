"""Source fetching: checksums, fall-through order, and the download stage's all-or-nothing output."""
from __future__ import annotations

import json

import pytest
import yaml

from src.core.errors import DataError
from src.config.profile import build_profile
from src.stages import download
from src.data.sources import fetch_first, file_digest
from tests.conftest import make_imagefolder

UNREACHABLE = {"kind": "official", "url": "http://127.0.0.1:9/cifar-10-python.tar.gz", "md5": "0" * 32}


def local(path, sha256=""):
    return {"kind": "local", "path": str(path), "sha256": sha256}


def test_local_archive_is_copied_and_recorded(tmp_path, imagefolder_tarball):
    dest = tmp_path / "raw"
    dest.mkdir()
    sha = file_digest(imagefolder_tarball, "sha256")
    record = fetch_first([UNREACHABLE, local(imagefolder_tarball, sha)], dest, timeout=2)
    assert record["kind"] == "local" and record["format"] == "imagefolder" and record["sha256"] == sha
    assert (dest / imagefolder_tarball.name).read_bytes() == imagefolder_tarball.read_bytes()


def test_official_format_local_tarball(tmp_path, official_tarball):
    dest = tmp_path / "raw"
    dest.mkdir()
    assert fetch_first([local(official_tarball)], dest, timeout=2)["format"] == "official"


def test_local_directory_source(tmp_path):
    from tests.conftest import make_imagefolder
    folder = tmp_path / "images"
    make_imagefolder(folder, as_tar=False, root="")
    dest = tmp_path / "raw"
    dest.mkdir()
    record = fetch_first([local(folder)], dest, timeout=2)
    assert record["format"] == "imagefolder" and (dest / "images" / "train" / "cat").is_dir()


def test_wrong_checksum_names_file_and_digests(tmp_path, imagefolder_tarball):
    dest = tmp_path / "raw"
    dest.mkdir()
    with pytest.raises(DataError, match=r"sha256 is [0-9a-f]{64}, expected f{64}"):
        fetch_first([local(imagefolder_tarball, "f" * 64)], dest, timeout=2)
    assert list(dest.iterdir()) == []


def test_every_failure_reported(tmp_path):
    dest = tmp_path / "raw"
    dest.mkdir()
    with pytest.raises(DataError) as err:
        fetch_first([UNREACHABLE, local(tmp_path / "missing.tar.gz")], dest, timeout=2)
    message = str(err.value)
    assert "cannot connect" in message and "missing.tar.gz: no such file or directory" in message


def write_params(tmp_path, sources):
    params = build_profile("smoke")
    params["data"]["sources"] = sources
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_download_stage_writes_source_record(tmp_path, imagefolder_tarball, monkeypatch):
    monkeypatch.chdir(tmp_path)
    download.main(["--params", str(write_params(tmp_path, [local(imagefolder_tarball)])), "--out", "data/raw"])
    record = json.loads((tmp_path / "data/raw/source.json").read_text())
    assert record["file"] == imagefolder_tarball.name and record["md5"] == file_digest(imagefolder_tarball, "md5")


def test_download_stage_failure_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = write_params(tmp_path, [local(tmp_path / "nope.tar.gz")])
    with pytest.raises(SystemExit) as exit_info:
        download.main(["--params", str(params), "--out", "data/raw"])
    assert exit_info.value.code == 2
    assert "nope.tar.gz: no such file or directory" in capsys.readouterr().err
    assert not (tmp_path / "data/raw").exists()
    assert [p.name for p in (tmp_path / "data").iterdir()] == []  # no temporary directory left either


@pytest.mark.parametrize("link", ["loop", "dangling", "file"])
def test_a_symbolic_link_in_a_directory_source_is_refused_before_copying(tmp_path, link):
    folder = make_imagefolder(tmp_path / "cifar", as_tar=False)
    bad = folder / "cifar10" / "train" / "cat" / "extra.png"
    target = {"loop": folder, "dangling": tmp_path / "nowhere.png", "file": next(bad.parent.iterdir())}[link]
    bad.symlink_to(target)
    dest = tmp_path / "raw"
    dest.mkdir()
    with pytest.raises(DataError, match=r"extra.png: a symbolic link inside the data folder"):
        fetch_first([{"kind": "local", "path": str(folder), "sha256": ""}], dest, 5)
    assert not any(dest.iterdir())
