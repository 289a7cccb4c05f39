"""What the heatmaps@<variant>-<seed> stages leave behind, read without TensorFlow: their summaries and scores.

Each run's heatmaps stage applies the rule of src/explain/heatmap_study.py to its own model.
A variant's map for the figures and the cross-variant comparison is the map chosen in the
most runs (``variant_map``), ties going to the one that beats its random baseline on more
metrics summed over the runs, then to the finer native resolution. The gradcam and compare
stages both read it from here, so they agree without loading a model.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np

from pipeline.errors import DataError
from src.paths import Run

SEPARATOR = "|"  # npz keys: "<layer>/<method>|<kind>|<name>"


def run_arrays(results) -> dict[str, np.ndarray]:
    """The per-image scores and mean curves of every map (and its baselines' curves), flat for ``np.savez``."""
    arrays = {}
    for result in results:
        for metric, values in result.scores["per_image"].items():
            arrays[SEPARATOR.join((result.key, "per_image", metric))] = np.asarray(values, np.float32)
        curves = {kind: result.scores[f"{kind}_curve"] for kind in ("deletion", "insertion")}
        curves.update({f"{name}_{kind}": b[f"{kind}_curve"] for name, b in result.baselines.items()
                       for kind in ("deletion", "insertion")})
        for name, values in curves.items():
            arrays[SEPARATOR.join((result.key, "curve", name))] = np.asarray(values, np.float32)
    return arrays


def load_run(run: Run) -> tuple[dict, dict[str, dict[str, dict[str, np.ndarray]]]]:
    """(summary JSON, {map key: {"per_image": {metric: (N,)}, "curve": {name: (steps + 1,)}}}) of one run."""
    try:
        summary = json.loads(run.cam_metrics.read_text())
        with np.load(run.cam_scores) as data:
            arrays: dict[str, dict[str, dict[str, np.ndarray]]] = {}
            for name in data.files:
                key, kind, field = name.split(SEPARATOR)
                arrays.setdefault(key, {}).setdefault(kind, {})[field] = data[name]
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"{run.cam_metrics} / {run.cam_scores}: cannot read ({exc}); "
                        f"run `dvc repro heatmaps@{run.name}`") from None
    return summary, arrays


def load_summaries(runs: list[Run]) -> list[dict]:
    """The JSON summaries of ``runs``."""
    summaries = []
    for run in runs:
        try:
            summaries.append(json.loads(run.cam_metrics.read_text()))
        except (OSError, ValueError) as exc:
            raise DataError(f"{run.cam_metrics}: cannot read ({exc}); run `dvc repro heatmaps@{run.name}`") from None
    return summaries


def variant_map(runs: list[dict]) -> str:
    """The map key ("stage2/gradcam") for a variant from its runs' metrics/cam JSON documents."""
    if not runs:
        raise ValueError("no runs to choose a heatmap from")
    votes = Counter(run["chosen"] for run in runs)

    def merit(key: str) -> tuple:
        wins = sum(run["maps"][key]["wins_vs_random"] for run in runs if key in run["maps"])
        return votes[key], wins, runs[0]["maps"][key]["resolution"][0]

    return max(votes, key=merit)
