"""Stage train@<variant>: train one ResNet variant on the prepared data.

    python -m src.train --variant se

Reads params ``seed``, ``model`` (its own ``model.attention.<variant>``) and ``train``;
writes
- models/<variant>.keras         the trained model, reference layers only (takes raw [0, 255] pixels)
- metrics/train/<variant>.json   best/final val accuracy, epochs, wall time, img/s, params, precision
- plots/train/<variant>/         dvclive per-epoch train/val loss and accuracy, epoch seconds (TSV)

A run killed mid-way resumes from its last completed epoch when the stage runs
again (checkpoints/<variant>/, discarded if the params changed). A NaN/inf loss
stops training with an error and saves no model. In a multi-worker run only the
chief writes these outputs.
"""
from __future__ import annotations

import argparse

from pipeline.atomic import publish, staging_dir, write_json
from pipeline.errors import stage_main
from pipeline.params import VARIANTS, load_params
from src.models.io import model_path, save_model
from src.paths import PREPARED_DIR, TRAIN_METRICS_DIR
from src.training.fit import train_variant


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", default=str(PREPARED_DIR))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    run = train_variant(args.variant, params, args.prepared)
    metrics = run.metrics
    if run.cluster.is_chief:
        # Both outputs are written in full before either replaces the old one.
        with staging_dir(TRAIN_METRICS_DIR.parent) as staged:
            save_model(run.model, staged / "model.keras")
            write_json(staged / "metrics.json", metrics)
            publish(staged / "model.keras", model_path(args.variant))
            publish(staged / "metrics.json", TRAIN_METRICS_DIR / f"{args.variant}.json")
    print(f"train: {args.variant} ({run.cluster.name}) best val accuracy {metrics['best_val_accuracy']:.4f} in "
          f"{metrics['train_minutes']:.1f} min, {metrics['train_img_per_s']} img/s, {metrics['precision']}")


if __name__ == "__main__":
    main()
