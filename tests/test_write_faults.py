"""Faults at every write of every stage: a full disk (ENOSPC) or a refused write (EACCES) at the k-th write,
and SIGKILL during the epoch backup, the model save and the publication (tests/write_faults.py).

After every fault: one ``error:`` line naming a path, no traceback, no crash, the previous outputs
byte for byte as they were, no temporary folder left (a killed stage's are cleared by its next
run), and a re-run that ends with the same outputs. On a tiny study (two variants, one seed,
two epochs) built once by running the stages in this process. Case counts: docs/robustness.md.
"""
from __future__ import annotations

import errno
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from src.stages import compare, download, evaluate, gradcam, heatmap_study, heatmaps, preprocess, train
from src.data import readers
from tests.conftest import ROOT, make_official_tarball, make_prepared, run_stage, tiny_params, with_study
from tests.write_faults import WriteFaults

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ERRORS = (errno.ENOSPC, errno.EACCES)
RUNS = (("original", 0), ("se", 0))
SCRATCH = re.compile(r"^\..+\.tmp\d+\.[a-z0-9_]+$")
# Machine timings in the metrics and curves: the only values allowed to differ between two runs.
TIMINGS = re.compile(r"img_per_s|minutes|seconds")
# What TensorFlow's C++ runtime prints to stderr on its own, whatever the stage does.
TENSORFLOW_LOG = re.compile(r"^(WARNING: All log messages before absl|[IWEF]\d{4} |To enable the following instructions)")
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}


def _without_timings(value):
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items() if not TIMINGS.search(k)}
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def state(project: Path) -> dict[str, object]:
    """Every file under ``project`` but temporaries: its bytes, or for a JSON its content without machine timings."""
    files = {}
    for path in sorted(project.rglob("*")):
        name = str(path.relative_to(project))
        if not path.is_file() or TIMINGS.search(name) or any(SCRATCH.match(part) for part in path.parts):
            continue
        files[name] = _without_timings(json.loads(path.read_text())) if path.suffix == ".json" else path.read_bytes()
    return files


def in_process(files: dict[str, object]) -> dict[str, object]:
    return {name: value for name, value in files.items() if not name.endswith(".keras")}


def as_finished(files: dict[str, object]) -> dict[str, object]:
    """The files without the training metrics' note of where a resumed run took up: the result, not its history."""
    return {name: {k: v for k, v in value.items() if k != "resumed_from_epoch"} if isinstance(value, dict) else value
            for name, value in files.items()}


def litter(project: Path) -> list[str]:
    return [str(p.relative_to(project)) for p in project.rglob("*") if SCRATCH.match(p.name)]


def assert_clean_failure(code: int, stderr: str, project: Path) -> None:
    """Exit 2 with one line that names a path of the project, and no traceback."""
    assert "Traceback" not in stderr, stderr
    assert code == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    named = Path(errors[0].removeprefix("error: ").split(": ")[0])
    # An output, or a file being built in a stage's (now removed) staging folder beside the outputs.
    assert str(named) != "output" and (project / named.parts[0]).exists(), errors[0]


def sweep(project: Path, main, argv: list[str], errors=ERRORS, ks=None, alternate: bool = False,
          reproducible: bool = True) -> int:
    """Fail each write k (all, or ``ks``) of one stage run with each error (``alternate``: with the errors in
    turn, one case per k); return the number of cases.

    The stage has run once already, so its outputs exist: a failed run must leave them as they were, and
    (if the stage is ``reproducible``) a run after the failures must write the very same outputs again.
    """
    before = state(project)
    with WriteFaults(project) as counted:
        code, stderr = run_stage(main, argv)
    assert code == 0, stderr
    if reproducible:
        assert state(project) == before  # a re-run with the same inputs writes the same outputs
    before = state(project)
    writes = len(counted.writes)
    cases = [(k, error) for k in ks or range(1, writes + 1) for error in errors]
    if alternate:
        cases = [(k, errors[k % len(errors)]) for k in ks or range(1, writes + 1)]
    for k, error in cases:
        with WriteFaults(project, fail_at=k, error=error) as faults:
            code, stderr = run_stage(main, argv)
        where = f"{errno.errorcode[error]} at write {k} ({faults.failed}) of {writes}"
        if faults.failed is None or code == 0:  # the fault was absorbed: the outputs must still be right
            assert code == 0, f"{where}: {stderr}"
        else:
            assert_clean_failure(code, stderr, project)
        assert not litter(project), where
        if reproducible or code != 0:
            assert state(project) == before, where
    code, stderr = run_stage(main, argv)
    assert code == 0 and (not reproducible or state(project) == before), stderr
    print(f"faults: {main.__module__}: {writes} writes, {len(cases)} cases")  # the counts of docs/robustness.md
    return len(cases)


