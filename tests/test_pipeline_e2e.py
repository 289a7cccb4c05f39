"""End to end: the real `smoke` pipeline on the offline CIFAR-10 archive, in a temporary copy of the repo.

Checks what a new user would: every stage runs, quietly; a second `dvc repro` does nothing;
an experiment re-runs only what its param feeds (a new seed trains only its runs); `dvc metrics
show` lists the variants and `dvc plots show` renders the page; and a second machine trains
other seeds, shares them through a DVC remote's run cache, and the first assembles the study
without retraining anything.

The commands run once per module, in the order a user would type them, inside a chain of
module-scoped fixtures (``study`` -> ``experiments`` -> ``plots_page`` -> ``two_machines``); each
fixture records what its commands printed and wrote before the next one changes the workspace,
and each test checks one scenario on those records. So the tests pass or fail alone, in any
order and under ``-k``, while the pipeline runs only once.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"
VARIANTS = ("original", "se", "cbam")
REGIME = "smoke"  # the smoke profile's one regime
RUNS = tuple(f"{REGIME}-{variant}-{seed}" for variant in VARIANTS for seed in (0, 1))
STAGES = ("download", "preprocess", *(f"{kind}@{run}" for kind in ("train", "evaluate") for run in RUNS),
          *(f"heatmap_study@{REGIME}-{variant}" for variant in VARIANTS), *(f"heatmaps@{run}" for run in RUNS),
          "gradcam", "compare")
# What a normal run must not print: TensorFlow's C++ INFO banners and tf.function retracing warnings.
NOISE = ("I0000", "cpu_feature_guard", "oneDNN custom operations", "retracing", "Traceback")
EXPERIMENTS = ("more-cams", "cbam-k3", "no-cbam", "bigger-val")


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


def started(output: str, kind: str) -> list[str]:
    """The sorted "Running stage '<kind>@...'" lines of a DVC command's output."""
    return sorted(line for line in output.splitlines() if line.startswith(f"Running stage '{kind}@"))


@dataclass(frozen=True)
class Project:
    """The temporary copy of the repo on the `smoke` profile, committed to git: ``repo`` is machine A."""

    tmp: Path
    repo: Path
    env: dict

    def dvc(self, *args: str, cwd: Path | None = None) -> str:
        return run([sys.executable, "-m", "dvc", *args], cwd or self.repo, self.env)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return run(["git", *args], cwd or self.repo, self.env)

    def python(self, *args: str, cwd: Path | None = None) -> str:
        return run([sys.executable, *args], cwd or self.repo, self.env)

    def read(self, name: str) -> str:
        return (self.repo / name).read_text()


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    """The repo copied, switched to `smoke`, pointed at the offline archive and committed; nothing run yet."""
    if not ARCHIVE.is_file():
        message = f"offline CIFAR-10 archive not found at {ARCHIVE}"
        if os.environ.get("REQUIRE_E2E"):
            pytest.fail(message)
        pytest.skip(message)
    tmp = tmp_path_factory.mktemp("e2e")
    repo = tmp / "repo"
    repo.mkdir()
    copy_project(repo)
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    project = Project(tmp, repo, env)

    run([sys.executable, "-m", "src.config.profile", "smoke"], repo, env)
    params = yaml.safe_load(project.read("params.yaml"))
    assert params["profile"] == "smoke"
    # Offline: skip the official URL (it cannot connect here) and point at the shared archive.
    params["data"]["sources"] = [s for s in params["data"]["sources"] if s["kind"] == "local"]
    params["data"]["sources"][0]["path"] = str(ARCHIVE)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "smoke"]):
        project.git(*cmd)
    return project


@dataclass(frozen=True)
class Study:
    """The first `dvc repro` (its output and the files it wrote), the second, dvc.lock and `dvc metrics show`."""

    output: str
    source: dict
    models: dict[str, bool]
    rows: dict[str, dict]
    figures: dict[str, bool]
    cam: dict
    cam_study: dict
    report: str
    second_output: str
    lock: dict
    metrics_shown: str
    metrics_table: str


