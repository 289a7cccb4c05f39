"""The compare stage's numbers: the study's runs, one row per variant, seed-level tests, heatmap faithfulness, the report.

The unit of evidence is the training run (a variant and a training seed). Per variant
the test accuracy is summarised over its seeds; differences between variants are
tested over seeds (src/report/seeds.py, on src/stats). McNemar's test on each seed's pair of
models is kept as secondary evidence: it measures test-set noise only. Where a statistic is
undefined on the data (one seed, no spread, identical predictions) the report prints why.
"""
from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from src.explain.cam_results import load_variant_runs
from src.explain.faithfulness import BASELINES, compared_metrics
from src.explain.results import load_predictions
from src.explain.significance import beats, better_side
from src.models.variants import BASELINE, ordered_pairs, title
from src.paths import Run
from src.report.inputs import read_curve, read_test_metrics, read_train_metrics
from src.report.seeds import seed_level_tests
from src.stats.difference_intervals import over_seeds_and_images
from src.stats.equivalence import EQUIVALENCE_MARGIN
from src.stats.images import CHI_SQUARE, EXACT, EXACT_BELOW, NO_IMAGE_SPREAD, bootstrap_accuracy_ci, \
    constant_reason, mcnemar, two_level_bootstrap
from src.stats.seeds import ALPHA, POWER, no_spread_reason, variant_summary
from src.stats.regimes import regime_interactions, significant
from src.stats.sign_flip_reach import sign_flip_reach


def whole_run_timing(train: dict, epoch_seconds: np.ndarray) -> dict[str, float]:
    """A run's training minutes and img/s over all its epochs, from its per-epoch training seconds.

    The training metrics time only the epochs a process ran: for a run resumed after a kill,
    the epochs since the resume. The run's curve (dvclive continues it on resume) has every
    epoch. Minutes: the epochs' training seconds summed (validation excluded, so the same
    measure whether or not the run was resumed). img/s: the training stage's own definition,
    images per epoch over the median epoch after the first (which traces the graph), here
    over the whole curve; the images per epoch come from the metrics and the epochs they timed.
    """
    resumed = int(train.get("resumed_from_epoch") or 0)
    timed = epoch_seconds[resumed:]
    images_per_epoch = train["train_img_per_s"] * float(np.median(timed[1:] if len(timed) > 1 else timed))
    steady = epoch_seconds[1:] if len(epoch_seconds) > 1 else epoch_seconds
    return {"train_minutes": float(epoch_seconds.sum()) / 60,
            "train_img_per_s": images_per_epoch / float(np.median(steady))}


@dataclass
class Study:
    """Everything compare reads about the runs: per run its metrics, its whole-run timing and per-image correctness."""

    regime: str
    variants: list[str]
    seeds: list[int]
    train: dict[Run, dict]
    test: dict[Run, dict]
    correct: dict[Run, np.ndarray]
    timing: dict[Run, dict[str, float]]

    @classmethod
    def load(cls, regime: str, variants: list[str], seeds: list[int]) -> "Study":
        runs = [Run(v, s, regime) for v in variants for s in seeds]
        correct, labels = {}, None
        for run in runs:
            # Every run is paired with every other on the same test images.
            probs, labels = load_predictions(run, labels)
            correct[run] = probs.argmax(axis=1) == labels
        train = {r: read_train_metrics(r) for r in runs}
        timing = {r: whole_run_timing(train[r], read_curve(r, "time", "train_seconds")["train_seconds"].to_numpy())
                  for r in runs}
        return cls(regime, variants, seeds, train, {r: read_test_metrics(r) for r in runs}, correct, timing)

    def run(self, variant: str, seed: int) -> Run:
        return Run(variant, seed, self.regime)

    def runs(self, variant: str) -> list[Run]:
        return [self.run(variant, s) for s in self.seeds]

    def accuracy(self, variant: str) -> dict[int, float]:
        return {r.seed: self.test[r]["accuracy"] for r in self.runs(variant)}

    def mean(self, variant: str, source: str, key: str) -> float:
        """The mean over the variant's runs of one number; source is "train", "test" or "timing"."""
        metrics = {"train": self.train, "test": self.test, "timing": self.timing}[source]
        values = [metrics[r][key] for r in self.runs(variant) if metrics[r].get(key) is not None]
        return float(np.mean(values)) if values else math.nan


