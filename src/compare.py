"""Stage compare: accuracy with uncertainty, paired significance tests, cost and CAM quality in one place.

Writes
- metrics/compare/<variant>.json  one row per variant -- the project's DVC metrics, so
    `dvc metrics show` prints the variants side by side: test accuracy with its 95% bootstrap
    interval, loss, params, MFLOPs, training minutes, img/s, the CAM faithfulness scores, and
    the difference from Original with McNemar's p-value
- metrics/comparison.md           the report for people: tables, every pairwise McNemar test,
    which differences are significant, and whether each CAM beats random heatmaps
- plots/compare/val_curves.png    the variants' validation accuracy and loss, overlaid
- plots/compare/cam_curves.png    deletion/insertion curves per method, variants in colour, random dashed
- plots/compare/per_class.png     per-class test accuracy, variants side by side
"""
from __future__ import annotations

import argparse

import pandas as pd

from pipeline.atomic import atomic_path, write_json, write_text
from pipeline.errors import stage_main
from pipeline.params import load_params
from src.paths import COMPARE_METRICS_DIR, REPORT
from src.report.figures import plot_cam_curves, plot_curves, plot_per_class
from src.report.tables import comparison_table, correctness, report


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    variants, methods = params["train"]["variants"], params["gradcam"]["methods"]

    correct = correctness(variants)
    table = comparison_table(correct, methods, params["seed"])
    text = report(table, correct, methods, params["profile"])
    with atomic_path(COMPARE_METRICS_DIR, is_dir=True) as out:
        for variant, row in table.round(6).to_dict(orient="index").items():
            write_json(out / f"{variant}.json", {k: (None if pd.isna(x) else x) for k, x in row.items()})
    write_text(REPORT, text)
    with atomic_path("plots/compare", is_dir=True) as out:
        plot_curves(variants, out / "val_curves.png")
        plot_cam_curves(variants, methods, out / "cam_curves.png")
        plot_per_class(variants, out / "per_class.png")
    print(text)


if __name__ == "__main__":
    main()
