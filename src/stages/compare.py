"""Stage compare: the study's verdict -- accuracy over training seeds, seed-level tests, cost, CAM quality.

Each regime of ``study.regimes`` is compared on its own; with several regimes the report then tests
whether the differences from Original change between them (src/stats/regimes.py). Writes
- metrics/headline/<regime>-<variant>.json  the project's DVC metrics, one row each in `dvc metrics show`
    (within 120 columns): mean test accuracy over seeds with its 95% interval, the difference from
    Original in points with its interval and Holm-adjusted p, training minutes
- metrics/compare/<regime>/<variant>.json  everything else about the variant: mean test accuracy
    over seeds with its std, min, max, 95% intervals (over seeds; over seeds x images), cost, the
    CAM faithfulness scores, and the difference from Original with its interval and Holm-corrected
    seed-level p-values
- metrics/comparison.md            the report for people: per-variant and per-run tables, the paired
    tests over seeds with their verdicts, McNemar per seed, cost, the heatmap study (every run's
    layer x method table, the choice, and the variants' heatmaps compared over seeds and images)
- plots/compare/                   what `dvc plots show` draws (per-seed accuracy, validation and
    training curves as mean and min-max band over seeds, the confusion matrix pooled over seeds,
    per-class accuracy, the deletion/insertion curves of each variant's chosen heatmap on its first
    seed), each view one file with a variant column for every regime, and the same views as PNGs per
    regime (plots/compare/figures/<regime>/)
"""
from __future__ import annotations

import argparse
import math

from src.core.atomic import publish_all, staging_dir, write_json, write_text
from src.core.errors import stage_main
from src.config.params import load_params, regime_params
from src.paths import COMPARE_METRICS_DIR, COMPARE_PLOTS_DIR, HEADLINE_DIR, REPORT
from src.report.figures import plot_cam_curves, plot_curves, plot_per_class, plot_seed_accuracy, write_plot_data
from src.report.tables import HeatmapStudy, Study, comparison_table, headline, report, run_table, study_report


@stage_main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    regimes, several = list(params["study"]["regimes"]), len(params["study"]["regimes"]) > 1
    studies, blocks, tables, runs, curves = {}, {}, {}, {}, {}
    for regime in regimes:
        study = Study.load(regime, params["study"]["variants"], params["study"]["seeds"][regime])
        heatmaps = HeatmapStudy.load(regime, study.variants, study.seeds)
        runs[regime] = run_table(study, params["seed"])
        tables[regime], tests = comparison_table(study, params["seed"], heatmaps)
        blocks[regime] = report(tables[regime], runs[regime], tests, study, heatmaps, params["profile"], params["seed"])
        curves[regime] = {variant: heatmaps.curves(variant) for variant in study.variants}
        studies[regime] = study
    epochs = {regime: regime_params(params, regime)["epochs"] for regime in regimes}
    text = study_report(blocks, studies, params["profile"], epochs)
    # Everything is built in the staging directory first: a failure leaves the old outputs whole.
    with staging_dir("metrics") as out:
        plots, metrics, headlines = out / "plots", out / "metrics", out / "headline"
        for folder in (plots, metrics, headlines):
            folder.mkdir()
        # One file per view for all regimes (a regime's series are labelled with it when there are several).
        write_plot_data(studies, runs, curves, plots, label_regimes=several)
        for regime, study in studies.items():
            figures = plots / "figures" / regime
            figures.mkdir(parents=True)
            plot_seed_accuracy(runs[regime], figures / "test_accuracy.png")
            plot_curves(study, figures / "val_curves.png")
            plot_cam_curves(curves[regime], figures / "cam_curves.png")
            plot_per_class(study, figures / "per_class.png")
            (metrics / regime).mkdir()
            for variant, row in tables[regime].round(6).to_dict(orient="index").items():
                write_json(metrics / regime / f"{variant}.json",
                           {k: (None if _missing(x) else x) for k, x in row.items()})
            for variant, row in headline(tables[regime]).items():
                write_json(headlines / f"{regime}-{variant}.json", row)
        write_text(out / "comparison.md", text)
        publish_all([(plots, COMPARE_PLOTS_DIR), (metrics, COMPARE_METRICS_DIR), (headlines, HEADLINE_DIR),
                     (out / "comparison.md", REPORT)])
    print(text)


def _missing(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


if __name__ == "__main__":
    main()