def run_table(study: Study, seed: int) -> pd.DataFrame:
    """One row per run: test accuracy with its 95% bootstrap interval over the test images, cost."""
    rows = []
    for variant in study.variants:
        for run in study.runs(variant):
            low, high = bootstrap_accuracy_ci(study.correct[run], seed=seed)
            train = study.train[run]
            rows.append({"variant": variant, "seed": run.seed, "test_accuracy": study.test[run]["accuracy"],
                         "ci_low": low, "ci_high": high, "ci_why": constant_reason(study.correct[run]),
                         "test_loss": study.test[run]["loss"],
                         "best_val_accuracy": train["best_val_accuracy"], "epochs": train["epochs"],
                         **study.timing[run], "resumed_from_epoch": train.get("resumed_from_epoch") or 0,
                         "precision": train["precision"], "cpu": train.get("environment", {}).get("cpu", "unknown")})
    return pd.DataFrame(rows)


def setups_per_seed(runs: pd.DataFrame) -> dict[int, list[tuple[str, str]]]:
    """Per seed, the distinct (CPU type, precision) pairs its runs trained on, sorted."""
    return {int(seed): sorted(set(zip(group["cpu"], group["precision"]))) for seed, group in runs.groupby("seed")}


def mixed_seeds(runs: pd.DataFrame) -> dict[int, str]:
    """The seeds whose variants did not all train on one CPU type in one precision, each with what differed.

    Variants are compared seed by seed, so a seed whose runs differ in machine or precision
    mixes that difference into its paired accuracy difference and speed ratio.
    """
    return {seed: "; ".join(f"{cpu}, {precision}" for cpu, precision in setups)
            for seed, setups in setups_per_seed(runs).items() if len(setups) > 1}


def speed_ratios(study: Study, variant: str) -> dict[int, float]:
    """Per seed, the variant's training speed over Original's on the same seed.

    Runs of one seed are meant to share a machine, so the per-seed ratio cancels the machine.
    """
    return {s: study.timing[study.run(variant, s)]["train_img_per_s"] / study.timing[study.run(BASELINE, s)]["train_img_per_s"]
            for s in study.seeds}


def comparison_table(study: Study, seed: int, heatmaps: HeatmapStudy | None = None) -> tuple[pd.DataFrame, list[dict]]:
    """One row per variant (the DVC metrics, with its heatmap's means over seeds) and every pair's seed-level test."""
    tests = seed_level_tests({v: study.accuracy(v) for v in study.variants}, BASELINE)
    rows = []
    for variant in study.variants:
        summary = variant_summary(np.array(list(study.accuracy(variant).values())))
        boot_low, boot_high = two_level_bootstrap({r.seed: study.correct[r] for r in study.runs(variant)}, seed=seed)
        first = study.train[study.runs(variant)[0]]
        row = {
            "variant": variant, "seeds": summary["seeds"], "test_accuracy": summary["mean"],
            "test_accuracy_std": summary["std"], "test_accuracy_min": summary["min"],
            "test_accuracy_max": summary["max"], "test_accuracy_ci_low": summary["ci_low"],
            "test_accuracy_ci_high": summary["ci_high"], "test_accuracy_ci_images_low": boot_low,
            "test_accuracy_ci_images_high": boot_high, "test_loss": study.mean(variant, "test", "loss"),
            "best_val_accuracy": study.mean(variant, "train", "best_val_accuracy"), "params": first["params"],
            "mflops_per_image": first["mflops_per_image"], "epochs": first["epochs"],
            "train_minutes": study.mean(variant, "timing", "train_minutes"),
            "train_img_per_s": study.mean(variant, "timing", "train_img_per_s"),
            "inference_img_per_s": study.mean(variant, "test", "inference_img_per_s"),
        }
        if heatmaps is not None:
            key = heatmaps.keys[variant]
            row["cam_map"] = key
            row["cam_resolution"] = heatmaps.summaries[variant][0]["maps"][key]["resolution"][0]
            names = [metric.name for metric in compared_metrics()]
            row.update({f"cam_{k}": heatmaps.mean(variant, k) for k in (*names, "img_per_s")})
        rows.append(row)
    table = pd.DataFrame(rows).set_index("variant")
    if BASELINE in table.index:
        base = table.loc[BASELINE]
        against = {t["first"]: t for t in tests if t["second"] == BASELINE}
        for variant in table.index:
            test = against.get(variant)
            for key, column in (("difference", "accuracy_vs_original"), ("ci_low", "accuracy_vs_original_ci_low"),
                                ("ci_high", "accuracy_vs_original_ci_high"), ("t_test_p_holm", "t_test_p_holm_vs_original"),
                                ("permutation_p_holm", "permutation_p_holm_vs_original"),
                                ("minimum_detectable_difference", "detectable_difference_vs_original")):
                # An undefined p-value is nan in the table (null in the metrics), like a missing pair.
                table.loc[variant, column] = math.nan if test is None or test[key] is None else test[key]
        table["params_vs_original"] = table["params"] / base["params"]
        ratios = {v: list(speed_ratios(study, v).values()) for v in table.index}
        # Geometric mean: an arithmetic mean of ratios over seeds would weight the fastest machine most.
        table["train_speed_vs_original"] = [float(stats.gmean(ratios[v])) for v in table.index]
        table["train_speed_vs_original_min"] = [min(ratios[v]) for v in table.index]
        table["train_speed_vs_original_max"] = [max(ratios[v]) for v in table.index]
    for test in tests:
        first = {r.seed: study.correct[r] for r in study.runs(test["first"])}
        second = {r.seed: study.correct[r] for r in study.runs(test["second"])}
        test["new_images"] = over_seeds_and_images(first, second)
    return table, tests