@pytest.fixture(scope="module")
def study(project: Project) -> Study:
    output = project.dvc("repro")
    files = {
        "source": json.loads(project.read("data/raw/source.json")),
        "models": {v: (project.repo / "models" / REGIME / v / "seed1.keras").is_file() for v in VARIANTS},
        "rows": {v: json.loads(project.read(f"metrics/compare/{REGIME}/{v}.json")) for v in VARIANTS},
        "figures": {f: (project.repo / "plots/gradcam" / REGIME / f).is_file()
                    for f in ("heatmaps.png", "randomization.png")},
        "cam": json.loads(project.read("metrics/cam/smoke/cbam/seed1.json")),
        "cam_study": json.loads(project.read("metrics/cam/smoke/cbam/study.json")),
        "report": project.read("metrics/comparison.md"),
    }
    second_output = project.dvc("repro")
    lock = yaml.safe_load(project.read("dvc.lock"))
    metrics_shown = json.dumps(json.loads(project.dvc("metrics", "show", "--json")))
    metrics_table = project.dvc("metrics", "show")
    return Study(output=output, **files, second_output=second_output, lock=lock, metrics_shown=metrics_shown,
                 metrics_table=metrics_table)


@dataclass(frozen=True)
class Experiments:
    """Four `dvc exp run -S` in a row (each starts from the last one's workspace), then `exp show`, `metrics diff`."""

    outputs: dict[str, str]  # experiment name -> what `dvc exp run` printed
    reports: dict[str, str]  # experiment name -> metrics/comparison.md right after it
    table: str
    diff: str


@pytest.fixture(scope="module")
def experiments(project: Project, study: Study) -> Experiments:
    # (`python -m src.config.study` arguments that change the runs first, `-S` settings)
    settings = {
        "more-cams": ([], ["gradcam.per_class=2"]),
        "cbam-k3": ([], ["model.attention.cbam.kernel_size=3"]),
        "no-cbam": (["--variants", "original", "se", "--seeds", "smoke=0-2"], []),
        "bigger-val": (["--variants", "original"], ["data.val_fraction=0.2"]),
    }
    outputs, reports = {}, {}
    for name in EXPERIMENTS:
        runs, values = settings[name]
        if runs:
            project.python("-m", "src.config.study", *runs)
        assignments = [arg for setting in values for arg in ("-S", setting)]
        outputs[name] = project.dvc("exp", "run", *assignments, "--name", name)
        reports[name] = project.read("metrics/comparison.md")
    table = json.dumps(json.loads(project.dvc("exp", "show", "--json")))
    diff = project.dvc("metrics", "diff", "HEAD", "--all")
    return Experiments(outputs, reports, table, diff)


@pytest.fixture(scope="module")
def plots_page(project: Project, experiments: Experiments) -> str:
    """`dvc plots show` in the workspace the last experiment left: the page's HTML."""
    project.dvc("plots", "show", "-o", "plots_html")
    return project.read("plots_html/index.html")


@dataclass(frozen=True)
class TwoMachines:
    """Back at the committed smoke study, machine B (a clone) trains seed 3 and pushes it; A pulls and assembles."""

    restored: str  # A's `dvc repro` after `git checkout -- .`
    b_output: str
    a_output: str
    report: str


