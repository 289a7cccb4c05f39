"""The compare stage's numbers: one row per variant, paired tests, heatmap faithfulness, and the report text.

Every accuracy carries its 95% bootstrap interval; differences between variants are
tested with McNemar's test on the same test images.
"""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import DataError
from src.explain.results import load_predictions
from src.explain.significance import beats, bootstrap_accuracy_ci, describe_p, mcnemar
from src.models.variants import BASELINE, title
from src.paths import CAM_METRICS_DIR, TEST_METRICS_DIR, TRAIN_METRICS_DIR

CAM_KEYS = ("deletion_auc", "insertion_auc", "average_drop", "increase_in_confidence")
ALPHA = 0.05


def read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ({exc}); run `dvc repro` for the stage that writes it") from None


def correctness(variants: list[str]) -> dict[str, np.ndarray]:
    """Per test image, whether each variant's top class is right."""
    result = {}
    for variant in variants:
        probs, labels = load_predictions(variant)
        result[variant] = probs.argmax(axis=1) == labels
    return result


def comparison_table(correct: dict[str, np.ndarray], methods: list[str], seed: int) -> pd.DataFrame:
    """One row per variant; deltas and p-values are against Original when it was trained."""
    rows, variants = [], list(correct)
    for variant in variants:
        train = read_json(TRAIN_METRICS_DIR / f"{variant}.json")
        test = read_json(TEST_METRICS_DIR / f"{variant}.json")
        cam = read_json(CAM_METRICS_DIR / f"{variant}.json")
        low, high = bootstrap_accuracy_ci(correct[variant], seed=seed)
        row = {
            "variant": variant, "test_accuracy": test["accuracy"], "test_accuracy_ci_low": low,
            "test_accuracy_ci_high": high, "test_loss": test["loss"],
            "best_val_accuracy": train["best_val_accuracy"], "params": train["params"],
            "mflops_per_image": train["mflops_per_image"], "epochs": train["epochs"],
            "train_minutes": train["train_minutes"], "train_img_per_s": train["train_img_per_s"],
            "inference_img_per_s": test["inference_img_per_s"],
        }
        for method in methods:
            prefix = method.replace("++", "pp")
            row.update({f"{prefix}_{k}": cam[method][k] for k in CAM_KEYS})
            row[f"{prefix}_img_per_s"] = cam[method]["img_per_s"]
        rows.append(row)
    table = pd.DataFrame(rows).set_index("variant")
    if BASELINE in table.index:
        base = table.loc[BASELINE]
        table["accuracy_vs_original"] = table["test_accuracy"] - base["test_accuracy"]
        table["mcnemar_p_vs_original"] = [mcnemar(correct[BASELINE], correct[v])["p_value"] for v in table.index]
        table["params_vs_original"] = table["params"] / base["params"]
        table["train_speed_vs_original"] = table["train_img_per_s"] / base["train_img_per_s"]
    return table


def ordered_pairs(variants: list[str]) -> list[tuple[str, str]]:
    """(minuend, subtrahend) of every pair: a variant minus Original, otherwise the later minus the earlier."""
    pairs = []
    for first, second in itertools.combinations(variants, 2):
        if first == BASELINE or (second != BASELINE and variants.index(first) < variants.index(second)):
            first, second = second, first
        pairs.append((first, second))
    return pairs


def pairwise_tests(correct: dict[str, np.ndarray]) -> pd.DataFrame:
    """McNemar's test per pair; every difference is named by its direction ("CBAM − Original": first − second)."""
    rows = []
    for a, b in ordered_pairs(list(correct)):
        result = mcnemar(correct[b], correct[a])
        rows.append({"difference": f"{title(a)} − {title(b)}",
                     "accuracy points": f"{100 * (correct[a].mean() - correct[b].mean()):+.2f}",
                     "images only the first gets right": result["only_b"],
                     "only the second": result["only_a"],
                     "test": result["method"], "p-value": f"{result['p_value']:.4g}",
                     f"at {ALPHA}": describe_p(result["p_value"], ALPHA)})
    return pd.DataFrame(rows)


CAM_COLUMNS = {"deletion_auc": ("deletion AUC ↓", "{:.3f}"), "insertion_auc": ("insertion AUC ↑", "{:.3f}"),
               "average_drop": ("Average Drop % ↓", "{:.1f}"),
               "increase_in_confidence": ("Increase in Conf. % ↑", "{:.1f}")}


