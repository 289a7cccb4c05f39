"""End to end: the real `smoke` pipeline on the offline CIFAR-10 archive, in a temporary copy of the repo.

Checks what a new user would: every stage runs, quietly; a second `dvc repro` does nothing;
an experiment re-runs only what its param feeds (a new seed trains only its runs); `dvc metrics
show` lists the variants and `dvc plots show` renders the page; and a second machine trains
other seeds, shares them through a DVC remote's run cache, and the first assembles the study
without retraining anything.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
VARIANTS = ("original", "se", "cbam")
RUNS = tuple(f"{variant}-{seed}" for variant in VARIANTS for seed in (0, 1))
STAGES = ("download", "preprocess", *(f"{kind}@{run}" for kind in ("train", "evaluate", "heatmaps") for run in RUNS),
          "gradcam", "compare")
# What a normal run must not print: TensorFlow's C++ INFO banners and tf.function retracing warnings.
NOISE = ("I0000", "cpu_feature_guard", "oneDNN custom operations", "retracing", "Traceback")


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout + proc.stderr


def copy_project(dest: Path) -> None:
    """Tracked and untracked-but-not-ignored files: what a clone plus the working changes holds."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


@pytest.mark.e2e
def test_smoke_pipeline_end_to_end(tmp_path):
    if not ARCHIVE.is_file():
        message = f"offline CIFAR-10 archive not found at {ARCHIVE}"
        if os.environ.get("REQUIRE_E2E"):
            pytest.fail(message)
        pytest.skip(message)
    repo = tmp_path / "repo"
    repo.mkdir()
    copy_project(repo)
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    dvc = [sys.executable, "-m", "dvc"]

    run([sys.executable, "-m", "pipeline.profile", "smoke"], repo, env)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert params["profile"] == "smoke"
    # Offline: skip the official URL (it cannot connect here) and point at the shared archive.
    params["data"]["sources"] = [s for s in params["data"]["sources"] if s["kind"] == "local"]
    params["data"]["sources"][0]["path"] = str(ARCHIVE)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "smoke"]):
        run(["git", *cmd], repo, env)

    out = run([*dvc, "repro"], repo, env)
    for stage in STAGES:
        assert f"Running stage '{stage}'" in out, stage
    assert not [line for line in out.splitlines() if any(noise in line for noise in NOISE)], out[-3000:]
    source = json.loads((repo / "data/raw/source.json").read_text())
    assert source["sha256"] == "7854ea059adc7729ab5267c5269ccc01e6eaeea6549d5f3c834c106bae86e8ee"
    for variant in VARIANTS:
        assert (repo / "models" / variant / "seed1.keras").is_file()
        row = json.loads((repo / "metrics/compare" / f"{variant}.json").read_text())
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["params"] > 0
    for figure in ("heatmaps.png", "randomization.png"):
        assert (repo / "plots/gradcam" / figure).is_file(), figure
    cam = json.loads((repo / "metrics/cam/cbam/seed1.json").read_text())
    assert cam["chosen"] in cam["maps"] and "road" in cam["maps"][cam["chosen"]]
    assert "| CBAM" in (repo / "metrics/comparison.md").read_text()
    assert "paired t-test over 2 seeds" in (repo / "metrics/comparison.md").read_text()
    assert "**Choice rule.**" in (repo / "metrics/comparison.md").read_text()

    assert "Data and pipelines are up to date." in run([*dvc, "repro"], repo, env)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert lock["stages"]["compare"]["params"]["params.yaml"]["profile"] == "smoke"
    assert "model.attention.se" in lock["stages"]["train@se-1"]["params"]["params.yaml"]
    assert "model.attention.cbam" not in lock["stages"]["train@se-1"]["params"]["params.yaml"]

    shown = json.loads(run([*dvc, "metrics", "show", "--json"], repo, env))
    files = json.dumps(shown)
    for variant in VARIANTS:
        assert f"metrics/compare/{variant}.json" in files

    # Experiments: any param through -S; only the stages that depend on it re-run.
    cam_exp = run([*dvc, "exp", "run", "-S", "gradcam.per_class=2", "--name", "more-cams"], repo, env)
    assert "Running stage 'gradcam'" in cam_exp and "Running stage 'train@" not in cam_exp
    assert "Running stage 'heatmaps@" not in cam_exp  # the grid size is the figures' business only
    assert "Running stage 'preprocess'" not in cam_exp
    # A CBAM setting retrains CBAM alone.
    train_exp = run([*dvc, "exp", "run", "-S", "model.attention.cbam.kernel_size=3", "--name", "cbam-k3"], repo, env)
    assert "Running stage 'train@cbam-0'" in train_exp and "Running stage 'evaluate@cbam-1'" in train_exp
    assert "Running stage 'train@original" not in train_exp and "Running stage 'train@se" not in train_exp
    # train.variants selects what is compared: dropping CBAM and adding a seed trains the new seed's runs only.
    subset_exp = run([*dvc, "exp", "run", "-S", "train.variants=[original,se]", "-S", "train.seeds=[0,1,2]",
                      "--name", "no-cbam"], repo, env)
    trained = sorted(line for line in subset_exp.splitlines() if line.startswith("Running stage 'train@"))
    assert trained == ["Running stage 'train@original-2':", "Running stage 'train@se-2':"], trained
    assert "Running stage 'compare'" in subset_exp
    assert "| CBAM" not in (repo / "metrics/comparison.md").read_text()
    assert "paired t-test over 3 seeds" in (repo / "metrics/comparison.md").read_text()
    data_exp = run([*dvc, "exp", "run", "-S", "data.val_fraction=0.2", "-S", "train.variants=[original]",
                    "--name", "bigger-val"], repo, env)
    assert "Running stage 'preprocess'" in data_exp and "Running stage 'download'" not in data_exp
    table = json.dumps(json.loads(run([*dvc, "exp", "show", "--json"], repo, env)))
    for name in ("more-cams", "cbam-k3", "no-cbam", "bigger-val"):
        assert name in table, name
    for variant in VARIANTS:
        assert f"metrics/compare/{variant}.json" in table
    assert "test_accuracy" in table
    diff = run([*dvc, "metrics", "diff", "HEAD", "--all"], repo, env)
    assert "metrics/compare/original.json" in diff and "test_accuracy" in diff  # the last experiment's variant

    run([*dvc, "plots", "show", "-o", "plots_html"], repo, env)
    page = (repo / "plots_html" / "index.html").read_text()
    for expected in ("Validation accuracy", "Confusion matrix", "heatmaps.png", "val_curves.png"):
        assert expected in page, expected
    # Offline: the committed template (.dvc/config) carries Vega; nothing is loaded from a CDN.
    assert "vega-embed 6.29.0" in page and "<script src=" not in page and "cdn.jsdelivr" not in page
    for title in ("Test accuracy per training seed", "Validation accuracy (mean over seeds, min-max band)"):
        assert title in page, title

    # Seeds on two machines through one DVC remote: from the same commit, B trains seed 3 (seed 2 was an
    # experiment above) and shares it through the remote's run cache; A asks for the same seeds and
    # assembles the study untrained.
    run(["git", "checkout", "--", "."], repo, env)  # back from the last experiment to the smoke study
    shutil.rmtree(repo / "plots_html")
    assert "Running stage 'train@" not in run([*dvc, "repro"], repo, env)  # all in the local run cache
    remote = tmp_path / "remote"
    run([*dvc, "remote", "add", "-d", "team", str(remote)], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-qm", "seeds 0 and 1"], repo, env)
    run([*dvc, "push", "--run-cache"], repo, env)
    machine_b = tmp_path / "machine-b"
    run(["git", "clone", "-q", str(repo), str(machine_b)], tmp_path, env)
    for machine in (machine_b, repo):
        params = yaml.safe_load((machine / "params.yaml").read_text())
        params["train"]["seeds"] = [0, 1, 3]
        (machine / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    b_out = run([*dvc, "repro", "--pull"], machine_b, env)
    b_trained = sorted(line for line in b_out.splitlines() if line.startswith("Running stage 'train@"))
    assert b_trained == [f"Running stage 'train@{v}-3':" for v in sorted(VARIANTS)], b_trained
    run([*dvc, "push", "--run-cache"], machine_b, env)
    a_out = run([*dvc, "repro", "--pull"], repo, env)
    for kind in ("train", "evaluate", "heatmaps"):
        assert f"Running stage '{kind}@" not in a_out, a_out[-3000:]
        assert f"Stage '{kind}@se-3' is cached - skipping run" in a_out, kind  # machine B's run
    report = (repo / "metrics/comparison.md").read_text()
    assert "paired t-test over 3 seeds" in report and "| CBAM      | 3      |" in report  # machine B's run
