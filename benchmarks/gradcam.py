"""Batched Grad-CAM / Grad-CAM++ throughput per variant, as a table.

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
from pipeline.params import CAM_METHODS, VARIANTS, load_params
from src.explain.cam import CamExplainer
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

    print(f"\n{args.images} images, batch {batch}, profile {params['profile']}\n")
    print("| variant | model | " + " | ".join(f"{m} img/s" for m in CAM_METHODS) + " |")
    print("|---|---|" + "---:|" * len(CAM_METHODS))
    for variant in VARIANTS:
        trained = model_path(variant).is_file()
        model = load_variant(variant) if trained else build_variant(variant, params["model"])
        rates = []
        for method in CAM_METHODS:
            explainer = CamExplainer(model, method)
            explainer(images[:batch], classes[:batch], batch)  # tracing is not throughput
            start = time.perf_counter()
            explainer(images, classes, batch)
            rates.append(args.images / (time.perf_counter() - start))
        print(f"| {variant} | {'trained' if trained else 'untrained'} | " + " | ".join(f"{r:.0f}" for r in rates) + " |")


if __name__ == "__main__":
    main()