# The headline's fields: (name, column of the comparison table, scale, decimals); d_* is the difference from
# Original in points. Short names keep `dvc metrics show` within 120 columns (DVC sorts them by name); the
# comparison table's files hold everything else.
HEADLINE = (
    ("seeds", "seeds", 1, 0),
    ("acc", "test_accuracy", 1, 4),
    ("acc_lo", "test_accuracy_ci_low", 1, 4),
    ("acc_hi", "test_accuracy_ci_high", 1, 4),
    ("d_pt", "accuracy_vs_original", 100, 2),
    ("d_lo", "accuracy_vs_original_ci_low", 100, 2),
    ("d_hi", "accuracy_vs_original_ci_high", 100, 2),
    ("p_holm", "t_test_p_holm_vs_original", 1, 3),
    ("train_min", "train_minutes", 1, 1),
)


def headline(table: pd.DataFrame) -> dict[str, dict[str, float | int | None]]:
    """Per variant, what `dvc metrics show` prints: the mean test accuracy over seeds with its 95% t interval, the
    difference from Original in points with its interval over seed pairs and Holm-adjusted paired-t p, and the
    mean training minutes (None where a figure is undefined, e.g. Original's difference from itself)."""
    rows = {}
    for variant, row in table.iterrows():
        values = {}
        for name, column, scale, decimals in HEADLINE:
            value = row.get(column, math.nan)
            missing = value is None or (isinstance(value, float) and math.isnan(value)) or \
                (variant == BASELINE and column.endswith(("vs_original", "vs_original_ci_low", "vs_original_ci_high")))
            values[name] = None if missing else (int(value) if decimals == 0 else round(float(value) * scale, decimals))
        rows[variant] = values
    return rows


def mcnemar_by_seed(study: Study, tests: list[dict]) -> tuple[pd.DataFrame, list[str]]:
    """Secondary evidence: McNemar's p-value of every pair on each seed's two models, and the method of each."""
    rows, methods = [], []
    for test in tests:
        row = {"difference": f"{title(test['first'])} − {title(test['second'])}"}
        for s in study.seeds:
            a, b = study.correct[study.run(test["first"], s)], study.correct[study.run(test["second"], s)]
            p = mcnemar(b, a)["p"]
            methods.append(p.method if p.value is not None else "none")
            shown = f"p = {p.text()}" if p.value is not None else f"no test: {p.text()}"
            row[f"seed {s}"] = f"{100 * (a.mean() - b.mean()):+.2f} pt, {shown}"
        rows.append(row)
    return pd.DataFrame(rows), methods


def mcnemar_label(methods: list[str]) -> str:
    """What the McNemar table computed: which test on how many pairs of models (the rule alone can mislead)."""
    kinds = {EXACT: f"the exact binomial test on {{}} (fewer than {EXACT_BELOW} discordant images)",
             CHI_SQUARE: f"the chi-square test with continuity correction on {{}} ({EXACT_BELOW} or more discordant "
                         "images)",
             "none": "no test on {} (no discordant image)"}
    parts = [kinds[kind].format(f"{methods.count(kind)} of {len(methods)} pairs of models")
             for kind in (CHI_SQUARE, EXACT, "none") if kind in methods]
    return "Computed: " + "; ".join(parts) + "."