@pytest.fixture(scope="module")
def two_machines(project: Project, plots_page: str) -> TwoMachines:
    # From the same commit, B trains seed 3 (seed 2 was an experiment) and shares it through the
    # remote's run cache; A asks for the same seeds and assembles the study untrained.
    project.git("checkout", "--", ".")  # back from the last experiment to the smoke study
    shutil.rmtree(project.repo / "plots_html")
    restored = project.dvc("repro")
    project.dvc("remote", "add", "-d", "team", str(project.tmp / "remote"))
    project.git("add", "-A")
    project.git("commit", "-qm", "seeds 0 and 1")
    project.dvc("push", "--run-cache")
    machine_b = project.tmp / "machine-b"
    run(["git", "clone", "-q", str(project.repo), str(machine_b)], project.tmp, project.env)
    for machine in (machine_b, project.repo):
        project.python("-m", "src.config.study", "--seeds", "smoke=0,1,3", cwd=machine)
    b_output = project.dvc("repro", "--pull", cwd=machine_b)
    project.dvc("push", "--run-cache", cwd=machine_b)
    a_output = project.dvc("repro", "--pull")
    return TwoMachines(restored, b_output, a_output, project.read("metrics/comparison.md"))


def test_every_stage_runs_quietly_on_the_offline_archive(study):
    """`dvc repro` on a fresh copy runs all 25 stages (two seeds x three variants), prints no TensorFlow
    noise or traceback, and takes its data from the offline archive, checksum recorded."""
    for stage in STAGES:
        assert f"Running stage '{stage}'" in study.output, stage
    assert not [line for line in study.output.splitlines() if any(noise in line for noise in NOISE)], \
        study.output[-3000:]
    assert study.source["sha256"] == "7854ea059adc7729ab5267c5269ccc01e6eaeea6549d5f3c834c106bae86e8ee"


def test_the_study_writes_models_metrics_figures_and_report(study):
    """Every variant has a saved model and a metrics row; the gradcam figures exist; the heatmap study chose
    a map with a ROAD score; the report compares all three variants over 2 seeds and states its choice rule."""
    for variant in VARIANTS:
        assert study.models[variant], variant
        row = study.rows[variant]
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["params"] > 0
    for figure, present in study.figures.items():
        assert present, figure
    chosen = study.cam_study["chosen"]
    assert chosen in study.cam_study["maps"] and "road" in study.cam_study["maps"][chosen]
    assert study.cam["map"] == chosen and list(study.cam["maps"]) == [chosen]
    assert "| CBAM" in study.report
    assert "paired t-test over 2 seeds" in study.report
    assert "**Choice rule.**" in study.report


def test_a_second_repro_does_nothing_and_the_lock_records_each_runs_own_params(study):
    """Nothing changed, so nothing re-runs; dvc.lock records the profile, and a run's stage records its own
    variant's attention settings only (so tuning CBAM cannot invalidate SE's runs)."""
    assert "Data and pipelines are up to date." in study.second_output
    assert study.lock["stages"]["compare"]["params"]["params.yaml"]["profile"] == "smoke"
    assert "model.attention.se" in study.lock["stages"]["train@smoke-se-1"]["params"]["params.yaml"]
    assert "model.attention.cbam" not in study.lock["stages"]["train@smoke-se-1"]["params"]["params.yaml"]


def test_dvc_metrics_show_prints_the_headline_within_120_columns(study):
    """`dvc metrics show` finds one headline file per regime and variant and no other, and its table fits 120
    columns; the details stay in metrics/compare/."""
    for variant in VARIANTS:
        assert f"metrics/headline/{REGIME}-{variant}.json" in study.metrics_shown
    assert "metrics/compare" not in study.metrics_shown
    lines = study.metrics_table.splitlines()
    assert len(lines) >= 1 + len(VARIANTS) and max(map(len, lines)) <= 120, study.metrics_table
    assert "acc_lo" in lines[0] and "d_pt" in lines[0] and "train_min" in lines[0]


def test_a_figure_param_reruns_only_the_figures(experiments):
    """`-S gradcam.per_class=2` (the grid size) re-runs gradcam, and no training, heatmap study or preprocessing."""
    output = experiments.outputs["more-cams"]
    assert "Running stage 'gradcam'" in output and "Running stage 'train@" not in output
    assert "Running stage 'heatmap" not in output  # the grid size is the figures' business only
    assert "Running stage 'preprocess'" not in output


