"""Batched CAM throughput per variant, layer and method (params' gradcam.methods and gradcam.layers), as a table.

    python -m benchmarks.gradcam [--images 512] [--batch-size 64]

Uses the trained models in models/ when they exist, otherwise untrained models of the
same architecture from params.yaml (the speed is the same).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.args import positive_int
from pipeline.errors import stage_main
from pipeline.params import load_params
from src.explain.cam import FUSED, CamExplainer, stage_layer
from src.models.io import load_variant, model_path
from src.models.resnet import build_variant


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--images", type=positive_int, default=512)
    parser.add_argument("--batch-size", type=positive_int)
    args = parser.parse_args(argv)
    params = load_params(args.params)
    batch = args.batch_size or params["gradcam"]["batch_size"]
    images = np.random.default_rng(0).integers(0, 256, (args.images, 32, 32, 3)).astype(np.float32)
    classes = np.arange(args.images) % 10

    methods = params["gradcam"]["methods"]
    layers = [layer for layer in params["gradcam"]["layers"] if layer != FUSED]
    print(f"\n{args.images} images, batch {batch}, profile {params['profile']}; img/s of each stage's maps "
          "(a fused map costs the sum of its stages)\n")
    print("| variant | model | layer | " + " | ".join(f"{m} img/s" for m in methods) + " |")
    print("|---|---|---|" + "---:|" * len(methods))
    for variant in params["train"]["variants"]:
        seed = params["train"]["seeds"][0]
        trained = model_path(variant, seed).is_file()
        model = load_variant(variant, seed) if trained else build_variant(variant, params["model"])
        rates = {layer: [] for layer in layers}
        for method in methods:
            explainer = CamExplainer(model, method)
            for layer in layers:
                name = stage_layer(model, layer)
                explainer.native(images[:batch], classes[:batch], name, batch)  # tracing is not throughput
                start = time.perf_counter()
                explainer.native(images, classes, name, batch)
                rates[layer].append(args.images / (time.perf_counter() - start))
        for layer in layers:
            print(f"| {variant} | {'trained' if trained else 'untrained'} | {layer} | "
                  + " | ".join(f"{r:.0f}" for r in rates[layer]) + " |")


if __name__ == "__main__":
    main()
