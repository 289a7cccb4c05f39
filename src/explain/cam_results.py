"""What the heatmap stages leave behind, read without TensorFlow: the studies, the runs' summaries and scores.

heatmap_study@<regime>-<variant> applies the rule of src/explain/heatmap_study.py to every layer x
method on validation images of one run's model and names the variant's map in that regime
(metrics/cam/<regime>/<variant>/study.json); each heatmaps@<regime>-<variant>-<seed> run scores that
map on the test images. The gradcam and compare stages read both from here (``load_variant_runs``),
so they agree without loading a model, and a run scored with a map its study no longer names is refused.
"""
from __future__ import annotations

import numpy as np

from src.core.artefacts import ArraySpec, Each, ListOf, damaged, read_json, read_npz
from src.explain.faithfulness import compared_metrics
from src.explain.map_layers import MAP_LAYERS
from src.explain.methods import CAM_METHODS
from src.paths import Run, cam_study

SEPARATOR = "|"  # npz keys: "<layer>/<method>|<kind>|<name>"
# The mean curves stored per map: its own, then its random and edge baselines'.
CURVES = tuple(f"{prefix}{kind}" for prefix in ("", "random_", "edge_") for kind in ("deletion", "insertion"))
_DIFFERENCE = {"difference": float, "ci_low": float, "ci_high": float}


def _map_schema(with_sanity: bool) -> dict:
    metrics = [metric.name for metric in compared_metrics()]
    schema = {
        "resolution": ListOf(int, 2), "wins_vs_random": int, "img_per_s": float, **{m: float for m in metrics},
        "vs_random": {m: _DIFFERENCE for m in metrics}, "vs_edge": {m: _DIFFERENCE for m in metrics},
    }
    if with_sanity:
        schema["sanity"] = {"spearman": Each(float), "top_block": float, "flagged": bool}
    return schema


def study_schema() -> dict:
    """What a variant's study document must hold: for every map, each compared metric's mean and its paired
    differences with the baselines, and its randomisation check (the metrics read from the registry when asked,
    so a metric added later counts)."""
    return {"training_seed": int, "images": int, "sanity_images": int, "sanity_threshold": float, "rule": str,
            "chosen": str, "maps": Each(_map_schema(with_sanity=True))}


def summary_schema() -> dict:
    """What a run's metrics/cam summary must hold: its map's scores as in the study, without the check."""
    return {"training_seed": int, "images": int, "map": str, "maps": Each(_map_schema(with_sanity=False))}


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
        if list(summary["maps"]) != [summary["map"]]:
            raise damaged(run.cam_metrics, f"holds the maps {', '.join(summary['maps']) or 'none'}, expected its map "
                                           f"{summary['map']!r} alone", rebuild)
        summaries.append(summary)
    return summaries


def load_study(regime: str, variant: str) -> dict:
    """The heatmap study of ``variant`` in ``regime`` (metrics/cam/<regime>/<variant>/study.json); DataError if
    missing or malformed."""
    path, rebuild = cam_study(regime, variant), f"dvc repro heatmap_study@{regime}-{variant}"
    study = read_json(path, "heatmap study", rebuild, study_schema())
    layer, _, method = study["chosen"].partition("/")
    if layer not in MAP_LAYERS or method not in CAM_METHODS:
        raise damaged(path, f"its chosen map {study['chosen']!r} is not <layer>/<method> of the known layers "
                            f"({', '.join(MAP_LAYERS)}) and methods ({', '.join(CAM_METHODS)})", rebuild)
    if study["chosen"] not in study["maps"]:
        raise damaged(path, f"its chosen map {study['chosen']!r} is not among its maps", rebuild)
    return study


def load_variant_runs(regime: str, variant: str, seeds: list[int], arrays: bool = True
                      ) -> tuple[dict, list[dict], list[dict]]:
    """(study, the runs' summaries, their scores (empty without ``arrays``)) of ``variant`` in ``regime`` over
    ``seeds``; DataError if a run scored another map than the one its study chose (the study changed since)."""
    study = load_study(regime, variant)
    runs = [Run(variant, seed, regime) for seed in seeds]
    loaded = [load_run(run) for run in runs] if arrays else [(s, {}) for s in load_summaries(runs)]
    for run, (summary, _) in zip(runs, loaded):
        if summary["map"] != study["chosen"]:
            raise damaged(run.cam_metrics, f"scores the map {summary['map']!r}, but the study "
                                           f"{cam_study(regime, variant)} chose {study['chosen']!r}",
                          f"dvc repro heatmaps@{run.name}")
    return study, [summary for summary, _ in loaded], [scores for _, scores in loaded]