@dataclass
class HeatmapStudy:
    """The heatmap stages' results: each variant's study (its layer x method table and chosen map) and every
    run's scores of that map (summaries and per-image scores)."""

    studies: dict[str, dict]
    summaries: dict[str, list[dict]]
    arrays: dict[str, list[dict]]

    @property
    def keys(self) -> dict[str, str]:
        """Each variant's map, as its study chose it."""
        return {variant: study["chosen"] for variant, study in self.studies.items()}

    @classmethod
    def load(cls, regime: str, variants: list[str], seeds: list[int]) -> "HeatmapStudy":
        studies, summaries, arrays = {}, {}, {}
        for variant in variants:
            studies[variant], summaries[variant], arrays[variant] = load_variant_runs(regime, variant, seeds)
        return cls(studies, summaries, arrays)

    def mean(self, variant: str, metric: str) -> float:
        key = self.keys[variant]
        return float(np.mean([s["maps"][key][metric] for s in self.summaries[variant]]))

    def curves(self, variant: str) -> pd.DataFrame:
        """The variant's map's mean deletion/insertion curves (and its baselines') on the model of its first
        listed training seed."""
        curves = self.arrays[variant][0][self.keys[variant]]["curve"]
        steps = len(curves["deletion"]) - 1
        return pd.DataFrame({"fraction": np.linspace(0, 1, steps + 1), **{k: v.round(6) for k, v in curves.items()}})


def _with_ci(value: float, versus: dict, fmt: str) -> str:
    return (f"{fmt.format(value)} (Δ {fmt.format(versus['difference'])} "
            f"[{fmt.format(versus['ci_low'])}, {fmt.format(versus['ci_high'])}])")


def cam_table(summary: dict) -> pd.DataFrame:
    """Every (layer, method) of one variant's study: each metric with Δ vs the random baseline and its 95% CI."""
    metrics = compared_metrics()
    rows = []
    for key, m in summary["maps"].items():
        sanity = m["sanity"]
        edge_wins = sum(beats(m["vs_edge"][metric.name], metric.name) for metric in metrics)
        rows.append({
            "map": f"**{key}** (chosen)" if key == summary["chosen"] else key,
            "native": f"{m['resolution'][0]}×{m['resolution'][1]}",
            **{metric.label: _with_ci(m[metric.name], m["vs_random"][metric.name], metric.number_format)
               for metric in metrics},
            "beats random / edge": f"{m['wins_vs_random']}/{len(metrics)}, {edge_wins}/{len(metrics)}",
            "Spearman, top block randomised": f"{sanity['top_block']:.2f}" + (" ⚑" if sanity["flagged"] else ""),
            "img/s": f"{m['img_per_s']:.0f}",
        })
    return pd.DataFrame(rows)


def cam_verdicts(heatmaps: HeatmapStudy) -> list[str]:
    """Per variant: its map, and per run the metrics on which it beats each baseline by its 95% CI."""
    metrics = compared_metrics()
    lines = []
    for variant, summaries in heatmaps.summaries.items():
        key, study = heatmaps.keys[variant], heatmaps.studies[variant]
        resolution = study["maps"][key]["resolution"]
        lines.append(f"- **{title(variant)}**: the rule chose **{key}** ({resolution[0]}×{resolution[1]}) on "
                     f"{study['images']} validation images of training seed {study['training_seed']}; on the "
                     f"{summaries[0]['images']} test images of each run:")
        for name in BASELINES:
            per_run = []
            for summary in summaries:
                scores = summary["maps"][key]
                won = [metric.label for metric in metrics if beats(scores[f"vs_{name}"][metric.name], metric.name)]
                per_run.append(f"seed {summary['training_seed']}: {len(won)}/{len(metrics)}"
                               + (f" ({', '.join(won)})" if 0 < len(won) < len(metrics) else ""))
            lines.append(f"  - vs {name}: beats it on " + "; ".join(per_run) + ".")
    return lines


def between_variants(heatmaps: HeatmapStudy, seed: int) -> list[dict]:
    """Each pair's difference (first − second) of its maps' per-image scores, over seeds and images.

    Runs are paired by training seed and the images are the same for every run; the intervals
    are two-level bootstrap ones (seeds, then images), at 95% and Bonferroni-adjusted over
    every pair and metric.
    """
    pairs = ordered_pairs(list(heatmaps.keys), BASELINE)
    metrics = [metric.name for metric in compared_metrics()]
    comparisons = max(len(pairs) * len(metrics), 1)
    level = 1 - 0.05 / comparisons
    rows = []
    for a, b in pairs:
        seeds = range(min(len(heatmaps.arrays[a]), len(heatmaps.arrays[b])))
        row = {"first": a, "second": b, "seeds": len(seeds), "level": level, "comparisons": comparisons}
        for metric in metrics:
            first = {s: heatmaps.arrays[a][s][heatmaps.keys[a]]["per_image"][metric].astype(np.float64) for s in seeds}
            second = {s: heatmaps.arrays[b][s][heatmaps.keys[b]]["per_image"][metric].astype(np.float64) for s in seeds}
            low, high = two_level_bootstrap(first, second, seed=seed)
            adjusted_low, adjusted_high = two_level_bootstrap(first, second, seed=seed, level=level)
            row[metric] = {"difference": float(np.mean([first[s].mean() - second[s].mean() for s in seeds])),
                           "ci_low": low, "ci_high": high, "adjusted_low": adjusted_low,
                           "adjusted_high": adjusted_high,
                           "better": better_side({"ci_low": adjusted_low, "ci_high": adjusted_high}, metric)}
        rows.append(row)
    return rows


