"""Which heatmap to trust: every layer x method measured, sanity-checked, and the most faithful chosen by a rule.

The study runs once per variant (stage heatmap_study@<variant>, on validation images); each run's
heatmaps stage then measures only the chosen map on the test images (``measure`` with one layer
and one method), so the choice is made apart from the images the variants are compared on.

For one trained model, ``measure`` computes each method's maps (src/explain/methods.py) at each
listed layer (src/explain/map_layers.py: the stages, 16x16 ... 2x2 in the ``cpu`` network, and
their fusion), and scores every (layer, method) on each compared faithfulness metric against two
baselines on the same images (src/explain/faithfulness.py): a random map drawn at that map's
native resolution and the image's Sobel edges. ``randomization`` runs the cascading
model-parameter randomisation test (Adebayo et al., 2018). ``choose`` applies the stated rule
(``choice_rule``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from scipy import stats

from src.explain.cam import CamExplainer, stage_layer
from src.explain.faithfulness import BASELINES, compared_metrics, edge_maps, faithfulness, matched_mass, \
    order_scores, random_maps
from src.explain.fast_cam import cam_explainer
from src.explain.layer_maps import input_map, native_map
from src.explain.map_layers import FUSED, resolution_stage, seconds_per_layer, stages_of
from src.explain.significance import beats
from src.stats.images import paired_difference

SANITY_THRESHOLD = 0.5
TOP_BLOCK_STEP = "top block"
MIN_RESOLUTION = 8  # a coarser map cannot say where in a 32x32 image the evidence lies (a 4x4 cell is 8x8 pixels)
CHOICE_RULE = (
    "Among the maps of at least {resolution}x{resolution} native resolution that pass the randomisation "
    "check (Spearman < {threshold} once the top block is randomised), the one that beats its random "
    "baseline on the most of the {metrics} metrics (95% CI of the paired difference excluding zero); ties go "
    "to the best mean rank over the {metrics} metrics, then to the finer native resolution."
)
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve")


def choice_rule() -> str:
    """``CHOICE_RULE`` with its thresholds and the number of compared metrics, as the report states it."""
    count = len(compared_metrics())
    return CHOICE_RULE.format(resolution=MIN_RESOLUTION, threshold=SANITY_THRESHOLD,
                              metrics=NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else count)


@dataclass
class MapResult:
    """One (layer, method): its maps, scores, paired differences with the baselines, speed, sanity."""

    layer: str
    method: str
    stage: str                        # the stage whose resolution the map has (the finest one for "fused")
    resolution: tuple[int, int]
    maps: np.ndarray                  # (N, H, W) at the input size
    native: np.ndarray                # (N, h, w) at its native resolution (the fusion: at its finest stage's)
    scores: dict
    baselines: dict = field(default_factory=dict)
    versus: dict = field(default_factory=dict)
    img_per_s: float = 0.0
    sanity: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.layer}/{self.method}"

    def wins(self, baseline: str = "random") -> int:
        return sum(beats(self.versus[baseline][metric.name], metric.name) for metric in compared_metrics())

    def summary(self) -> dict:
        """What goes into metrics/cam: means, baselines' means, paired differences, speed, sanity."""
        def means(scores: dict) -> dict:
            return {k: v for k, v in scores.items() if k != "per_image" and not k.endswith("_curve")}

        return {"layer": self.layer, "method": self.method, "resolution": list(self.resolution),
                **means(self.scores), "img_per_s": round(self.img_per_s, 1),
                "baselines": {name: means(b) for name, b in self.baselines.items()},
                **{f"vs_{name}": v for name, v in self.versus.items()}, "sanity": self.sanity,
                "wins_vs_random": self.wins()}


