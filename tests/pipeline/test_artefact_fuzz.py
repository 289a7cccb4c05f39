"""Fuzzing every artefact boundary: a stage given a damaged input from an earlier stage says so in one line.

A tiny project is built once (prepared data, two untrained tiny models, their evaluate and
heatmaps outputs, fake training metrics and curves). For each stage and each input it reads
from an earlier stage (``BOUNDARIES``), Hypothesis damages a copy of the file -- truncated,
bytes flipped, emptied; an npz with an array dropped, retyped, reshaped, cut short or with a
label beyond the classes; a JSON document with a key dropped or retyped, a list or object
shrunk, or replaced by ``[]``; a model with the bytes of a 9-class model; a curve without its
column -- and runs the stage's ``main`` in process. Property: the stage exits 2 with one
``error:`` line naming the file and the command that rebuilds it (``dvc repro ...``), no
traceback, and every file of the project as it was. A damage the file's reader cannot see
(a flipped byte in a zip field nobody reads, JSON whitespace) must leave the content the
reader returns unchanged; a damage that makes another valid document (a digit changed) must
let the stage succeed or fail in that same one-line way. docs/robustness.md has the counts.
"""
from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.core.errors import DataError
from src.paths import Run, cam_study
from tests.conftest import REGIME, with_study, make_official_tarball, make_prepared, run_stage, snapshot, tiny_params

pytestmark = pytest.mark.slow  # builds a tiny study, then 21 boundaries x 10 cases (minutes)

RUN = Run("original", 0, REGIME)
OTHER = Run("se", 0, REGIME)
RUN_ARGS = ["--variant", RUN.variant, "--seed", str(RUN.seed)]
STUDY = str(cam_study(RUN.regime, RUN.variant))
EXAMPLES = int(os.environ.get("ARTEFACT_FUZZ_EXAMPLES", 10))
OUTCOMES: dict[str, Counter] = {}


@dataclass(frozen=True)
class Boundary:
    stage: str  # the module under src/ whose main runs
    argv: tuple[str, ...]
    file: str  # relative to the project
    kind: str  # "npz", "json", "keras", "tsv"
    rebuild: str


def _boundaries() -> dict[str, Boundary]:
    run_stage_args = tuple(RUN_ARGS)
    prepared = {f"data/prepared/{name}": "dvc repro preprocess" for name in ("test.npz", "stats.json")}
    per_stage = {
        ("preprocess", ()): {"data/raw/source.json": "dvc repro download"},
        ("train", run_stage_args): {"data/prepared/train.npz": "dvc repro preprocess",
                                    "data/prepared/val.npz": "dvc repro preprocess",
                                    "data/prepared/stats.json": "dvc repro preprocess"},
        ("evaluate", run_stage_args): {**prepared, str(RUN.model()): f"dvc repro train@{RUN.name}"},
        ("heatmap_study", ("--variant", RUN.variant)): {"data/prepared/val.npz": "dvc repro preprocess",
                                                        str(RUN.model()): f"dvc repro train@{RUN.name}"},
        ("heatmaps", run_stage_args): {"data/prepared/test.npz": "dvc repro preprocess",
                                       STUDY: f"dvc repro heatmap_study@{RUN.regime}-{RUN.variant}",
                                       str(RUN.predictions): f"dvc repro evaluate@{RUN.name}",
                                       str(RUN.model()): f"dvc repro train@{RUN.name}"},
        ("gradcam", ()): {**prepared, str(RUN.cam_metrics): f"dvc repro heatmaps@{RUN.name}",
                          STUDY: f"dvc repro heatmap_study@{RUN.regime}-{RUN.variant}",
                          str(RUN.predictions): f"dvc repro evaluate@{RUN.name}",
                          str(RUN.model()): f"dvc repro train@{RUN.name}"},
        ("compare", ()): {str(RUN.train_metrics): f"dvc repro train@{RUN.name}",
                          str(RUN.test_metrics): f"dvc repro evaluate@{RUN.name}",
                          str(RUN.cam_metrics): f"dvc repro heatmaps@{RUN.name}",
                          STUDY: f"dvc repro heatmap_study@{RUN.regime}-{RUN.variant}",
                          str(RUN.cam_scores): f"dvc repro heatmaps@{RUN.name}",
                          str(RUN.predictions): f"dvc repro evaluate@{RUN.name}",
                          str(RUN.curve("time", "train_seconds")): f"dvc repro train@{RUN.name}"},
    }
    kinds = {".npz": "npz", ".json": "json", ".keras": "keras", ".tsv": "tsv"}
    return {f"{stage} <- {file}": Boundary(stage, argv, file, kinds[Path(file).suffix], rebuild)
            for (stage, argv), files in per_stage.items() for file, rebuild in files.items()}


