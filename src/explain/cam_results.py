"""What the heatmaps@<variant>-<seed> stages leave behind, read without TensorFlow: their summaries and scores.

Each run's heatmaps stage applies the rule of src/explain/heatmap_study.py to its own model.
A variant's map for the figures and the cross-variant comparison is the map chosen in the
most runs (``variant_map``), ties going to the one that beats its random baseline on more
metrics summed over the runs, then to the finer native resolution. The gradcam and compare
stages both read it from here, so they agree without loading a model.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from src.core.artefacts import ArraySpec, Each, ListOf, damaged, read_json, read_npz
from src.explain.faithfulness import compared_metrics
from src.paths import Run

SEPARATOR = "|"  # npz keys: "<layer>/<method>|<kind>|<name>"
# The mean curves stored per map: its own, then its random and edge baselines'.
CURVES = tuple(f"{prefix}{kind}" for prefix in ("", "random_", "edge_") for kind in ("deletion", "insertion"))
_DIFFERENCE = {"difference": float, "ci_low": float, "ci_high": float}


def summary_schema() -> dict:
    """What a metrics/cam summary must hold: for every map, each compared metric's mean and its paired
    differences with the baselines (read from the registry when asked, so a metric added later counts)."""
    metrics = [metric.name for metric in compared_metrics()]
    map_schema = {
        "resolution": ListOf(int, 2), "wins_vs_random": int, "img_per_s": float, **{m: float for m in metrics},
        "vs_random": {m: _DIFFERENCE for m in metrics}, "vs_edge": {m: _DIFFERENCE for m in metrics},
        "sanity": {"spearman": Each(float), "top_block": float, "flagged": bool},
    }
    return {"training_seed": int, "images": int, "sanity_images": int, "sanity_threshold": float, "rule": str,
            "chosen": str, "maps": Each(map_schema)}


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
    """(summary JSON, {map key: {"per_image": {metric: (N,)}, "curve": {name: (steps + 1,)}}}) of one run;
    DataError if either file is missing, malformed or does not match the other."""
    summary = load_summaries([run])[0]
    rebuild = f"dvc repro heatmaps@{run.name}"
    arrays: dict[str, dict[str, dict[str, np.ndarray]]] = {}
    for name, values in read_npz(run.cam_scores, "heatmap scores file", rebuild).items():
        parts = name.split(SEPARATOR)
        problem = ArraySpec(np.floating, (None,)).problem(values)
        if len(parts) != 3 or parts[1] not in ("per_image", "curve") or problem:
            problem = problem or "is not named <map>|per_image|<metric> or <map>|curve|<name>"
            raise damaged(run.cam_scores, f"array {name!r} {problem}", rebuild)
        key, kind, field = parts
        arrays.setdefault(key, {}).setdefault(kind, {})[field] = values
    for key in summary["maps"]:
        scores = arrays.get(key, {})
        per_image, curves = scores.get("per_image", {}), scores.get("curve", {})
        missing = [f"per_image|{m.name}" for m in compared_metrics()
                   if len(per_image.get(m.name, ())) != summary["images"]]
        missing += [f"curve|{c}" for c in CURVES if len(curves.get(c, ())) < 2]
        if missing:
            raise damaged(run.cam_scores, f"the scores of {key} listed in {run.cam_metrics} lack or have the wrong "
                                          f"length of {', '.join(missing)}", rebuild)
        # Every curve of a map (its own and its baselines') is sampled at the same removed fractions.
        lengths = {name: len(values) for name, values in curves.items()}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"curve|{name} has {length}" for name, length in sorted(lengths.items()))
            raise damaged(run.cam_scores, f"the curves of {key} differ in length ({listed} points)", rebuild)
    return summary, arrays


def load_summaries(runs: list[Run]) -> list[dict]:
    """The JSON summaries of ``runs``; DataError if one is missing or malformed."""
    summaries = []
    for run in runs:
        rebuild = f"dvc repro heatmaps@{run.name}"
        summary = read_json(run.cam_metrics, "heatmap summary", rebuild, summary_schema())
        if summary["chosen"] not in summary["maps"]:
            raise damaged(run.cam_metrics, f"its chosen map {summary['chosen']!r} is not among its maps", rebuild)
        summaries.append(summary)
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
