"""Batched CAM throughput per variant, implementation, layer and method (params' gradcam.methods and layers).

    python -m benchmarks.gradcam [--params params.yaml] [--images 512] [--batch-size 64]
                                 [--implementations reference fast]

Each stage row times that stage's maps alone; the ``fused`` row times the maps of all listed
stages together (what the heatmaps stage computes: the reference asks tf-keras-vis once per
stage, the fast path makes them in one pass, src/explain/fast_cam.py). "vs reference" is the
ratio of the time all methods took, in this run. Uses the trained models in models/ when they
exist, otherwise untrained models of the same architecture (the speed is the same).
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks.args import positive_int
from src.core.errors import stage_main
from src.config.params import first_regime, load_params
from src.explain.cam import stage_layer
from src.explain.fast_cam import cam_explainer
from src.explain.map_layers import FUSED, stages_for, stages_of
from src.models.io import load_run_model
from src.paths import Run
from src.models.resnet import build_variant
from src.models.variants import IMPLEMENTATIONS


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--images", type=positive_int, default=512)
    parser.add_argument("--batch-size", type=positive_int)
    parser.add_argument("--implementations", nargs="+", choices=IMPLEMENTATIONS,
                        help="default: the params' model.implementation")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    batch = args.batch_size or params["gradcam"]["batch_size"]
    implementations = args.implementations or [params["model"]["implementation"]]
    images = np.random.default_rng(0).integers(0, 256, (args.images, 32, 32, 3)).astype(np.float32)
    classes = np.arange(args.images) % 10
    methods = params["gradcam"]["methods"]
    layers = params["gradcam"]["layers"]
    stages = stages_of(layers)
    print(f"\n{args.images} images, batch {batch}, profile {params['profile']}; img/s of each stage's maps alone "
          f"and of all {len(stages)} stages' maps together ({FUSED})\n")
    print("| variant | model | implementation | layer | " + " | ".join(f"{m} img/s" for m in methods)
          + " | vs reference |")
    print("|---|---|---|---|" + "---:|" * (len(methods) + 1))
    regime = first_regime(params)
    for variant in params["study"]["variants"]:
        run = Run(variant, params["study"]["seeds"][regime][0], regime)
        trained = run.model().is_file()
        model = load_run_model(run, float32=True) if trained else build_variant(variant, params["model"])
        groups = {layer: [stage_layer(model, stage) for stage in stages_for(layer, layers)] for layer in layers}
        rates = {}
        for implementation in implementations:
            for method in methods:
                explainer = cam_explainer(model, method, implementation)
                for group, layers in groups.items():
                    seconds = explainer.timed_native_stages(images, classes, layers, batch)[2]
                    rates[implementation, group, method] = len(images) / seconds
        for implementation in implementations:
            for group in groups:
                seconds = sum(1 / rates[implementation, group, m] for m in methods)
                versus = (f"{sum(1 / rates['reference', group, m] for m in methods) / seconds:.2f}x"
                          if "reference" in implementations else "")
                print(f"| {variant} | {'trained' if trained else 'untrained'} | {implementation} | {group} | "
                      + " | ".join(f"{rates[implementation, group, m]:.0f}" for m in methods) + f" | {versus} |")


if __name__ == "__main__":
    main()