BOUNDARIES = _boundaries()


def fake_training_outputs(run: Run) -> None:
    """The train stage's metrics and dvclive curves, as compare reads them (training is not what is fuzzed here)."""
    run.train_metrics.parent.mkdir(parents=True, exist_ok=True)
    run.train_metrics.write_text(json.dumps({
        "variant": run.variant, "training_seed": run.seed, "params": 1000, "mflops_per_image": 1.5, "epochs": 2,
        "resumed_from_epoch": 0, "best_val_accuracy": 0.2, "train_minutes": 0.1, "train_img_per_s": 500.0,
        "precision": "float32", "environment": {"cpu": "Test CPU"}}))
    for split, metric in (("time", "train_seconds"), ("eval", "accuracy"), ("eval", "loss"), ("train", "loss")):
        path = run.curve(split, metric)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"timestamp\tstep\t{metric}\n1\t0\t0.5\n2\t1\t0.4\n")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """A whole tiny project whose every stage has run once (built once per module: models are never trained)."""
    from src.stages import evaluate, heatmap_study, heatmaps
    from src.models.io import save_model
    from src.models.resnet import build_variant

    root = tmp_path_factory.mktemp("project")
    params = tiny_params(epochs=1, batch_size=10)
    with_study(params, variants=[RUN.variant, OTHER.variant], seeds=[0])
    params["evaluate"].update(tta_flip=False, tta_shift=0)
    params["gradcam"].update(methods=["gradcam"], layers=["stage1", "stage2"], faithfulness_per_class=1,
                             faithfulness_steps=4, sanity_per_class=1, selection_per_class=1, per_class=1,
                             batch_size=16)
    with contextlib.chdir(root):
        Path("params.yaml").write_text(yaml.safe_dump(params))
        raw = Path("data/raw")
        raw.mkdir(parents=True)
        make_official_tarball(raw / "cifar-10-python.tar.gz")
        (raw / "source.json").write_text(json.dumps({"kind": "local", "location": "generated", "format": "official",
                                                     "file": "cifar-10-python.tar.gz", "sha256": None}))
        make_prepared(Path("data/prepared"), train_per_class=3, val_per_class=1, test_per_class=2)
        for run in (RUN, OTHER):
            run.model().parent.mkdir(parents=True)
            save_model(build_variant(run.variant, params["model"]), run.model())
            fake_training_outputs(run)
            assert run_stage(evaluate.main, ["--variant", run.variant, "--seed", "0"])[0] == 0
        code, stderr = run_stage(heatmap_study.main, ["--variant", RUN.variant])
        assert code == 0, stderr
        code, stderr = run_stage(heatmaps.main, RUN_ARGS)
        assert code == 0, stderr
        # The second variant's heatmap results are the first's, relabelled: measuring them again would only cost time.
        OTHER.cam_scores.parent.mkdir(parents=True)
        OTHER.cam_metrics.parent.mkdir(parents=True)
        shutil.copyfile(STUDY, cam_study(OTHER.regime, OTHER.variant))
        shutil.copyfile(RUN.cam_scores, OTHER.cam_scores)
        summary = json.loads(RUN.cam_metrics.read_text()) | {"variant": OTHER.variant}
        OTHER.cam_metrics.write_text(json.dumps(summary))
        nine = build_variant(RUN.variant, params["model"], num_classes=9)
        save_model(nine, root.parent / "nine-classes.keras")
    return root