def between_variants_section(heatmaps: HeatmapStudy, seed: int) -> list[str]:
    if len(heatmaps.keys) < 2:
        return []
    pairs = between_variants(heatmaps, seed)
    table, verdicts = [], []
    for pair in pairs:
        a, b = title(pair["first"]), title(pair["second"])
        row = {"difference": f"{a} − {b}"}
        for metric in compared_metrics():
            d, fmt = pair[metric.name], metric.number_format
            row[metric.label] = (f"{fmt.format(d['difference'])} [{fmt.format(d['ci_low'])}, "
                                 f"{fmt.format(d['ci_high'])}] (adj. [{fmt.format(d['adjusted_low'])}, "
                                 f"{fmt.format(d['adjusted_high'])}])")
            if d["better"] != "neither":
                verdicts.append(f"{a if d['better'] == 'first' else b} on {metric.label} ({a} − {b})")
        table.append(row)
    lines = ["### Which variant's heatmap is more faithful?", "",
             "Each variant's map, on the same images (each model explaining its own prediction), runs paired by",
             f"training seed ({pairs[0]['seeds']} per pair): first − second averaged over seeds and images, with the 95%",
             "two-level bootstrap interval (seeds, then images) and the Bonferroni-adjusted one "
             f"({100 * pairs[0]['level']:.2f}%, over {pairs[0]['comparisons']} comparisons) that the verdict uses.", "",
             pd.DataFrame(table).to_markdown(index=False, disable_numparse=True), ""]
    lines.append("- Better by the adjusted interval: " + ("; ".join(verdicts) if verdicts else
                 "no evidence that any variant's heatmap is more faithful than another's on any metric") + ".")
    return lines + [""]


def _interval(low: float, high: float, scale: float = 1.0, fmt: str = "{:.4f}", why: str = "") -> str:
    """The interval, or why there is none (an undefined statistic says so rather than showing a number)."""
    if math.isnan(low):
        return f"none: {why}" if why else "n/a"
    return f"[{fmt.format(scale * low)}, {fmt.format(scale * high)}]"


def _p(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3g}"


def accuracy_section(table: pd.DataFrame, runs: pd.DataFrame, study: Study) -> list[str]:
    spread = [no_spread_reason(list(study.accuracy(v).values())) for v in table.index]
    t = table.rename(index=lambda v: title(v))
    per_variant = pd.DataFrame({
        "seeds": t["seeds"].map(str),
        "test accuracy, mean ± std": [f"{m:.4f} ± {s:.4f}" if not math.isnan(s) else f"{m:.4f}"
                                      for m, s in zip(t["test_accuracy"], t["test_accuracy_std"])],
        "min – max": [f"{lo:.4f} – {hi:.4f}" for lo, hi in zip(t["test_accuracy_min"], t["test_accuracy_max"])],
        "95% CI over seeds": [_interval(lo, hi, why=why) for lo, hi, why in
                              zip(t["test_accuracy_ci_low"], t["test_accuracy_ci_high"], spread)],
        "95% CI over seeds × images": [_interval(lo, hi, why=NO_IMAGE_SPREAD) for lo, hi in
                                       zip(t["test_accuracy_ci_images_low"], t["test_accuracy_ci_images_high"])],
        "params": t["params"].map("{:,}".format),
        "MFLOPs/img": t["mflops_per_image"].map("{:.1f}".format),
        "train min": t["train_minutes"].map("{:.1f}".format),
        "train img/s": t["train_img_per_s"].map("{:.0f}".format),
        "infer img/s": t["inference_img_per_s"].map("{:.0f}".format),
    })
    per_run = pd.DataFrame({
        "variant": runs["variant"].map(title), "seed": runs["seed"].map(str),
        "test accuracy": runs["test_accuracy"].map("{:.4f}".format),
        "95% CI over images": [_interval(lo, hi, why=why) for lo, hi, why in
                               zip(runs["ci_low"], runs["ci_high"], runs["ci_why"])],
        "best val accuracy": runs["best_val_accuracy"].map("{:.4f}".format),
        "epochs": runs["epochs"].map(str), "train min": runs["train_minutes"].map("{:.1f}".format),
        "train img/s": runs["train_img_per_s"].map("{:.0f}".format), "precision": runs["precision"],
    })
    return ["## Test accuracy over training seeds", "",
            "Each variant is trained once per training seed (initial weights, data order, augmentation); the",
            "split and the test set are the same for every run. Mean ± standard deviation over seeds; the",
            "95% CI over seeds is Student's t on the per-seed accuracies; the CI over seeds × images is a",
            "two-level bootstrap that also resamples the test images (all runs share them, so seed spread",
            "alone misses that noise).", "",
            per_variant.to_markdown(disable_numparse=True), "",
            "### Every run", "",
            "95% percentile bootstrap interval over the test images. Train min: the epochs' training seconds",
            "summed (validation excluded); train img/s: images per epoch over the median epoch after the first;",
            "both over every epoch, a resumed run's too (its curve keeps the epochs before the resume).", "",
            per_run.to_markdown(index=False, disable_numparse=True), "", *resumed_note(runs)]