def test_a_cbam_setting_retrains_cbam_alone(experiments):
    """`-S model.attention.cbam.kernel_size=3` retrains and re-evaluates CBAM's runs, not Original's or SE's."""
    output = experiments.outputs["cbam-k3"]
    assert "Running stage 'train@smoke-cbam-0'" in output and "Running stage 'evaluate@smoke-cbam-1'" in output
    assert "Running stage 'train@original" not in output and "Running stage 'train@se" not in output


def test_variants_and_seeds_select_the_runs(experiments):
    """study.variants selects what is compared: dropping CBAM and adding seed 2 trains only the new seed's runs,
    and the report compares Original and SE over 3 seeds without CBAM."""
    output = experiments.outputs["no-cbam"]
    trained = started(output, "train")
    assert trained == ["Running stage 'train@smoke-original-2':", "Running stage 'train@smoke-se-2':"], trained
    assert "Running stage 'compare'" in output
    assert "| CBAM" not in experiments.reports["no-cbam"]
    assert "paired t-test over 3 seeds" in experiments.reports["no-cbam"]


def test_a_data_param_reruns_from_preprocess(experiments):
    """`-S data.val_fraction=0.2` re-splits the data (preprocess runs) without downloading again."""
    output = experiments.outputs["bigger-val"]
    assert "Running stage 'preprocess'" in output and "Running stage 'download'" not in output


def test_exp_show_and_metrics_diff_list_the_experiments(experiments):
    """`dvc exp show` lists the four named experiments with every variant's test accuracy; `dvc metrics diff`
    compares the workspace (the last experiment: Original only) with HEAD."""
    for name in EXPERIMENTS:
        assert name in experiments.table, name
    for variant in VARIANTS:
        assert f"metrics/headline/{REGIME}-{variant}.json" in experiments.table
    assert "d_pt" in experiments.table
    assert f"metrics/headline/{REGIME}-original.json" in experiments.diff and "acc" in experiments.diff


def test_plots_show_renders_the_page_offline(plots_page):
    """`dvc plots show` draws the curves, the confusion matrix, the seed strip and band plots and the figures,
    with Vega inside the page (the committed template) and nothing loaded from a CDN."""
    for expected in ("Validation accuracy", "Confusion matrix", "heatmaps.png", "val_curves.png"):
        assert expected in plots_page, expected
    assert "vega-embed 6.29.0" in plots_page and "<script src=" not in plots_page and "cdn.jsdelivr" not in plots_page
    for title in ("Test accuracy per training seed", "Validation accuracy (mean over seeds, min-max band)"):
        assert title in plots_page, title


def test_back_at_the_commit_every_run_comes_from_the_local_run_cache(two_machines):
    """After the experiments, `git checkout` plus `dvc repro` restores the committed study without training."""
    assert "Running stage 'train@" not in two_machines.restored


def test_another_machine_trains_only_its_new_seed(two_machines):
    """Machine B, a clone whose seeds are [0, 1, 3], pulls seeds 0 and 1 from the remote and trains seed 3 only."""
    b_trained = started(two_machines.b_output, "train")
    assert b_trained == [f"Running stage 'train@{REGIME}-{v}-3':" for v in sorted(VARIANTS)], b_trained


def test_seeds_from_another_machine_arrive_through_the_remote_untrained(two_machines):
    """Machine A, asking for the same seeds, takes B's seed-3 runs from the remote's run cache (no train,
    evaluate or heatmaps stage runs) and its report covers 3 seeds of CBAM."""
    for kind in ("train", "evaluate", "heatmaps"):
        assert f"Running stage '{kind}@" not in two_machines.a_output, two_machines.a_output[-3000:]
        assert f"Stage '{kind}@smoke-se-3' is cached - skipping run" in two_machines.a_output, kind  # machine B's run
    assert "paired t-test over 3 seeds" in two_machines.report
    assert "| CBAM      | 3      |" in two_machines.report  # machine B's run