# --- damage -------------------------------------------------------------------------------------------------------

RETYPED = st.sampled_from(["text", [], {}, None, True, -1.5, 10**20])


def _json_paths(value, prefix=()) -> list[tuple]:
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append(prefix + (key,))
        found.extend(_json_paths(child, prefix + (key,)))
    return found


def damage_json(data, text: str) -> str:
    document = json.loads(text)
    action = data.draw(st.sampled_from(["drop key", "retype", "shrink", "empty list"]), label="json action")
    paths = _json_paths(document)
    if action == "empty list" or not paths:
        return "[]"
    if action == "shrink":
        containers = [p for p in [(), *paths] if isinstance(_get(document, p), (list, dict)) and _get(document, p)]
        target = _get(document, data.draw(st.sampled_from(containers), label="container"))
        target.pop(next(reversed(list(target))) if isinstance(target, dict) else -1)
        return json.dumps(document)
    path = data.draw(st.sampled_from(paths), label="path")
    parent = _get(document, path[:-1])
    if action == "drop key" and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(RETYPED, label="value")
    return json.dumps(document)


def _get(document, path):
    for key in path:
        document = document[key]
    return document


def damage_npz(data, path: Path) -> None:
    with np.load(path) as loaded:
        arrays = {name: loaded[name] for name in loaded.files}
    name = data.draw(st.sampled_from(sorted(arrays)), label="array")
    action = data.draw(st.sampled_from(["drop", "retype", "reshape", "cut short", "class beyond"]), label="npz action")
    array = arrays[name]
    if action == "drop":
        del arrays[name]
    elif action == "retype":
        arrays[name] = array.astype(data.draw(st.sampled_from([np.float32, np.uint16, np.bool_, "U3"]), label="dtype"))
    elif action == "reshape":
        arrays[name] = array[..., 0] if array.ndim > 1 else array[:, None]
    elif action == "cut short":
        arrays[name] = array[:-1]
    elif array.ndim == 1 and np.issubdtype(array.dtype, np.integer):  # a label of an eleventh class
        arrays[name] = array.copy()
        arrays[name][0] = 10
    else:  # one column, pixel value or score too many: a tenth class's column dropped, or values out of range
        arrays[name] = array[..., :-1] if array.ndim == 2 else (array.astype(np.float32) + 1e9)
    np.savez(path, **arrays)


def damage_bytes(data, path: Path) -> None:
    content = path.read_bytes()
    action = data.draw(st.sampled_from(["truncate", "flip", "empty"]), label="bytes action")
    if action == "truncate":
        path.write_bytes(content[: int(len(content) * data.draw(st.floats(0, 0.999), label="keep"))])
    elif action == "flip":
        flipped = bytearray(content)
        for _ in range(data.draw(st.integers(1, 16), label="flips")):
            flipped[data.draw(st.integers(0, len(flipped) - 1), label="offset")] ^= data.draw(st.integers(1, 255))
        path.write_bytes(bytes(flipped))
    else:
        path.write_bytes(b"")


def damage(data, boundary: Boundary, path: Path, pristine: Path) -> str:
    """Damage ``path`` in one of the ways its kind allows; the name of the way."""
    specific = {"npz": "content", "json": "content", "keras": "nine classes", "tsv": "content"}[boundary.kind]
    how = data.draw(st.sampled_from(["bytes", specific]), label="damage")
    if how == "bytes":
        damage_bytes(data, path)
    elif boundary.kind == "npz":
        damage_npz(data, path)
    elif boundary.kind == "json":
        path.write_text(damage_json(data, path.read_text()))
    elif boundary.kind == "keras":
        shutil.copyfile(pristine.parent / "nine-classes.keras", path)
    else:
        header, *rows = path.read_text().splitlines()
        if data.draw(st.sampled_from(["drop column", "text value"]), label="tsv action") == "drop column":
            lines = [line.rsplit("\t", 1)[0] for line in (header, *rows)]
        else:
            lines = [header, *(row.rsplit("\t", 1)[0] + "\tfast" for row in rows)]
        path.write_text("\n".join(lines) + "\n")
    return how