def cam_table(variants: list[str], methods: list[str]) -> pd.DataFrame:
    """Each heatmap's scores, then each baseline's with the paired difference heatmap − baseline and its 95% CI."""
    rows = []
    for variant in variants:
        cam = read_json(CAM_METRICS_DIR / f"{variant}.json")
        for method in methods:
            scores = cam[method]
            rows.append({"variant": title(variant), "heatmap": method,
                         **{label: fmt.format(scores[key]) for key, (label, fmt) in CAM_COLUMNS.items()}})
            for name, base in scores["baselines"].items():
                comparison = scores[f"vs_{name}"]
                rows.append({"variant": title(variant), "heatmap": f"{name} (Δ {method} − {name} [95% CI])", **{
                    label: f"{fmt.format(base[key])} (Δ {fmt.format(comparison[key]['difference'])} "
                           f"[{fmt.format(comparison[key]['ci_low'])}, {fmt.format(comparison[key]['ci_high'])}])"
                    for key, (label, fmt) in CAM_COLUMNS.items()}})
    return pd.DataFrame(rows)


def cam_verdicts(variants: list[str], methods: list[str]) -> list[str]:
    """Per heatmap and baseline, the metrics on which the heatmap beats the baseline by its 95% CI."""
    lines = []
    for variant in variants:
        cam = read_json(CAM_METRICS_DIR / f"{variant}.json")
        for method in methods:
            for name in cam[method]["baselines"]:
                wins = {key: beats(cam[method][f"vs_{name}"][key], key) for key in CAM_COLUMNS}
                won = [CAM_COLUMNS[key][0] for key, won_it in wins.items() if won_it]
                lost = [CAM_COLUMNS[key][0] for key, won_it in wins.items() if not won_it]
                lines.append(f"- {title(variant)} {method} vs {name}: "
                             + (f"beats it on {', '.join(won)}" if won else "beats it on no metric")
                             + (f"; no evidence on {', '.join(lost)}" if lost else "") + ".")
    return lines


def report(table: pd.DataFrame, correct: dict[str, np.ndarray], methods: list[str], profile: str) -> str:
    variants = list(correct)
    t = table.rename(index=lambda v: title(v))
    accuracy = pd.DataFrame({
        "test accuracy": t["test_accuracy"].map("{:.4f}".format),
        "95% CI": [f"[{lo:.4f}, {hi:.4f}]" for lo, hi in zip(t["test_accuracy_ci_low"], t["test_accuracy_ci_high"])],
        "test loss": t["test_loss"].map("{:.4f}".format),
        "params": t["params"].map("{:,}".format),
        "MFLOPs/img": t["mflops_per_image"].map("{:.1f}".format),
        "train min": t["train_minutes"].map("{:.1f}".format),
        "train img/s": t["train_img_per_s"].map("{:.0f}".format),
        "infer img/s": t["inference_img_per_s"].map("{:.0f}".format),
    })
    lines = [f"# Variant comparison (profile `{profile}`)", "",
             "Accuracy on the held-out CIFAR-10 test set (never used for a training decision); 95% percentile",
             "bootstrap intervals; speeds measured on the machine that ran the pipeline.", "",
             accuracy.to_markdown(disable_numparse=True), ""]
    if "accuracy_vs_original" in t:
        cost = pd.DataFrame({
            "accuracy vs Original": t["accuracy_vs_original"].map("{:+.4f}".format),
            "McNemar p": t["mcnemar_p_vs_original"].map("{:.4g}".format),
            "params vs Original": t["params_vs_original"].map("{:.3f}x".format),
            "train speed vs Original": t["train_speed_vs_original"].map("{:.2f}x".format),
        })
        lines += ["## Attention vs Original", "", cost.to_markdown(disable_numparse=True), ""]
    pairs = pairwise_tests(correct)
    lines += ["## Do the variants differ?", "",
              "**One training run per variant: no seed-level evidence either way.** McNemar's test below",
              "compares these particular trained models on the same test images (exact binomial when fewer",
              "than 25 images are discordant). It measures test-set sampling noise only, not how much another",
              "training seed would move each model, so a small p-value here is no evidence that the variant",
              "is better; that needs several training seeds per variant and a test over seeds.", "",
              pairs.to_markdown(index=False, disable_numparse=True), ""]
    for _, row in pairs.iterrows():
        lines.append(f"- {row['difference']} = {row['accuracy points']} pt on the test set "
                     f"(McNemar p = {row['p-value']} for these two models).")
    cams = cam_table(variants, methods)
    lines += ["", "## Heatmap faithfulness", "",
              "Target: each image's predicted class. Deletion/insertion AUC of the target probability as pixels",
              "are removed/inserted most-important-first; Average Drop and Increase in Confidence on the",
              "image multiplied by its map. Baselines, on the same images: `random` = random heatmaps drawn at",
              "the CAM's own resolution and upsampled like a CAM; `edge` = the image's Sobel edge magnitude.",
              "For Average Drop and Increase in Confidence each baseline is rescaled to the CAM's mean (its",
              "mass), since those two multiply the image by the map. Δ = CAM − baseline, averaged over the",
              "images, with a 95% percentile bootstrap interval over images; a CAM beats a baseline on a",
              "metric only when that interval excludes zero on the better side.", "",
              cams.to_markdown(index=False, disable_numparse=True), ""]
    lines += cam_verdicts(variants, methods)
    return "\n".join(lines) + "\n"
