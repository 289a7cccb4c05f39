"""dvc.yaml tells the truth: every stage depends on the code it runs, and re-runs only for its own params."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.project_imports import imported_modules, module_file

# Imported by every stage but changes no result: it only sets TensorFlow's log level.
NOT_A_DEPENDENCY = {Path("src/__init__.py")}


def stages() -> dict[str, dict]:
    """Stage definitions by name; a foreach stage by its template (``do``)."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in spec.items()}


def project_files(module: str) -> set[Path]:
    """Every project file that running ``python -m module`` loads: the module, its imports, their packages."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):  # a module's packages run their __init__ first
            path = module_file(".".join(parts[:depth]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(imported_modules(path))
    # Empty package markers carry no code a change to which could alter a result.
    return {path for path in seen if path.stat().st_size > 0}


def is_covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(ROOT)
    return relative in NOT_A_DEPENDENCY or any(relative == Path(dep) or Path(dep) in relative.parents for dep in deps)


@pytest.mark.parametrize("name", list(stages()))
def test_every_stage_depends_on_the_code_it_imports(name):
    stage = stages()[name]
    module = re.match(r"python -m ([\w.]+)", stage["cmd"]).group(1)
    deps = [dep if isinstance(dep, str) else next(iter(dep)) for dep in stage["deps"]]
    missing = sorted(str(p.relative_to(ROOT)) for p in project_files(module) if not is_covered(p, deps))
    assert not missing, f"stage {name} imports {missing} but dvc.yaml does not list them in its deps"


def test_the_dependency_walk_sees_lazy_and_package_imports():
    # The fast layers are imported inside a function, and `from src.models import attention` names a module.
    files = {str(p.relative_to(ROOT)) for p in project_files("src.stages.train")}
    assert {"src/models/fast/kernels.py", "src/models/attention.py", "src/config/params.py"} <= files


def test_run_stages_come_from_the_study_runs_and_read_only_their_own_settings():
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name in ("train", "evaluate", "heatmaps"):
        assert spec[name]["foreach"] == "${study.runs}", name
        assert "--regime ${item.regime} --variant ${item.variant} --seed ${item.seed}" in spec[name]["do"]["cmd"]
    assert spec["heatmap_study"]["matrix"] == {"regime": "${study.regimes}", "variant": "${study.variants}"}
    train_params = spec["train"]["do"]["params"]
    assert {"model.attention.${item.variant}", "study.regimes.${item.regime}"} <= set(train_params)
    # Neither a whole section nor the study's lists: adding CBAM settings, a variant, a seed or a regime
    # retrains nothing else.
    study = {"study", "study.variants", "study.seeds", "study.runs", "study.regimes"}
    assert not {"model", "train", "model.attention"} & set(train_params) and not study & set(train_params)
    for name in ("evaluate", "heatmaps"):
        assert not study & set(spec[name]["do"]["params"]), name


def test_a_study_profile_makes_one_stage_per_run_and_one_heatmap_study_per_regime_and_variant(tmp_path):
    import shutil
    import subprocess
    import sys

    from src.config.profile import write_profile

    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    params = write_profile("study", tmp_path / "params.yaml")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    listed = subprocess.run([sys.executable, "-m", "dvc", "stage", "list", "--name-only"], cwd=tmp_path, check=True,
                            capture_output=True, text=True).stdout.split()
    runs = list(params["study"]["runs"])
    for kind in ("train", "evaluate", "heatmaps"):
        assert [name for name in listed if name.startswith(f"{kind}@")] == [f"{kind}@{run}" for run in runs]
    assert [name for name in listed if name.startswith("heatmap_study@")] == [
        f"heatmap_study@{regime}-{variant}" for regime in ("short", "long") for variant in ("original", "se", "cbam")]


def test_run_outputs_are_cached_so_the_run_cache_can_share_them():
    # DVC saves a stage to the run cache only when every output is cached and none persists;
    # that is what lets `dvc pull --run-cache` bring another machine's seeds without retraining.
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name in ("train", "evaluate", "heatmaps"):
        for out in spec[name]["do"]["outs"]:
            assert isinstance(out, str), f"{name}: {out} is not a plain cached output"


STAGE_SCRIPTS = {"src.stages.download", "src.stages.preprocess", "src.stages.train", "src.stages.evaluate", "src.stages.heatmaps",
                 "src.stages.heatmap_study", "src.stages.gradcam",
                 "src.stages.compare", "src.stages.predict"}


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for folder in ("src", "benchmarks")
                                        for p in (ROOT / folder).rglob("*.py")))
def test_no_module_imports_a_stage_script(path):
    # Stage scripts are glue: what two stages share lives in a library module.
    stage_imports = {name for name in imported_modules(ROOT / path) if name in STAGE_SCRIPTS}
    assert not stage_imports, f"{path} imports the stage script(s) {sorted(stage_imports)}"


def _paths(node) -> list[str]:
    """Every plot id, data file and artifact path in a top-level section (keys and values that are strings)."""
    if isinstance(node, dict):
        return [path for key, value in node.items() for path in [key, *_paths(value)]]
    if isinstance(node, list):
        return [path for item in node for path in _paths(item)]
    return [node] if isinstance(node, str) else []


def test_plots_and_artifacts_name_no_variant():
    # Each view is one file with a variant column and the artifact is the models folder, so a new variant
    # (or a new attention kind) needs no edit here.
    from src.models.variants import VARIANTS

    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    for section in ("plots", "artifacts"):
        for path in _paths(spec[section]):
            parts = set(re.split(r"[/._-]", path.lower()))
            assert not parts & set(VARIANTS), f"dvc.yaml {section} names a variant: {path}"
