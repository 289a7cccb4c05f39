"""What the heatmap stages cost per run: the layer x method study once per variant, the chosen map on every run.

    python -m benchmarks.heatmap_cost [--params params.yaml] [--variants cbam] [--study-sizes 5 20] [--repeats 1]

Times, on this CPU and with the params' gradcam settings, the work each heatmap stage does:
- ``every map, each run``: every layer x method scored on ``faithfulness_per_class`` images per class,
  plus the randomisation check on ``sanity_per_class`` -- what each run did before the study was split;
- ``study, once per variant``: the same on ``selection_per_class`` images per class (heatmap_study@);
- ``chosen map, each run``: the study's chosen map alone on ``faithfulness_per_class`` (heatmaps@).
and prints the cost per run for a study of N seeds, (study + N x chosen map) / N, as a share of the
first. Uses the trained models in models/ when they exist, otherwise untrained models of the same
architecture (the work, not the weights, sets the time), and random images of the right count.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.args import positive_int
from src.core.errors import stage_main
from src.config.params import first_regime, load_params
from src.explain.heatmap_study import choose, measure, measure_map, randomization
from src.models.io import load_run_model
from src.paths import Run
from src.models.resnet import build_variant
from src.models.variants import VARIANTS

CLASSES = 10


def _images(per_class: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (per_class * CLASSES, 32, 32, 3)).astype(np.float32)


def every_map(model, cam: dict, images: np.ndarray, seed: int, implementation: str):
    """Every layer x method scored and sanity-checked on ``images``: (seconds, the chosen map's key)."""
    start = time.perf_counter()
    probs = model.predict(images, batch_size=cam["batch_size"], verbose=0)
    results = measure(model, cam["methods"], cam["layers"], images, probs, cam["faithfulness_steps"],
                      cam["batch_size"], seed, implementation)
    sanity = np.arange(min(cam["sanity_per_class"] * CLASSES, len(images)))
    randomization(model, results, sanity, images, probs.argmax(axis=1), cam["batch_size"], seed, implementation)
    return time.perf_counter() - start, choose(results).key


def chosen_map(model, cam: dict, key: str, images: np.ndarray, seed: int, implementation: str) -> float:
    """Seconds to score the one map ``key`` on ``images``, as a heatmaps@ run does."""
    start = time.perf_counter()
    probs = model.predict(images, batch_size=cam["batch_size"], verbose=0)
    measure_map(model, key, cam["layers"], images, probs, cam["faithfulness_steps"], cam["batch_size"], seed,
                implementation)
    return time.perf_counter() - start


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), help="default: the params' study.variants")
    parser.add_argument("--study-sizes", type=positive_int, nargs="+",
                        help="training seeds per variant to share the study among (default: the first regime's study.seeds)")
    parser.add_argument("--repeats", type=positive_int, default=1, help="timings per task; the median is shown")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    cam, seed, implementation = params["gradcam"], params["seed"], params["model"]["implementation"]
    regime = first_regime(params)
    sizes = args.study_sizes or [len(params["study"]["seeds"][regime])]
    comparison, selection = _images(cam["faithfulness_per_class"], 1), _images(cam["selection_per_class"], 2)
    print(f"\nprofile {params['profile']}, {len(cam['methods'])} methods x {len(cam['layers'])} layers, "
          f"{len(comparison)} test / {len(selection)} validation images, {implementation} implementation; "
          f"median of {args.repeats}\n")
    print("| variant | model | every map, each run (s) | study, once per variant (s) | chosen map, each run (s) | "
          + " | ".join(f"per run at {n} seeds, share of every map" for n in sizes) + " |")
    print("|---|---|---:|---:|---:|" + "---:|" * len(sizes))
    for variant in args.variants or params["study"]["variants"]:
        run = Run(variant, cam["study_seed"], regime)
        trained = run.model().is_file()
        model = (load_run_model(run, float32=True) if trained
                 else build_variant(variant, params["model"]))
        before = [every_map(model, cam, comparison, seed, implementation) for _ in range(args.repeats)]
        study = [every_map(model, cam, selection, seed, implementation) for _ in range(args.repeats)]
        key = study[0][1]
        run = [chosen_map(model, cam, key, comparison, seed, implementation) for _ in range(args.repeats)]
        old, new_study, new_run = (float(np.median([t if isinstance(t, float) else t[0] for t in times]))
                                   for times in (before, study, run))
        shares = [f"{(new_study + n * new_run) / n / old:.3f} ({(new_study + n * new_run) / n:.1f} s)" for n in sizes]
        print(f"| {variant} | {'trained' if trained else 'untrained'} ({key}) | {old:.1f} | {new_study:.1f} | "
              f"{new_run:.1f} | " + " | ".join(shares) + " |")


if __name__ == "__main__":
    main()