def resumed_note(runs: pd.DataFrame) -> list[str]:
    """A line naming the runs that were resumed, whose epochs ran in more than one process."""
    resumed = runs[runs["resumed_from_epoch"] > 0]
    if resumed.empty:
        return []
    names = ", ".join(f"{title(r.variant)} seed {r.seed} (after epoch {r.resumed_from_epoch})"
                      for r in resumed.itertuples())
    return [f"Resumed from a checkpoint: {names}.",
            "Resuming gives the same weights as an uninterrupted run (tested), but the epochs before and after",
            "the resume may have run under different loads, so such a run's time is the least comparable.", ""]


def _points_interval(low: float | None, high: float | None, why: str) -> str:
    return f"none: {why}" if low is None else f"[{100 * low:+.2f}, {100 * high:+.2f}]"


def _detectable_cell(detectable) -> str:
    if detectable.value is None:
        return f"none: {detectable.reason}"
    return f"{100 * detectable.value:.2f} [{100 * detectable.low:.2f}, {100 * detectable.high:.2f}]"


def _equivalence_cell(equivalence) -> str:
    if equivalence.reason:
        return f"none: {equivalence.reason}"
    verdict = "equivalent" if equivalence.equivalent else "not shown"
    return f"{verdict}, Holm p = {_p(equivalence.p_holm)}"


def tests_section(tests: list[dict], study: Study) -> list[str]:
    n_seeds = len(study.seeds)
    reach = sign_flip_reach(n_seeds, max(len(tests), 1), ALPHA)
    margin = 100 * (tests[0]["equivalence"].margin if tests else EQUIVALENCE_MARGIN)
    rows = pd.DataFrame([{
        "difference": f"{title(t['first'])} − {title(t['second'])}",
        "mean over seeds (pt)": f"{100 * t['difference']:+.2f}",
        "95% CI, these images (pt)": _interval(t["ci_low"], t["ci_high"], 100, "{:+.2f}", t["spread"]),
        "95% CI, new images (pt)": _points_interval(t["new_images"].low, t["new_images"].high,
                                                    t["new_images"].reason),
        # An undefined p-value shows its reason in its place; its Holm column then has nothing to adjust.
        "paired t p": t["t_test"].text(), "Holm (t)": _p(t["t_test_p_holm"]),
        **({"sign-flip p": t["permutation"].text(), "Holm (sign-flip)": _p(t["permutation_p_holm"])}
           if reach.can_reach else {}),
        f"equivalence ±{margin:.2f} pt": _equivalence_cell(t["equivalence"]),
        "detectable at 80% power (pt) [95% CI]": _detectable_cell(t["detectable"]),
    } for t in tests])
    lines = ["## Do the variants differ?", ""]
    if n_seeds < 2:
        lines += ["**One training seed per variant: no seed-level evidence either way.** The seed-level tests",
                  "need two seeds or more (`study.seeds`). McNemar's test below measures test-set sampling",
                  "noise only, not how much another training seed would move each model.", ""]
    else:
        sign_flip = ("The exact sign-flip permutation test checks the verdict without assuming normality."
                     if reach.can_reach else reach.reason[0].upper() + reach.reason[1:] + ".")
        lines += [f"Runs are paired by training seed ({n_seeds} pairs per comparison). The verdict comes from the",
                  "paired t-test on the per-seed accuracies, Holm-corrected over the "
                  f"{len(tests)} comparisons at α = {ALPHA}.",
                  *textwrap.wrap(
                      f"{sign_flip} \"These images\" is the t interval over seeds: the difference a new training "
                      "seed would show on this test set. \"New images\" also counts the test images as a sample, "
                      "once: the per-seed differences already carry the images' disagreement noise, so only the "
                      "images' own component (from the seeds × images mean squares) is added. \"Equivalence\" is "
                      f"two one-sided tests against a margin of ±{margin:.2f} pt fixed before the data, Holm-"
                      "corrected: \"equivalent\" only where both tests reject. \"Detectable\" is the estimated "
                      f"smallest true difference the t-test would find with {POWER:.0%} power at the strictest Holm "
                      f"level (α / {len(tests)}); its interval comes from the chi-square interval of the paired "
                      "differences' spread.", PROSE_WIDTH), "",
                  rows.to_markdown(index=False, disable_numparse=True), ""]
        lines += [f"- {t['verdict']}." for t in tests]
        lines.append("")
    mcnemar_table, methods = mcnemar_by_seed(study, tests)
    lines += ["### Secondary: McNemar's test per seed", "",
              f"The two models of one seed on the same test images. {mcnemar_label(methods)}",
              "A small p-value here says those two trained models differ, not that the variants do.", "",
              mcnemar_table.to_markdown(index=False, disable_numparse=True), ""]
    return lines