# --- reading back -------------------------------------------------------------------------------------------------


def read_back(boundary: Boundary):
    """What the file's reader returns (in the project folder): the content the stage would work on."""
    from src.data.prepared import load_split, load_stats
    from src.data.sources import load_record
    from src.explain.cam_results import load_run, load_study, load_summaries
    from src.explain.results import load_predictions
    from src.models.io import load_run_model
    from src.report.inputs import read_curve, read_test_metrics, read_train_metrics

    file = boundary.file
    if file.endswith("source.json"):
        return load_record("data/raw")
    if file.startswith("data/prepared/"):
        name = Path(file).stem
        return load_stats("data/prepared") if name == "stats" else load_split("data/prepared", name)
    if file.endswith(".keras"):
        return load_run_model(RUN).get_weights()
    if file == str(RUN.predictions):
        return load_predictions(RUN)
    if file == str(RUN.cam_metrics):
        return load_summaries([RUN])
    if file == STUDY:
        return load_study(RUN.regime, RUN.variant)
    if file == str(RUN.cam_scores):
        return load_run(RUN)
    if file == str(RUN.train_metrics):
        return read_train_metrics(RUN)
    if file == str(RUN.test_metrics):
        return read_test_metrics(RUN)
    return read_curve(RUN, "time", "train_seconds").to_dict()


def same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and \
            np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b or (a != a and b != b)  # NaN equals NaN here


@pytest.fixture(scope="module", autouse=True)
def outcome_table():
    """After the module: the generated cases per boundary and what came of them (for docs/robustness.md)."""
    yield
    lines = ["| boundary | cases | exit 2, one line | unchanged content, not run | other valid content, ran |",
             "|---|---|---|---|---|"]
    for name, counts in OUTCOMES.items():
        lines.append(f"| {name} | {sum(counts.values())} | {counts['rejected']} | {counts['same']} | "
                     f"{counts['ran']} |")
    print("\n" + "\n".join(lines))


@pytest.mark.parametrize("name", list(BOUNDARIES))
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_damaged_input_stops_the_stage_with_one_line_naming_it(pristine, tmp_path_factory, name, data):
    import importlib

    boundary = BOUNDARIES[name]
    main = importlib.import_module(f"src.stages.{boundary.stage}").main
    project = tmp_path_factory.mktemp("case") / "project"
    shutil.copytree(pristine, project)
    with contextlib.chdir(project):
        original = copy.deepcopy(read_back(boundary))
        damage(data, boundary, Path(boundary.file), pristine)
        before = snapshot(project)
        try:
            content = read_back(boundary)
        except DataError:
            content = None
        if content is not None and same(content, original):
            OUTCOMES.setdefault(name, Counter())["same"] += 1
            return  # nothing the stage reads changed: the run is the normal one, tested elsewhere
        code, stderr = run_stage(main, list(boundary.argv))
        after = snapshot(project)
    shutil.rmtree(project.parent)
    assert "Traceback" not in stderr, stderr
    if content is not None:  # another valid document: the stage's normal checks apply
        OUTCOMES.setdefault(name, Counter())["ran"] += 1
        assert code in (0, 2), stderr
        return
    OUTCOMES.setdefault(name, Counter())["rejected"] += 1
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1, stderr
    assert f"error: {boundary.file}: " in errors[0] and f"run `{boundary.rebuild}`" in errors[0], errors[0]
    assert after == before, "the failed stage changed or left files"
