"""Failed writes end as one error line: a full disk for real (tmpfs), an output path that cannot be written."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from src.config.profile import build_profile
from tests.conftest import ROOT, make_imagefolder

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def params_for(archive: Path) -> dict:
    params = build_profile("smoke")
    params["data"]["sources"] = [{"kind": "local", "path": str(archive), "sha256": ""}]
    return params


def run_download(cwd: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "src.stages.download", "--out", str(out)], cwd=cwd, env=ENV,
                          capture_output=True, text=True)


@pytest.fixture
def small_disk(tmp_path):
    """A 64 KiB tmpfs: writing more than that fails with ENOSPC, as on a full disk."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {proc.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_one_error_and_leaves_nothing_behind(tmp_path, small_disk):
    # An archive of about 200 KB cannot be copied onto the 64 KiB disk.
    archive = make_imagefolder(tmp_path / "cifar.tar.gz", train_per_class=20, test_per_class=4)
    assert archive.stat().st_size > 100_000
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_for(archive)))
    proc = run_download(tmp_path, small_disk / "raw")
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0] and "disk is full" in errors[0]
    assert "Traceback" not in proc.stderr
    assert list(small_disk.iterdir()) == []  # no partial copy, no temporary directory


def test_an_output_path_that_cannot_be_written_is_one_error(tmp_path):
    archive = make_imagefolder(tmp_path / "cifar.tar.gz")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_for(archive)))
    (tmp_path / "data").write_text("a file where the data folder should be")
    proc = run_download(tmp_path, tmp_path / "data" / "raw")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "data" in errors[0], proc.stderr
    assert (tmp_path / "data").read_text() == "a file where the data folder should be"


def test_ctrl_c_ends_a_stage_with_one_line_and_no_traceback(capsys):
    from src.core.errors import EXIT_INTERRUPTED, stage_main

    @stage_main
    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exit_info:
        interrupted()
    assert exit_info.value.code == EXIT_INTERRUPTED
    assert capsys.readouterr().err.splitlines() == [
        "error: test_errors interrupted (SIGINT); its outputs are as they were, run it again to finish"]


def test_a_failed_rename_names_the_output_not_its_temporary_source():
    import errno

    from src.core.errors import os_error_message

    failure = OSError(errno.EACCES, "Permission denied", "metrics/.staging.tmp1.x/m.json", None, "metrics/m.json")
    assert os_error_message(failure).startswith("metrics/m.json: Permission denied")