def cost_section(table: pd.DataFrame) -> list[str]:
    if "params_vs_original" not in table:
        return []
    t = table.rename(index=lambda v: title(v))
    cost = pd.DataFrame({
        "params vs Original": t["params_vs_original"].map("{:.3f}x".format),
        "train speed vs Original": t["train_speed_vs_original"].map("{:.2f}x".format),
        "per seed, min – max": [f"{lo:.2f}x – {hi:.2f}x" for lo, hi in
                                zip(t["train_speed_vs_original_min"], t["train_speed_vs_original_max"])],
        "train min (mean)": t["train_minutes"].map("{:.1f}".format),
    })
    return ["## Cost", "", "Train minutes and img/s are means over the runs, on the machine(s) that trained them "
            "(\"Where the runs ran\");", "the speed ratio is the geometric mean over seeds of each seed's ratio, "
            "so that the machine cancels. Its spread over seeds shows how much",
            "the load beside each run moved it; `python -m benchmarks.throughput` measures the variants alone.", "",
            cost.to_markdown(disable_numparse=True), ""]


def machines_section(runs: pd.DataFrame) -> list[str]:
    """Per seed, the CPU type and precision its runs trained on, and which seeds mixed them."""
    per_seed = runs.groupby("seed").agg(cpu=("cpu", lambda c: ", ".join(sorted(set(c)))),
                                        precision=("precision", lambda p: ", ".join(sorted(set(p)))))
    lines = ["## Where the runs ran", "",
             "Seeds can train on different machines; each seed's variants should share one, so that their",
             "paired difference and speed ratio compare like with like.", "",
             per_seed.to_markdown(disable_numparse=True), ""]
    mixed = mixed_seeds(runs)
    if mixed:
        lines += [f"- **Seed {seed}: its variants trained on different setups ({setups}).** Its paired accuracy "
                  "difference and speed ratio include that difference." for seed, setups in mixed.items()] + [""]
    return lines


PROSE_WIDTH = 97  # the report's paragraphs that are composed from the registries are wrapped at this width


def and_join(words: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]


def metrics_prose() -> list[str]:
    """What the metrics are and how the maps meet their baselines, from the metric registry, wrapped."""
    metrics = compared_metrics()
    mass = and_join([metric.title for metric in metrics if metric.uses_mass])
    text = ("Metrics: " + "; ".join(metric.description for metric in metrics if metric.description) + ". "
            "Baselines, on the same images: `random` = random maps drawn at the map's own native resolution and "
            "upsampled the same way; `edge` = the image's Sobel edge magnitude"
            + (f"; for {mass} each is rescaled to the map's mean (its mass)" if mass else "") + ". "
            "Δ = map − random baseline with a 95% percentile bootstrap interval over images; a map beats a baseline "
            "on a metric when that interval excludes zero on the better side. Sanity check:")
    return textwrap.wrap(text, PROSE_WIDTH, break_on_hyphens=False, break_long_words=False)


def cam_section(heatmaps: HeatmapStudy, seed: int) -> list[str]:
    first = next(iter(heatmaps.studies.values()))
    runs = next(iter(heatmaps.summaries.values()))[0]
    lines = ["## Heatmaps: which one to trust", "",
             "Chosen once per variant, on validation images: every layer × method scored on the model of one "
             f"training seed and {first['images']} validation",
             "images (class-balanced, each explained for its predicted class); then every run's model scored that "
             f"map alone on the same {runs['images']} test images.",
             *metrics_prose(),
             "cascading randomisation from the classifier down to the stem on "
             f"{first['sanity_images']} of the validation images; Spearman correlation",
             "between the trained and the randomised model's maps once the top block is randomised "
             f"(⚑ = {first['sanity_threshold']} or",
             "more: the map does not depend enough on what the model learned).", "",
             f"**Choice rule.** {first['rule']}", ""]
    for variant, study in heatmaps.studies.items():
        lines += [f"### {title(variant)}: the study (training seed {study['training_seed']}, {study['images']} "
                  "validation images)", "",
                  cam_table(study).to_markdown(index=False, disable_numparse=True), ""]
    lines += cam_verdicts(heatmaps) + [""]
    return lines + between_variants_section(heatmaps, seed)


