"""Stage compare: the study's verdict -- accuracy over training seeds, seed-level tests, cost, CAM quality.

Writes
- metrics/compare/<variant>.json  one row per variant -- the project's DVC metrics, so `dvc metrics
    show` prints the variants side by side: mean test accuracy over seeds with its std, min, max,
    95% intervals (over seeds; over seeds x images), cost, the CAM faithfulness scores, and the
    difference from Original with its interval and Holm-corrected seed-level p-values
- metrics/comparison.md            the report for people: per-variant and per-run tables, the paired
    tests over seeds with their verdicts, McNemar per seed, cost, the heatmap study (every run's
    layer x method table, the choice, and the variants' heatmaps compared over seeds and images)
- plots/compare/                   what `dvc plots show` draws (per-seed accuracy, validation and
    training curves as mean and min-max band over seeds, the confusion matrix pooled over seeds,
    per-class accuracy, the deletion/insertion curves of each variant's chosen heatmap on its first
    seed), each view one file with a variant column, and the same views as PNGs
"""
from __future__ import annotations

import argparse
import math

from src.core.atomic import publish_all, staging_dir, write_json, write_text
from src.core.errors import stage_main
from src.config.params import load_params
from src.paths import COMPARE_METRICS_DIR, COMPARE_PLOTS_DIR, REPORT
from src.report.figures import plot_cam_curves, plot_curves, plot_per_class, plot_seed_accuracy, write_plot_data
from src.report.tables import HeatmapStudy, Study, comparison_table, report, run_table


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    study = Study.load(params["train"]["variants"], params["train"]["seeds"])
    heatmaps = HeatmapStudy.load(study.variants, study.seeds)

    runs = run_table(study, params["seed"])
    table, tests = comparison_table(study, params["seed"], heatmaps)
    text = report(table, runs, tests, study, heatmaps, params["profile"], params["seed"])
    curves = {variant: heatmaps.curves(variant) for variant in study.variants}
    # Everything is built in the staging directory first: a failure leaves the old outputs whole.
    with staging_dir("metrics") as out:
        plots, metrics = out / "plots", out / "metrics"
        plots.mkdir()
        metrics.mkdir()
        write_plot_data(study, runs, curves, plots)
        plot_seed_accuracy(runs, plots / "test_accuracy.png")
        plot_curves(study, plots / "val_curves.png")
        plot_cam_curves(curves, plots / "cam_curves.png")
        plot_per_class(study, plots / "per_class.png")
        for variant, row in table.round(6).to_dict(orient="index").items():
            write_json(metrics / f"{variant}.json", {k: (None if _missing(x) else x) for k, x in row.items()})
        write_text(out / "comparison.md", text)
        publish_all([(plots, COMPARE_PLOTS_DIR), (metrics, COMPARE_METRICS_DIR), (out / "comparison.md", REPORT)])
    print(text)


def _missing(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


if __name__ == "__main__":
    main()
