"""Train candidate recipes on the training split and score them on the validation split, never the test set.

    python -m benchmarks.recipe_search --name ls0.2 --profile cpu -S train.label_smoothing=0.2 --seeds 0 1
    python -m benchmarks.recipe_search --name short --profile short --variant se --seeds 0

A candidate is a profile (or params.yaml) plus ``-S key=value`` overrides (values are YAML,
as with ``dvc exp run -S``). Each (candidate, variant, seed) is one full training run by
the training stage's own code (``src.training.fit.train_run``) in a scratch directory,
then the validation split is predicted with the evaluate stage's test-time views. One
JSON line per run is appended to ``--results`` (default ``docs/recipe/runs.jsonl``):
the settings, the validation accuracy with and without the views, the minutes, img/s,
the CPU and the commit. Runs already in that file with the same settings and CPU are
skipped, so a search interrupted on one machine continues on the next from the
committed file, and a second machine adds its own rows instead of mixing timings.

Run it on one core per search (``taskset -c 0 ...``) to measure what one run of the
study costs; two searches on a 2-core machine use one core each.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import yaml

from src.core.errors import ParamsError, stage_main
from src.config.params import VARIANTS, known_regime, load_params, regime_params, run_params, validate
from src.config.profile import build_profile
from src.data.prepared import load_split
from src.evaluation import predict, tta_views
from src.paths import PREPARED_DIR, Run
from src.training.fit import train_run
from src.training.runtime import cpu_name

DEFAULT_RESULTS = Path("docs/recipe/runs.jsonl")


def apply_overrides(params: dict, overrides: list[str]) -> dict:
    """``params`` with each ``dotted.key=yaml-value`` set; ParamsError names a malformed one."""
    params = copy.deepcopy(params)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ParamsError(f"-S {item!r}: expected key=value, e.g. -S train.epochs=8")
        *sections, leaf = key.split(".")
        node = params
        for section in sections:
            if not isinstance(node.get(section), dict):
                raise ParamsError(f"-S {item!r}: {section!r} is not a params section")
            node = node[section]
        node[leaf] = yaml.safe_load(text)
    return validate(params, origin="recipe_search -S overrides")


def git_commit() -> str:
    """HEAD's hash, with ``+dirty`` when tracked files differ from it (the code that trained is then not HEAD)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "src"], check=False)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("+dirty" if dirty.returncode else "")


def finished_runs(results: Path) -> list[dict]:
    if not results.is_file():
        return []
    return [json.loads(line) for line in results.read_text().splitlines() if line.strip()]


def run_key(row: dict) -> tuple:
    """What makes two rows the same measurement: candidate, settings, variant, seed and CPU."""
    return (row["name"], json.dumps(row["settings"], sort_keys=True), row["variant"], row["seed"], row["cpu"])


@contextlib.contextmanager
def scratch_directory() -> Iterator[Path]:
    """Run inside a temporary directory: the run's checkpoints and curves go there, not into the project."""
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="recipe-") as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(previous)


def use_affinity_cores() -> int:
    """Size TensorFlow's thread pools to the cores this process may run on (``taskset``), not the machine's; their count."""
    import tensorflow as tf

    cores = len(os.sched_getaffinity(0))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(cores)
        tf.config.threading.set_inter_op_parallelism_threads(cores)
    except RuntimeError:  # TensorFlow already started in this process (a second call): its pools stay
        pass
    return cores


def settings_of(params: dict, regime: str) -> dict:
    """The parts of the params a recipe consists of: the model and the ``train`` settings of ``regime``, ..."""
    return {"model": params["model"], "train": regime_params(params, regime),
            "evaluate": params["evaluate"], "data": {"val_fraction": params["data"]["val_fraction"],
                                                     "train_per_class": params["data"]["train_per_class"]}}


def train_and_validate(params: dict, run: Run, prepared: Path) -> dict:
    """One run: train with the training stage's code, then the validation accuracy with and without the test-time views."""
    with scratch_directory():
        result = train_run(run, run_params(params, run.regime), prepared)
    x_val, y_val = load_split(prepared, "val")
    evaluate = params["evaluate"]
    probs, _ = predict(result.model, x_val, evaluate["batch_size"], tta_views(evaluate["tta_flip"], evaluate["tta_shift"]))
    metrics = result.metrics
    return {
        "val_accuracy_tta": round(float((probs.argmax(axis=1) == y_val).mean()), 4),
        "final_val_accuracy": round(metrics["final_val_accuracy"], 4),
        "best_val_accuracy": round(metrics["best_val_accuracy"], 4),
        "epochs": metrics["epochs"],
        "train_minutes": metrics["train_minutes"],
        "train_img_per_s": metrics["train_img_per_s"],
        "mflops_per_image": metrics["mflops_per_image"],
        "params": metrics["params"],
        "precision": metrics["precision"],
    }


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the candidate's label in the results")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profile", help="start from this profile instead of params.yaml")
    parser.add_argument("-S", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--variant", default="original", choices=VARIANTS)
    parser.add_argument("--regime", help="which of the params' study.regimes to train (default: the first)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--prepared", type=Path, default=PREPARED_DIR)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args(argv)

    cores = use_affinity_cores()
    base = build_profile(args.profile) if args.profile else load_params(args.params)
    params = apply_overrides(base, args.overrides)
    regime = known_regime(params, args.regime, "recipe_search --regime")
    prepared, results = args.prepared.resolve(), args.results.resolve()
    done = {run_key(row) for row in finished_runs(results)}
    cpu = cpu_name()
    for seed in args.seeds:
        row = {"name": args.name, "profile": args.profile or params.get("profile"), "overrides": args.overrides,
               "settings": settings_of(params, regime), "variant": args.variant, "seed": seed, "cpu": cpu}
        if run_key(row) in done:
            print(f"recipe_search: {args.name} {args.variant} seed {seed} on this CPU is already in {args.results}")
            continue
        row.update(train_and_validate(params, Run(args.variant, seed, regime), prepared))
        row.update(commit=git_commit(), date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
                   cores=cores)
        results.parent.mkdir(parents=True, exist_ok=True)
        with results.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(f"recipe_search: {args.name} {args.variant} seed {seed}: val {row['val_accuracy_tta']:.4f} with views "
              f"({row['final_val_accuracy']:.4f} without), {row['train_minutes']:.1f} min, {row['train_img_per_s']} img/s "
              f"[{cpu}, {row['precision']}, {row['cores']} core(s)]")


if __name__ == "__main__":
    main()