def interaction_section(studies: dict[str, Study]) -> list[str]:
    """Does a variant's difference from Original change between regimes? Each later regime against the first,
    on the per-seed differences (Welch t, src/stats/regimes.py), Holm-corrected over every pair tested."""
    names = list(studies)
    if len(names) < 2:
        return []
    first, variants = studies[names[0]], [v for v in studies[names[0]].variants if v != BASELINE]

    def differences(study: Study, variant: str) -> np.ndarray:
        accuracy, baseline = study.accuracy(variant), study.accuracy(BASELINE)
        return np.array([accuracy[s] - baseline[s] for s in study.seeds])

    pairs = {(later, v): (differences(first, v), differences(studies[later], v))
             for later in names[1:] for v in variants if BASELINE in studies[later].variants}
    if not pairs:
        return []
    tests = regime_interactions({f"{later}|{v}": pair for (later, v), pair in pairs.items()})
    rows = []
    for (later, variant), test in zip(pairs, tests.values()):
        rows.append({"difference": f"{title(variant)} − {title(BASELINE)}",
                     f"`{names[0]}`, pt (seeds)": f"{100 * test.short_mean:+.2f} ({test.short_seeds})",
                     "other regime": f"`{later}`",
                     "its difference, pt (seeds)": f"{100 * test.long_mean:+.2f} ({test.long_seeds})",
                     "change, pt [95% CI]": (f"{100 * test.interaction:+.2f} "
                                             + _points_interval(test.low, test.high, test.reason)),
                     "p (Welch)": _p(test.p.value), "p, Holm": _p(test.p_holm)})
    changed = [f"{row['difference']} in `{later}`" for row, ((later, _), test) in zip(rows, zip(pairs, tests.values()))
               if significant(test)]
    verdict = (f"The regime changes {and_join(changed)} (Holm-adjusted p < {ALPHA})." if changed else
               f"No evidence that the regime changes any variant's difference from {title(BASELINE)} "
               f"(every Holm-adjusted p ≥ {ALPHA}).")
    return ["## Do the differences change between regimes?", "",
            f"Each variant's per-seed difference from {title(BASELINE)} (same seed, test accuracy) in regime "
            f"`{names[0]}` against another regime: the change is the other regime's mean difference minus "
            f"`{names[0]}`'s, with Welch's t-test on the two regimes' per-seed differences (independent trainings, "
            "unequal spread), Holm-corrected over the comparisons of this table.", "",
            pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True), "", verdict, ""]


def study_report(blocks: dict[str, str], studies: dict[str, Study], profile: str, epochs: dict[str, int]) -> str:
    """One regime's report as it is; several regimes' under one title, each a section, then their interaction."""
    if len(blocks) == 1:
        return next(iter(blocks.values()))
    lines = [f"# Variant comparison at {len(blocks)} regimes (profile `{profile}`)", "",
             "Each regime's variants are compared among themselves on the held-out CIFAR-10 test set; the last "
             "section asks whether the differences change between regimes.", ""]
    for regime, block in blocks.items():
        body = block.split("\n", 1)[1] if block.startswith("# ") else block
        lines += [f"## Regime `{regime}`: {epochs[regime]} epochs, {len(studies[regime].seeds)} training seeds per "
                  "variant", ""]
        lines += [re.sub(r"^(#+) ", r"#\1 ", line) for line in body.strip("\n").split("\n")] + [""]
    lines += interaction_section(studies)
    return "\n".join(lines).rstrip("\n") + "\n"


def report(table: pd.DataFrame, runs: pd.DataFrame, tests: list[dict], study: Study, heatmaps: HeatmapStudy | None,
           profile: str, seed: int = 0) -> str:
    lines = [f"# Variant comparison (profile `{profile}`, regime `{study.regime}`)", "",
             "Accuracy on the held-out CIFAR-10 test set (never used for a training decision).", ""]
    lines += accuracy_section(table, runs, study)
    lines += tests_section(tests, study)
    lines += cost_section(table)
    lines += machines_section(runs)
    if heatmaps is not None:
        lines += cam_section(heatmaps, seed)
    return "\n".join(lines) + "\n"