def write_tiny_params(project: Path) -> None:
    """params.yaml of a tiny study whose data source is a tiny archive in ``project``."""
    archive = make_official_tarball(project / "cifar.tar.gz", train_per_class=10, test_per_class=2)
    params = with_study(tiny_params(epochs=2), variants=[v for v, _ in RUNS], seeds=[0])
    params["data"].update(sources=[{"kind": "local", "path": str(archive), "sha256": ""}], train_per_class=0,
                          test_per_class=0)
    (project / "params.yaml").write_text(yaml.safe_dump(params))


def tiny_archives_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """preprocess reads an archive of any size (the real one must hold all of CIFAR-10)."""
    monkeypatch.setattr(preprocess, "read_any", functools.partial(readers.read_any, expected_counts=None))


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A tiny study run through every stage in this process; tests work on copies of it."""
    root = tmp_path_factory.mktemp("study")
    cwd = Path.cwd()
    os.chdir(root)
    with pytest.MonkeyPatch.context() as monkeypatch:
        tiny_archives_accepted(monkeypatch)
        yield from _run_study(root, cwd)


def _run_study(root: Path, cwd: Path):
    try:
        write_tiny_params(root)
        for main, argv in ((download.main, []), (preprocess.main, [])):
            code, stderr = run_stage(main, argv)
            assert code == 0, stderr
        # Training and the heatmap study need more images per class than the tiny archive has.
        shutil.rmtree(root / "data/prepared")
        make_prepared(root / "data/prepared")
        for variant, seed in RUNS:
            for main in (train.main, evaluate.main):
                code, stderr = run_stage(main, ["--variant", variant, "--seed", str(seed)])
                assert code == 0, stderr
        for variant in dict(RUNS):
            code, stderr = run_stage(heatmap_study.main, ["--variant", variant])
            assert code == 0, stderr
        for variant, seed in RUNS:
            code, stderr = run_stage(heatmaps.main, ["--variant", variant, "--seed", str(seed)])
            assert code == 0, stderr
        for main in (gradcam.main, compare.main):
            code, stderr = run_stage(main, [])
            assert code == 0, stderr
    finally:
        os.chdir(cwd)
    yield root


@pytest.fixture
def project(study, tmp_path, monkeypatch) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(study, copy, symlinks=True)
    monkeypatch.chdir(copy)
    return copy


def test_download_and_preprocess_fail_cleanly_at_every_write(tmp_path, monkeypatch):
    tiny_archives_accepted(monkeypatch)
    monkeypatch.chdir(tmp_path)
    write_tiny_params(tmp_path)
    for main in (download.main, preprocess.main):
        assert run_stage(main, [])[0] == 0
        assert sweep(tmp_path, main, []) > 0


def test_evaluate_fails_cleanly_at_every_write(project):
    assert sweep(project, evaluate.main, ["--variant", "se", "--seed", "0"], alternate=True) > 0


def test_compare_fails_cleanly_at_every_write(project):
    assert sweep(project, compare.main, [], alternate=True) > 0


def test_heatmaps_and_gradcam_fail_cleanly_at_sampled_writes(project):
    # The heatmap stages are not bit-reproducible from run to run in one process (float noise, and the
    # randomisation check), so only their failures are compared with the outputs before them.
    assert sweep(project, heatmap_study.main, ["--variant", "original"], ks=(1, 2, 3), reproducible=False) > 0
    assert sweep(project, heatmaps.main, ["--variant", "original", "--seed", "0"], ks=(1, 2, 3, 4, 5),
                 reproducible=False) > 0
    # gradcam draws the heatmap study's summaries, which the sweep above rewrote: draw them once first,
    # so that the sweep compares gradcam's outputs with its own on the same inputs.
    assert run_stage(gradcam.main, [])[0] == 0
    assert sweep(project, gradcam.main, [], ks=(1, 2, 3, 5, 8)) > 0


def test_train_fails_cleanly_and_keeps_its_training_at_sampled_writes(project):
    """The writes before training, of the backup, of the save and of the publication, each failed once."""
    argv = ["--variant", "se", "--seed", "0"]
    with WriteFaults(project) as counted:
        assert run_stage(train.main, argv)[0] == 0
    # Two trainings in one process differ in the model's last bits (two fresh processes do not:
    # tests/test_train.py compares their bytes), so here the model is compared by its metrics.
    reference = as_finished(in_process(state(project)))
    writes = counted.writes

    def first(text: str, primitive: str | None = None) -> int:
        return next(k for k, (kind, path) in enumerate(writes, 1)
                    if text in path and primitive in (None, kind))

    moments = {"output folder check": 1, "curves": first("seed0-curves/", "open"),
               "backup": first("latest.weights.h5"), "model save": first("model.keras"),
               "publication": first("seed0.keras", "replace"),
               "publication of the curves": first("plots/train/smoke/se/seed0", "replace")}
    for moment, k in moments.items():
        with WriteFaults(project, fail_at=k, error=errno.ENOSPC) as faults:
            code, stderr = run_stage(train.main, argv)
        assert faults.failed is not None, moment
        assert not litter(project), moment
        if code == 0:  # the failed write was absorbed by the library that made it: the outputs must be right
            assert as_finished(in_process(state(project))) == reference, moment
            continue
        assert_clean_failure(code, stderr, project)
        outputs = {name: value for name, value in as_finished(in_process(state(project))).items()
                   if not name.startswith("checkpoints/")}
        assert outputs == {name: value for name, value in reference.items() if not name.startswith("checkpoints/")}
        if moment in ("model save", "publication", "publication of the curves"):
            # The finished training is not lost: the backup of the epoch before the last is still there.
            assert json.loads((project / "checkpoints/smoke/se/seed0/training_metadata.json").read_text())["epoch"] == 1
        code, stderr = run_stage(train.main, argv)
        assert code == 0, stderr
        assert as_finished(in_process(state(project))) == reference, moment
        assert not (project / "checkpoints/smoke/se/seed0").exists()


def _train(project: Path, *wrapper: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *wrapper, "src.stages.train", "--variant", "se", "--seed", "0"],
                          cwd=project, env=ENV, capture_output=True, text=True, timeout=600)


def test_train_killed_during_backup_save_and_publication_recovers(project):
    """SIGKILL at the first write of each moment; each next run clears the litter and finishes the training."""
    reference = state(project)
    for kill_at, litter_left in (("latest.weights.h5", "checkpoints/smoke/se/seed0"), ("model.keras", "metrics"),
                                 ("seed0.json", "models/smoke/se")):
        killed = _train(project, "tests.write_faults", "--kill-at", kill_at)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert any(name.startswith(litter_left) for name in litter(project)), (kill_at, litter(project))
        if kill_at != "seed0.json":  # a kill between two renames of the publication may leave it half done
            assert {k: v for k, v in state(project).items() if not k.startswith("checkpoints/")} == \
                   {k: v for k, v in reference.items() if not k.startswith("checkpoints/")}
    rerun = _train(project)
    assert rerun.returncode == 0, rerun.stderr
    assert not litter(project) and not (project / "checkpoints/smoke/se/seed0").exists()
    # The same outputs; their values match the reference (trained in this process) to float noise only,
    # as a resumed run does (tests/test_train.py compares them).
    assert set(state(project)) == set(reference)
    finished = json.loads((project / "metrics/train/smoke/se/seed0.json").read_text())
    assert finished["epochs"] == 2 and finished["resumed_from_epoch"] == 1


def test_a_full_disk_during_the_epoch_backup_is_one_line_not_a_crash(project):
    """A file-size limit makes the first backup's write fail for real, inside the C library, as on a full disk."""
    limit = 20_000  # bytes; the tiny model's backup is about 46 KB
    script = ("import resource, runpy, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
              "sys.argv = ['src.stages.train', '--variant', 'se', '--seed', '0']; "
              "runpy.run_module('src.stages.train', run_name='__main__', alter_sys=True)")
    before = state(project)
    proc = subprocess.run([sys.executable, "-c", script], cwd=project, env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert_clean_failure(proc.returncode, proc.stderr, project)
    ours = [line for line in proc.stderr.splitlines() if not TENSORFLOW_LOG.match(line)]
    assert len(ours) == 1 and "checkpoints/smoke/se/seed0/latest.weights.h5: File too large" in ours[0], proc.stderr
    assert not litter(project)
    assert {k: v for k, v in state(project).items() if not k.startswith("checkpoints/")} == before