def _native_maps(explainer: CamExplainer, layers: list[str], images: np.ndarray, classes: np.ndarray,
                 batch_size: int, warm_up: bool = False) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Per listed stage: native maps; per layer: img/s (the fused map's: the time all its stages took together)."""
    names = {stage: stage_layer(explainer.model, stage) for stage in stages_of(layers)}
    maps, seconds, total = explainer.timed_native_stages(images, classes, list(names.values()), batch_size, warm_up)
    natives = {stage: maps[name] for stage, name in names.items()}
    seconds = seconds_per_layer(layers, {stage: seconds[name] for stage, name in names.items()}, total)
    return natives, {layer: len(images) / max(s, 1e-9) for layer, s in seconds.items()}


def measure(model: keras.Model, methods: list[str], layers: list[str], images: np.ndarray, probs: np.ndarray,
            steps: int, batch_size: int, seed: int, implementation: str = "reference",
            scored: list[str] | None = None) -> list[MapResult]:
    """Every (layer, method)'s maps of the predicted class, scored against the random and edge baselines.

    ``scored`` limits the scoring to some of ``layers`` (the fusion is still formed from every listed
    stage). ``implementation`` (``model.implementation``) picks how the maps are computed, not what they are.
    """
    predicted = probs.argmax(axis=1)
    size = images.shape[1:3]
    metrics = [metric.name for metric in compared_metrics()]

    def predict(x: np.ndarray) -> np.ndarray:
        return model.predict_on_batch(x)

    edge = edge_maps(images)
    edge_order = order_scores(predict, images, edge, predicted, steps, seed)
    random_by_grid: dict[tuple, tuple[np.ndarray, dict]] = {}  # one random baseline per native resolution
    results = []
    for method in methods:
        natives, rates = _native_maps(cam_explainer(model, method, implementation), layers, images, predicted,
                                      batch_size, warm_up=True)
        for layer in scored or layers:
            native = native_map(layer, natives)
            grid = native.shape[1:3]
            maps = input_map(layer, natives, size)
            result = MapResult(layer, method, resolution_stage(layer, layers), tuple(grid), maps, native,
                               faithfulness(predict, images, maps, predicted, steps, seed=seed), img_per_s=rates[layer])
            if grid not in random_by_grid:
                random = random_maps(maps.shape, seed, grid)
                random_by_grid[grid] = (random, order_scores(predict, images, random, predicted, steps, seed))
            baseline_maps = {"random": random_by_grid[grid][0], "edge": edge}
            order = {"random": random_by_grid[grid][1], "edge": edge_order}
            for name in BASELINES:
                result.baselines[name] = faithfulness(predict, images, baseline_maps[name], predicted, steps,
                                                      mass_maps=matched_mass(baseline_maps[name], maps),
                                                      order=order[name])
                result.versus[name] = {
                    metric: paired_difference(result.scores["per_image"][metric],
                                              result.baselines[name]["per_image"][metric], seed)
                    for metric in metrics}
            results.append(result)
    return results


def measure_map(model: keras.Model, key: str, layers: list[str], images: np.ndarray, probs: np.ndarray,
                steps: int, batch_size: int, seed: int, implementation: str = "reference") -> MapResult:
    """The one map ``key`` (``<layer>/<method>``) scored as :func:`measure` scores it among all maps.

    The fusion is formed from every one of ``layers``, as in the study; a stage's map needs that stage only.
    """
    layer, method = key.split("/")
    [result] = measure(model, [method], layers if layer == FUSED else [layer], images, probs, steps, batch_size,
                       seed, implementation, scored=[layer])
    return result


def randomization_steps(model: keras.Model) -> list[tuple[str, list[str]]]:
    """Cascading groups, top first: the classifier, then each stage from the deepest, then the stem."""
    weighted = [layer.name for layer in model.layers if layer.weights]
    stages = sorted({name.split("_")[0] for name in weighted if name.startswith("stage")},
                    key=lambda s: int(s.replace("stage", "")), reverse=True)
    groups = [("classifier", [n for n in weighted if not n.startswith(("stage", "stem"))])]
    for position, stage in enumerate(stages):
        name = TOP_BLOCK_STEP if position == 0 else stage
        groups.append((name, [n for n in weighted if n.startswith(f"{stage}_")]))
    groups.append(("stem", [n for n in weighted if n.startswith("stem")]))
    return [(name, names) for name, names in groups if names]


def rank_correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman correlation of each pair of maps over their pixels; a constant map counts as 0."""
    a = stats.rankdata(first.reshape(len(first), -1), axis=1)
    b = stats.rankdata(second.reshape(len(second), -1), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.where(denominator > 0, (a * b).sum(axis=1) / np.maximum(denominator, 1e-12), 0.0)


def randomization(model: keras.Model, results: list[MapResult], sample: np.ndarray, images: np.ndarray,
                  classes: np.ndarray, batch_size: int, seed: int, implementation: str = "reference") -> None:
    """Cascading randomisation: per step, the mean Spearman correlation of every map with the trained model's.

    Each step re-initialises one more group of layers (from the top) with their initializers,
    keeping the target class; writes ``sanity`` into every result, flagging maps that stay
    correlated at or above SANITY_THRESHOLD once the top block is randomised.
    """
    keras.utils.set_random_seed(seed)
    fresh = keras.models.clone_model(model)  # the same network with newly initialised weights
    randomized = keras.models.clone_model(model)
    randomized.set_weights(model.get_weights())
    methods = list(dict.fromkeys(r.method for r in results))
    layers = list(dict.fromkeys(r.layer for r in results))
    # The randomised copy is ours, so its softmax may go (no clone); the explainers see each step's new weights.
    explainers = {method: cam_explainer(randomized, method, implementation, clone=False) for method in methods}
    size = images.shape[1:3]
    curves: dict[str, dict[str, float]] = {r.key: {} for r in results}
    for step, names in randomization_steps(model):
        for name in names:
            randomized.get_layer(name).set_weights(fresh.get_layer(name).get_weights())
        for method in methods:
            natives, _ = _native_maps(explainers[method], layers, images[sample], classes[sample], batch_size)
            for result in (r for r in results if r.method == method):
                maps = input_map(result.layer, natives, size)
                curves[result.key][step] = float(rank_correlation(result.maps[sample], maps).mean())
    for result in results:
        at_top = curves[result.key].get(TOP_BLOCK_STEP, float("nan"))
        result.sanity = {"spearman": curves[result.key], "top_block": at_top,
                         "flagged": bool(not at_top < SANITY_THRESHOLD)}


def choose(results: list[MapResult]) -> MapResult:
    """The most faithful map by ``choice_rule``; where no map is fine enough, or every one is flagged, that
    condition is dropped (so a network whose maps are all coarse still gets a choice)."""
    fine = [r for r in results if min(r.resolution) >= MIN_RESOLUTION] or results
    eligible = [r for r in fine if not r.sanity.get("flagged", False)] or fine
    ranks = {}
    for metric in compared_metrics():
        values = np.array([r.scores[metric.name] for r in eligible])
        order = stats.rankdata(values if metric.lower_is_better else -values)
        for result, rank in zip(eligible, order):
            ranks.setdefault(result.key, []).append(rank)
    return min(eligible, key=lambda r: (-r.wins(), float(np.mean(ranks[r.key])), -r.resolution[0]))


def study_summary(variant: str, training_seed: int, results: list[MapResult], chosen: MapResult, images: int,
                  sanity_images: int) -> dict:
    """A variant's study document (metrics/cam/<variant>/study.json): every map's summary, the check's
    threshold, the rule and the choice, on ``images`` validation images of one training seed's model."""
    return {"variant": variant, "training_seed": training_seed, "images": images, "sanity_images": sanity_images,
            "sanity_threshold": SANITY_THRESHOLD, "rule": choice_rule(), "chosen": chosen.key,
            "maps": {r.key: r.summary() for r in results}}


def run_summary(variant: str, training_seed: int, result: MapResult, images: int) -> dict:
    """A run's document (metrics/cam/<regime>/<variant>/seed<N>.json): its variant's chosen map scored on ``images``
    test images, against the same baselines (no randomisation check: the study ran it)."""
    scores = {key: value for key, value in result.summary().items() if key != "sanity"}
    return {"variant": variant, "training_seed": training_seed, "images": images, "map": result.key,
            "maps": {result.key: scores}}
